"""Benchmark mcwes.ops.nms_1d on CPU against a Python greedy NMS and a torch-vectorised greedy NMS
(one IoU row per kept proposal, the usual "vectorised" WTAL-code form), same semantics. Proposals:
random intervals of one video (P in {50, 500, 5000}); correctness is checked first.

Run: python benchmarks/bench_nms_1d.py [--quick] [--threads 1] [--out bench_out/nms_1d.jsonl]
"""
from __future__ import annotations

import torch

from mcwes import ops

from _common import describe, median_seconds, parser, print_table, set_threads, write_rows

THRESHOLD = 0.3


def proposals(P: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    T = max(P // 2, 50)
    s = torch.randint(0, T, (P,), generator=g)
    e = torch.clamp(s + torch.randint(0, 20, (P,), generator=g), max=T - 1)
    return torch.zeros(P, dtype=torch.int64), s, e, torch.rand(P, generator=g)


def python_nms(s: list[int], e: list[int], sc: list[float], thr: float) -> list[int]:
    order = sorted(range(len(s)), key=lambda i: (-sc[i], s[i], e[i], i))
    kept: list[int] = []
    for i in order:
        ok = True
        for k in kept:
            inter = max(0, min(e[i], e[k]) - max(s[i], s[k]) + 1)
            if inter / ((e[i] - s[i] + 1) + (e[k] - s[k] + 1) - inter) > thr:
                ok = False
                break
        if ok:
            kept.append(i)
    return kept


def torch_nms(s: torch.Tensor, e: torch.Tensor, sc: torch.Tensor, thr: float) -> torch.Tensor:
    """Greedy NMS with one vectorised IoU row per kept proposal (no P×P matrix)."""
    order = torch.argsort(-sc, stable=True)  # random float scores: no ties to break further
    s, e = s[order], e[order]
    alive = torch.ones(len(order), dtype=torch.bool)
    kept = []
    for i in range(len(order)):
        if not alive[i]:
            continue
        kept.append(i)
        inter = (torch.minimum(e[i], e) - torch.maximum(s[i], s) + 1).clamp(min=0)
        iou = inter / ((e[i] - s[i] + 1) + (e - s + 1) - inter)
        alive &= iou <= thr
    return order[torch.tensor(kept, dtype=torch.int64)]


def main() -> None:
    args = parser("nms_1d").parse_args()
    set_threads(args.threads)
    print(describe())
    min_run = 0.2 if args.quick else 1.0
    rows = []
    for P in ([50, 500] if args.quick else [50, 500, 5000]):
        bi, s, e, sc = proposals(P, P)
        sl, el, scl = s.tolist(), e.tolist(), sc.tolist()
        ours = ops.nms_1d(bi, s, e, sc, THRESHOLD)
        assert ours.tolist() == python_nms(sl, el, scl, THRESHOLD), "mcwes and the Python NMS disagree"
        assert torch.equal(ours, torch_nms(s, e, sc, THRESHOLD)), "mcwes and the torch NMS disagree"
        t_ours = median_seconds(lambda: ops.nms_1d(bi, s, e, sc, THRESHOLD), min_run)
        t_py = median_seconds(lambda: python_nms(sl, el, scl, THRESHOLD), min_run)
        t_torch = median_seconds(lambda: torch_nms(s, e, sc, THRESHOLD), min_run)
        rows.append({"op": "nms_1d", "P": P, "kept": int(ours.numel()), "threads": args.threads,
                     "mcwes_us": 1e6 * t_ours, "python_us": 1e6 * t_py, "torch_us": 1e6 * t_torch,
                     "speedup_vs_python": t_py / t_ours, "speedup_vs_torch": t_torch / t_ours})
    print_table(rows, ["P", "kept", "mcwes_us", "python_us", "torch_us", "speedup_vs_python", "speedup_vs_torch"])
    write_rows(args.out, rows)


if __name__ == "__main__":
    main()
