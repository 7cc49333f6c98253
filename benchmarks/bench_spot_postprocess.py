"""Benchmark mcwes.ops.spot_postprocess (docs/method.md §4 steps 2–5) on CPU.

Baselines, measured in the same run: (1) a straightforward NumPy/Python implementation of the same
steps in the style of public weakly-supervised localisation code (argsort per m, runs grouped with
np.split, a Python loop per run and class for the outer-inner score, Python greedy NMS), written
below; (2) the pure-Python reference pipeline (mcwes.reference.spot_postprocess; one video only, it
is slow on purpose). Inputs: smooth random attention and T-CAM; every timed call takes the next of
POOL distinct input sets (one input repeated lets the branch predictor learn the selections and sorts:
1.7x faster at B = 10 than on fresh inputs). Correctness is checked first.

Run: python benchmarks/bench_spot_postprocess.py [--quick] [--threads 1] [--out bench_out/spot_postprocess.jsonl]
"""
from __future__ import annotations

import time

import numpy as np
import torch

import mcwes
from mcwes import ops, reference
from mcwes.ops import _util
from mcwes.ops.spot_postprocess import _spot_postprocess_fwd_impl

from _common import median_seconds, parser, print_table, rotating, set_threads, write_rows

POOL = 16
PARAMS = dict(m_values=list(range(8, 23)), psi=0.25, varsigma=0.15, nms_threshold=0.01, score_threshold=0.1)


def smooth_inputs(seed: int, B: int, T: int, C: int = 2):
    """Smooth random attention in (0, 1) and T-CAM: Gaussian-smoothed noise (sigma 3 snippets)."""
    rng = np.random.default_rng(seed)
    kernel = np.exp(-0.5 * (np.arange(-9, 10) / 3.0) ** 2)
    kernel /= kernel.sum()

    def smooth(shape):
        noise = rng.standard_normal(shape)
        return np.apply_along_axis(lambda v: np.convolve(v, kernel, mode="same"), 1, noise) * 4

    a = 1 / (1 + np.exp(-smooth((B, T))))
    x = np.stack([smooth((B, T)) for _ in range(C)], axis=2)
    p = rng.dirichlet(np.ones(C + 1), size=B)[:, :C]
    return torch.from_numpy(a).float(), torch.from_numpy(x).float(), torch.from_numpy(p).float()


# ---- the NumPy/Python baseline (public WTAL-code style) ---------------------------------------------

