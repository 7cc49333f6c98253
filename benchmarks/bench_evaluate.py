"""Benchmark of mcwes.evaluate against a per-video Python loop of the MEGC counting (the organisers'
baseline style). Correctness first (same counts at several score thresholds), then timing (warm-up +
median). Run: python benchmarks/bench_evaluate.py [--quick] [--out bench_out/evaluate.jsonl]"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _common import add_isa_argument, describe, machine  # first: applies --isa before torch loads

import mcwes

FPS = 30.0
ME_MAX = int(0.5 * FPS)


def make_case(n_pred: int, n_videos: int = 100, n_gt: int = 1000, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    n_frames = 3000
    gv = rng.integers(0, n_videos, n_gt)
    g_len = np.where(rng.random(n_gt) < 0.2, rng.integers(9, 16, n_gt), rng.integers(16, 120, n_gt))
    g_on = rng.integers(0, n_frames - 120, n_gt)
    gt = pd.DataFrame({"video": [f"v{v:03d}" for v in gv], "onset": g_on, "offset": g_on + g_len - 1,
                       "type": np.where(g_len <= ME_MAX, "ME", "MaE")})
    # Half the predictions jitter around a GT interval (so hits happen), half are random; 5 videos have no GT.
    near = rng.random(n_pred) < 0.5
    src = rng.integers(0, n_gt, n_pred)
    p_on = np.where(near, g_on[src] + rng.integers(-4, 5, n_pred), rng.integers(0, n_frames - 120, n_pred))
    p_len = np.where(near, g_len[src] + rng.integers(-4, 5, n_pred), rng.integers(5, 120, n_pred))
    p_on, p_len = np.maximum(p_on, 0), np.maximum(p_len, 1)
    pv = np.where(near, gv[src], rng.integers(0, n_videos + 5, n_pred))
    preds = pd.DataFrame({"video": [f"v{v:03d}" for v in pv], "onset": p_on, "offset": p_on + p_len - 1,
                          "score": np.round(rng.random(n_pred), 4)})
    return preds, gt


def baseline_counts(preds: pd.DataFrame, gt: pd.DataFrame, score_threshold: float) -> dict[str, tuple[int, int, int]]:
    """Per video and class: TP = GT hit by some prediction (IoU >= 0.5), FP = max(0, preds - TP), FN = GT - TP."""
    p_rows = preds[preds.score >= score_threshold].itertuples(index=False)
    by_video: dict[str, list] = {}
    for r in p_rows:
        by_video.setdefault(r.video, []).append((r.onset, r.offset, "ME" if r.offset - r.onset + 1 <= ME_MAX else "MaE"))
    gt_by_video: dict[str, list] = {}
    for r in gt.itertuples(index=False):
        gt_by_video.setdefault(r.video, []).append((r.onset, r.offset, r.type))
    out = {"MaE": [0, 0, 0], "ME": [0, 0, 0]}
    for video in set(by_video) | set(gt_by_video):
        for cls in ("MaE", "ME"):
            ps = [p for p in by_video.get(video, []) if p[2] == cls]
            gs = [g for g in gt_by_video.get(video, []) if g[2] == cls]
            tp = 0
            for g in gs:
                for p in ps:
                    inter = max(0, min(p[1], g[1]) - max(p[0], g[0]) + 1)
                    if inter / ((p[1] - p[0] + 1) + (g[1] - g[0] + 1) - inter) >= 0.5:
                        tp += 1
                        break
            out[cls][0] += tp
            out[cls][1] += max(0, len(ps) - tp)
            out[cls][2] += len(gs) - tp
    return {k: tuple(v) for k, v in out.items()}


def timed(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("bench_out/evaluate.jsonl"))
    add_isa_argument(parser)
    args = parser.parse_args()
    print(describe())
    meta = machine()
    sizes = (1000, 10000) if args.quick else (1000, 10000, 100000)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    print(f"{'N preds':>8} {'loop counts (s)':>16} {'evaluate no AP (s)':>19} {'ratio':>7} {'evaluate + AP (s)':>18} "
          f"{'ratio':>7} {'distinct θ':>11} {'loop sweep est. (s)':>20} {'ratio':>8}")
    with open(args.out, "w") as fh:
        for n in sizes:
            preds, gt = make_case(n)
            for thr in (0.0, 0.5, 0.9):
                got = mcwes.evaluate(preds, gt, fps=FPS, score_threshold=thr, ap=False).counts
                want = baseline_counts(preds, gt, thr)
                for cls in ("MaE", "ME"):
                    assert (got[cls].tp, got[cls].fp, got[cls].fn) == want[cls], (n, thr, cls, got[cls], want[cls])
            repeats = 3 if n >= 100000 else 5
            t_loop = timed(lambda: baseline_counts(preds, gt, 0.0), repeats)
            t_fast = timed(lambda: mcwes.evaluate(preds, gt, fps=FPS, ap=False), repeats)
            t_ap = timed(lambda: mcwes.evaluate(preds, gt, fps=FPS), repeats)
            k = int(preds.score.nunique())
            row = {"op": "evaluate", "n_predictions": n, "n_gt": len(gt), "n_videos": 100,
                   "loop_counts_s": t_loop, "evaluate_s": t_fast, "evaluate_ap_s": t_ap,
                   "ratio": t_loop / t_fast, "ratio_ap": t_loop / t_ap, "distinct_scores": k,
                   "loop_sweep_estimate_s": k * t_loop, "ratio_sweep_estimate": k * t_loop / t_fast}
            fh.write(json.dumps({**meta, **row}) + "\n")
            print(f"{n:>8} {t_loop:>16.4f} {t_fast:>19.4f} {t_loop / t_fast:>7.1f} {t_ap:>18.4f} {t_loop / t_ap:>7.1f} "
                  f"{k:>11} {k * t_loop:>20.1f} {k * t_loop / t_fast:>8.0f}")
    print("loop = MEGC counts at one threshold only; evaluate = counts + the full sweep over every distinct "
          "score (F1-ME(p), F1-ME(0.5), F1-ME(1.0)); + AP = also 2 classes x 7 tIoU of one-to-one AP; "
          "loop sweep est. = distinct scores x the one-threshold loop (what the same sweep costs the loop)")


if __name__ == "__main__":
    main()
