"""topk_pool: ours vs the plain-PyTorch composite (torch.topk + mean per class) vs the float64 twin.

    python benchmarks/bench_topk_pool.py [--quick] [--threads N] [--device cuda]

Correctness is checked first on every case; then forward and forward+backward are timed.
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness  # noqa: E402

from mcwes import ops, reference  # noqa: E402


def composite(x: torch.Tensor, k: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """What a PyTorch user writes: padded steps to -inf, torch.topk per class with its k, mean."""
    valid = torch.arange(x.shape[1], device=x.device)[None, :] < lengths[:, None]
    masked = x.masked_fill(~valid[:, :, None], float("-inf"))
    cols = [torch.topk(masked[:, :, c], int(k[c]), dim=1).values.mean(dim=1) for c in range(x.shape[2])]
    return torch.stack(cols, dim=1)


def main() -> None:
    args = _harness.parser("topk_pool", __doc__).parse_args()
    meta = _harness.setup(args)
    grid_b = [1, 10] if args.quick else [1, 10, 64]
    grid_t = [250] if args.quick else [250, 368, 1000]
    rows = []
    for B in grid_b:
        for T in grid_t:
            gen = torch.Generator().manual_seed(B * 1000 + T)
            x = torch.randn(B, T, 3, generator=gen).to(args.device)
            lengths = torch.full((B,), T, dtype=torch.int64, device=args.device)
            k = ops.topk_k(lengths[:1].cpu(), (7, 9, 5))[0].to(args.device)  # one k per class: same T
            g = torch.randn(B, 3, generator=gen).to(args.device)

            ours = ops.topk_pool(x, k, lengths)
            torch.testing.assert_close(ours, composite(x, k, lengths), rtol=1e-5, atol=1e-5)
            if B * T <= 10 * 368:
                torch.testing.assert_close(ours.double().cpu(), reference.topk_pool(x.cpu(), k.cpu(), lengths.cpu()))

            xg = x.clone().requires_grad_(True)

            def fwd_bwd(fn):
                def run():
                    (grad,) = torch.autograd.grad(fn(xg, k, lengths), xg, g)
                    return grad
                return run

            gx_ours, gx_comp = fwd_bwd(ops.topk_pool)(), fwd_bwd(composite)()
            torch.testing.assert_close(gx_ours, gx_comp, rtol=1e-5, atol=1e-6)

            for mode in ("forward", "forward+backward"):
                contenders = {
                    "mcwes": (lambda: ops.topk_pool(x, k, lengths)) if mode == "forward" else fwd_bwd(ops.topk_pool),
                    "torch_composite": (lambda: composite(x, k, lengths)) if mode == "forward" else fwd_bwd(composite),
                }
                times = {n: _harness.time_it(f, args.min_run_time, args.device) for n, f in contenders.items()}
                if mode == "forward" and B * T <= 10 * 368 and args.device == "cpu":
                    times["reference"] = _harness.time_once(lambda: reference.topk_pool(x, k, lengths), repeat=1)
                row = {"op": "topk_pool", "device": args.device, "B": B, "T": T, "C": 3, "mode": mode,
                       **{f"{n}_us": t * 1e6 for n, t in times.items()},
                       "speedup_vs_composite": times["torch_composite"] / times["mcwes"]}
                if "reference" in times:
                    row["speedup_vs_reference"] = times["reference"] / times["mcwes"]
                rows.append(row)
                _harness.emit(args.out, {**row, **meta})
    cols = ["B", "T", "mode", "mcwes_us", "torch_composite_us", "speedup_vs_composite", "reference_us", "speedup_vs_reference"]
    print(f"topk_pool on {meta['device']} ({meta['threads']} threads, torch {meta['torch']})")
    print(_harness.table(rows, cols))


if __name__ == "__main__":
    main()
