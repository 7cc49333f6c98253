"""topk_pool: ours vs the plain-PyTorch composite (torch.topk + mean per class) vs the float64 twin.

    python benchmarks/bench_topk_pool.py [--quick] [--threads N] [--device cuda]

Correctness is checked first on every case; then forward and forward+backward are timed. Each timed
call takes the next of POOL distinct inputs, as training does (every batch is new): a benchmark that
repeats one input lets the branch predictor learn the selection's comparisons, which flattered the
first kernel (nth_element) by 2-3x at B <= 36 and not above.
"""
from __future__ import annotations

import torch

from mcwes import ops, reference

from _common import describe, machine, median_seconds, parser, print_table, rotating, set_threads, time_once, write_rows


POOL = 32


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
    print(describe(args.device))
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
    xs = [torch.randn(B, T, 3, generator=gen).to(device) for _ in range(POOL)]
    lengths = torch.full((B,), T, dtype=torch.int64, device=device)
    k = ops.topk_k(lengths[:1].cpu(), (7, 9, 5))[0].to(device)  # one k per class: every video has length T
    g = torch.randn(B, 3, generator=gen).to(device)
    small = B * T <= 10 * 368

    for x in xs[:4]:
        torch.testing.assert_close(ops.topk_pool(x, k, lengths), composite(x, k, lengths), rtol=1e-5, atol=1e-5)
    x = xs[0]
    if small:
        torch.testing.assert_close(ops.topk_pool(x, k, lengths).double().cpu(),
                                   reference.topk_pool(x.cpu(), k.cpu(), lengths.cpu()))
    xgs = [x.clone().requires_grad_(True) for x in xs]

    def fwd_bwd(pool_fn):  # type: ignore[no-untyped-def]
        def one(i: int) -> torch.Tensor:
            (grad,) = torch.autograd.grad(pool_fn(xgs[i], k, lengths), xgs[i], g)
            return grad
        return one

    for i in range(2):
        torch.testing.assert_close(fwd_bwd(ops.topk_pool)(i), fwd_bwd(composite)(i), rtol=1e-5, atol=1e-6)
    rows = []
    for mode in ("forward", "forward+backward"):
        if mode == "forward":
            contenders = {"mcwes": rotating(lambda i: ops.topk_pool(xs[i], k, lengths), POOL),
                          "torch_composite": rotating(lambda i: composite(xs[i], k, lengths), POOL)}
        else:
            contenders = {"mcwes": rotating(fwd_bwd(ops.topk_pool), POOL),
                           "torch_composite": rotating(fwd_bwd(composite), POOL)}
        times = {n: median_seconds(f, min_run_time, device) for n, f in contenders.items()}
        if mode == "forward" and small and device == "cpu":
            times["reference"] = time_once(lambda: reference.topk_pool(x, k, lengths), repeat=1)
        row = {"op": "topk_pool", "device": device, "B": B, "T": T, "C": 3, "mode": mode, "distinct_inputs": POOL,
               **{f"{n}_us": t * 1e6 for n, t in times.items()},
               "speedup_vs_composite": times["torch_composite"] / times["mcwes"]}
        if "reference" in times:
            row["speedup_vs_reference"] = times["reference"] / times["mcwes"]
        rows.append(row)
    return rows


if __name__ == "__main__":
    main()
