"""topk_pool: ours vs the plain-PyTorch composite (torch.topk + mean per class) vs the float64 twin.

    python benchmarks/bench_topk_pool.py [--quick] [--threads N] [--device cuda]

Correctness is checked first on every case; then forward and forward+backward are timed.
"""
from __future__ import annotations

import torch

from mcwes import ops, reference

from _common import machine, median_seconds, parser, print_table, set_threads, time_once, write_rows


def composite(x: torch.Tensor, k: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """What a PyTorch user writes: padded steps to -inf, torch.topk per class with its k, mean."""
    valid = torch.arange(x.shape[1], device=x.device)[None, :] < lengths[:, None]
    masked = x.masked_fill(~valid[:, :, None], float("-inf"))
    cols = [torch.topk(masked[:, :, c], int(k[c]), dim=1).values.mean(dim=1) for c in range(x.shape[2])]
    return torch.stack(cols, dim=1)


def main() -> None:
    p = parser("topk_pool", threads=None)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--min-run-time", type=float, default=0.4, help="seconds of timing per contender and case")
    args = p.parse_args()
    set_threads(args.threads)
    meta = machine(args.device)
    rows = []
    for B in [1, 10] if args.quick else [1, 10, 64]:
        for T in [250] if args.quick else [250, 368, 1000]:
            rows += bench_case(B, T, args.device, args.min_run_time)
    write_rows(args.out, [{**r, **meta} for r in rows])
    print(f"topk_pool on {meta['device']} ({meta['threads']} threads, torch {meta['torch']})")
    print_table(rows, ["B", "T", "mode", "mcwes_us", "torch_composite_us", "speedup_vs_composite", "reference_us",
                       "speedup_vs_reference"])


def bench_case(B: int, T: int, device: str, min_run_time: float) -> list[dict]:
    gen = torch.Generator().manual_seed(B * 1000 + T)
    x = torch.randn(B, T, 3, generator=gen).to(device)
    lengths = torch.full((B,), T, dtype=torch.int64, device=device)
    k = ops.topk_k(lengths[:1].cpu(), (7, 9, 5))[0].to(device)  # one k per class: every video has length T
    g = torch.randn(B, 3, generator=gen).to(device)
    small = B * T <= 10 * 368

    torch.testing.assert_close(ops.topk_pool(x, k, lengths), composite(x, k, lengths), rtol=1e-5, atol=1e-5)
    if small:
        torch.testing.assert_close(ops.topk_pool(x, k, lengths).double().cpu(),
                                   reference.topk_pool(x.cpu(), k.cpu(), lengths.cpu()))
    xg = x.clone().requires_grad_(True)

    def fwd_bwd(fn):  # type: ignore[no-untyped-def]
        def run() -> torch.Tensor:
            (grad,) = torch.autograd.grad(fn(xg, k, lengths), xg, g)
            return grad
        return run

    torch.testing.assert_close(fwd_bwd(ops.topk_pool)(), fwd_bwd(composite)(), rtol=1e-5, atol=1e-6)
    rows = []
    for mode in ("forward", "forward+backward"):
        if mode == "forward":
            contenders = {"mcwes": lambda: ops.topk_pool(x, k, lengths), "torch_composite": lambda: composite(x, k, lengths)}
        else:
            contenders = {"mcwes": fwd_bwd(ops.topk_pool), "torch_composite": fwd_bwd(composite)}
        times = {n: median_seconds(f, min_run_time, device) for n, f in contenders.items()}
        if mode == "forward" and small and device == "cpu":
            times["reference"] = time_once(lambda: reference.topk_pool(x, k, lengths), repeat=1)
        row = {"op": "topk_pool", "device": device, "B": B, "T": T, "C": 3, "mode": mode,
               **{f"{n}_us": t * 1e6 for n, t in times.items()},
               "speedup_vs_composite": times["torch_composite"] / times["mcwes"]}
        if "reference" in times:
            row["speedup_vs_reference"] = times["reference"] / times["mcwes"]
        rows.append(row)
    return rows


if __name__ == "__main__":
    main()
