"""Benchmark mcwes.ops.outer_inner_scores (CPU, or CUDA with --device cuda) against a torch-vectorised
version (cumsum prefix sums in float64 and gathers, the same formula, on the same device), on the
multi-top candidates of smooth random attention (casme2 preset: m = 8..22, psi 0.25, varsigma 0.15).
Correctness is checked first.

Run: python benchmarks/bench_outer_inner_scores.py [--quick] [--threads 1] [--device cuda]
     [--out bench_out/outer_inner_scores.jsonl]
"""
from __future__ import annotations

import torch

from mcwes import ops

from _common import machine, median_seconds, parser, print_table, set_threads, write_rows
from bench_spot_postprocess import smooth_inputs

PSI, VARSIGMA = 0.25, 0.15


def torch_scores(x, lengths, bi, s, e, p, psi: float, varsigma: float) -> torch.Tensor:
    B, T, C = x.shape
    csum = torch.zeros((B, T + 1, C), dtype=torch.float64, device=x.device)
    csum[:, 1:] = torch.cumsum(x.double(), dim=1)
    L = lengths[bi]
    n = e - s + 1
    r = torch.clamp(torch.floor(psi * n.double() + 0.5), min=1).to(torch.int64)
    lo1, hi2 = torch.clamp(s - r, min=0), torch.minimum(e + r, L - 1)

    def window(lo, hi):  # inclusive [lo, hi], empty when lo > hi
        total = csum[bi, (hi + 1).clamp(min=0)] - csum[bi, lo.clamp(max=T)]
        return torch.where((hi >= lo).unsqueeze(1), total, torch.zeros_like(total))

    inner = window(s, e) / n.unsqueeze(1)
    count = ((s - lo1) + (hi2 - e)).unsqueeze(1)
    outer_sum = window(lo1, s - 1) + window(e + 1, hi2)
    outer = torch.where(count > 0, outer_sum / count.clamp(min=1), torch.zeros_like(outer_sum))
    return (inner - outer + varsigma * p.double()[bi]).to(x.dtype)


def main() -> None:
    ap = parser("outer_inner_scores")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = ap.parse_args()
    set_threads(args.threads)
    dev = args.device
    meta = machine(dev)
    min_run = 0.2 if args.quick else 1.0
    rows = []
    for B, T in ([(1, 368), (10, 368)] if args.quick else [(1, 368), (1, 1000), (10, 368), (64, 368)]):
        a, x, p = (t.to(dev) for t in smooth_inputs(B * 7 + T, B, T))
        lengths = torch.full((B,), T, dtype=torch.int64, device=dev)
        bi, s, e = ops.multi_top_proposals(a, lengths, range(8, 23))
        ours = ops.outer_inner_scores(x, lengths, bi, s, e, p, psi=PSI, varsigma=VARSIGMA)
        torch.testing.assert_close(ours, torch_scores(x, lengths, bi, s, e, p, PSI, VARSIGMA), rtol=1e-5, atol=1e-5)
        t_ours = median_seconds(lambda: ops.outer_inner_scores(x, lengths, bi, s, e, p, psi=PSI, varsigma=VARSIGMA),
                                min_run, dev)
        t_torch = median_seconds(lambda: torch_scores(x, lengths, bi, s, e, p, PSI, VARSIGMA), min_run, dev)
        rows.append({"op": "outer_inner_scores", "B": B, "T": T, "P": int(bi.numel()), "threads": args.threads,
                     "device_type": dev,
                     "mcwes_us": 1e6 * t_ours, "torch_us": 1e6 * t_torch, "speedup_vs_torch": t_torch / t_ours})
    print(f"outer_inner_scores on {meta['device']} ({meta['threads']} threads, torch {meta['torch']})")
    print_table(rows, ["B", "T", "P", "mcwes_us", "torch_us", "speedup_vs_torch"])
    write_rows(args.out, [{**r, **meta} for r in rows])


if __name__ == "__main__":
    main()