def numpy_spot_video(a: np.ndarray, x: np.ndarray, p: np.ndarray, m_values, psi, varsigma, nms_threshold,
                     score_threshold):
    """One video: returns [(start, end, label, score)] ordered by descending score."""
    T, C = x.shape
    order = np.argsort(-a, kind="stable")
    cands = set()
    for m in m_values:
        k = min(T, max(1, T // m))
        sel = np.sort(order[:k])
        for grp in np.split(sel, np.where(np.diff(sel) != 1)[0] + 1):
            if len(grp):
                cands.add((int(grp[0]), int(grp[-1])))
    props = []
    for s, e in sorted(cands):
        n = e - s + 1
        r = max(1, int(np.floor(psi * n + 0.5)))
        outer_idx = list(range(max(0, s - r), s)) + list(range(e + 1, min(T - 1, e + r) + 1))
        for j in range(C):
            inner = float(np.mean(x[s:e + 1, j]))
            outer = float(np.mean(x[outer_idx, j])) if outer_idx else 0.0
            props.append((s, e, j, inner - outer + varsigma * float(p[j])))
    props.sort(key=lambda q: (-q[3], q[0], q[1], q[2]))
    kept = []
    for s, e, j, phi in props:
        ok = True
        for ks, ke, _, _ in kept:
            inter = max(0, min(e, ke) - max(s, ks) + 1)
            if inter / ((e - s + 1) + (ke - ks + 1) - inter) > nms_threshold:
                ok = False
                break
        if ok:
            kept.append((s, e, j, phi))
    return [q for q in kept if q[3] >= score_threshold]


def numpy_spot(a: np.ndarray, x: np.ndarray, p: np.ndarray, **kw):
    return [numpy_spot_video(a[b], x[b], p[b], **kw) for b in range(a.shape[0])]


# ---- correctness, then timing ------------------------------------------------------------------------

def check(a, x, p) -> None:
    got = ops.spot_postprocess(a, x, p, **PARAMS)
    base = numpy_spot(a.numpy(), x.numpy().astype(np.float64), p.numpy().astype(np.float64), **PARAMS)
    rows = [(b, s, e, j) for b, video in enumerate(base) for s, e, j, _ in video]
    assert rows == list(zip(got.batch_idx.tolist(), got.start.tolist(), got.end.tolist(), got.label.tolist())), \
        "mcwes and the NumPy baseline disagree"
    want = torch.tensor([q[3] for video in base for q in video], dtype=torch.float64)
    torch.testing.assert_close(got.score.double(), want, rtol=1e-5, atol=1e-5)


def overheads(a, x, p, min_run: float) -> dict:
    """Where the time of one small call goes: raw _C call, eager wrapper, custom-op dispatcher."""
    lengths = torch.full((a.shape[0],), a.shape[1], dtype=torch.int64)
    args = (PARAMS["m_values"], PARAMS["psi"], PARAMS["varsigma"], PARAMS["nms_threshold"], PARAMS["score_threshold"])
    cap = a.shape[0] * x.shape[2] * mcwes.ops._spot_util.capacity(a.shape[1], PARAMS["m_values"])
    ints = torch.empty((4, cap), dtype=torch.int64)
    score = torch.empty((cap,))
    views = [_util.view(t) for t in (a, x, p, lengths)]
    outs = [_util.view(ints), _util.view(score)]
    C = mcwes._ext._C
    return {
        "raw_C_us": 1e6 * median_seconds(lambda: C.spot_postprocess_fwd_cpu(*views, *args, *outs, 1), min_run),
        "impl_us": 1e6 * median_seconds(lambda: _spot_postprocess_fwd_impl(a, x, p, lengths, *args), min_run),
        "public_us": 1e6 * median_seconds(lambda: ops.spot_postprocess(a, x, p, **PARAMS), min_run),
        "custom_op_us": 1e6 * median_seconds(lambda: torch.ops.mcwes.spot_postprocess_fwd(a, x, p, lengths, *args),
                                             min_run),
    }


def main() -> None:
    args = parser("spot_postprocess").parse_args()
    set_threads(args.threads)
    min_run = 0.2 if args.quick else 1.0
    cases = [(1, 368), (10, 368)] if args.quick else [(1, 368), (1, 1000), (10, 368), (64, 368)]
    rows = []
    one_video_baseline = None
    for B, T in cases:
        pool = [smooth_inputs(B * 1000 + T + 7919 * i, B, T) for i in range(POOL)]
        a, x, p = pool[0]
        check(a, x, p)
        pool_np = [(a_.numpy(), x_.numpy().astype(np.float64), p_.numpy().astype(np.float64)) for a_, x_, p_ in pool]
        t_ours = median_seconds(rotating(lambda i: ops.spot_postprocess(*pool[i], **PARAMS), POOL), min_run)
        t_np = median_seconds(rotating(lambda i: numpy_spot(*pool_np[i], **PARAMS), POOL), min_run)
        if (B, T) == (1, 368):
            one_video_baseline = t_np
        row = {"op": "spot_postprocess", "B": B, "T": T, "threads": args.threads,
               "mcwes_us": 1e6 * t_ours, "numpy_us": 1e6 * t_np, "speedup_vs_numpy": t_np / t_ours,
               "proposals": int(ops.spot_postprocess(a, x, p, **PARAMS).score.numel())}
        if B == 1:
            start = time.perf_counter()
            reference.spot_postprocess(a, x, p, **PARAMS)
            row["reference_us"] = 1e6 * (time.perf_counter() - start)
            row["speedup_vs_reference"] = row["reference_us"] / row["mcwes_us"]
        if one_video_baseline is not None:
            row["vs_numpy_one_video"] = one_video_baseline / t_ours
        rows.append(row)
    a, x, p = smooth_inputs(368, 1, 368)
    over = {"op": "spot_postprocess_overhead", "B": 1, "T": 368, "threads": args.threads, **overheads(a, x, p, min_run)}
    print_table(rows, ["B", "T", "proposals", "mcwes_us", "numpy_us", "speedup_vs_numpy", "vs_numpy_one_video",
                       "reference_us", "speedup_vs_reference"])
    print()
    print_table([over], ["B", "T", "raw_C_us", "impl_us", "public_us", "custom_op_us"])
    write_rows(args.out, rows + [over])


if __name__ == "__main__":
    main()
