"""Benchmark mcwes.ops.tvl1_flow on CPU against OpenCV contrib's DualTVL1OpticalFlow (same algorithm,
same parameters, same frames, same thread count) and scikit-image's optical_flow_tvl1 (a different
TV-L1 implementation, when installed). Frames: smooth random textures moved by a smooth,
non-uniform motion field (|flow| up to ~2.5 px), uint8, N distinct pairs.

Correctness first: on each size, mean and 99th percentile of |mcwes − OpenCV| away from a 2-pixel
border; the program stops if they exceed what the tests hold mcwes to (0.02 px, 0.1 px). Then pairs
per second (wall clock) and CPU seconds per pair (process time, all threads: on a machine shared with
other jobs the wall clock mostly measures the other jobs, CPU time much less) for every contender.
Every timed call gets pairs it has not seen before (the pool rotates), never the warm-up's.
OpenCV computes one pair at a time (its own threads, cv2.setNumThreads(--threads), split the rows):
it is timed on 4 distinct pairs up to 224², 2 at 400², 1 beyond. scikit-image (pure NumPy, its own
TV-L1 variant and defaults, frames scaled to 0–1) is much slower: one pair per size, up to 400² by
default (--skimage-max). mcwes gets each batch of N pairs in one call.

Run: python benchmarks/bench_tvl1_flow.py [--quick] [--threads 2] [--isa avx2] [--sizes 128,224]
     [--out bench_out/tvl1_flow.jsonl]   (the `bench` extra installs OpenCV contrib and scikit-image)
"""
from __future__ import annotations

import os
import time

import numpy as np
import torch

from mcwes import ops

from _common import ISA, describe, machine, parser, print_table, set_threads, write_rows

# --isa caps OpenCV's dispatched kernels (remap, medianBlur) too, before cv2 loads; its TV-L1 loops
# themselves are built for its SSE3 baseline either way.
_OPENCV_DISABLE = {"avx2": "AVX512F,AVX512-SKX", "scalar": "SSE4.1,SSE4.2,AVX,FP16,AVX2,FMA3,AVX512F,AVX512-SKX"}
if ISA in _OPENCV_DISABLE:
    os.environ.setdefault("OPENCV_CPU_DISABLE", _OPENCV_DISABLE[ISA])


def textured(h: int, w: int, seed: int) -> np.ndarray:
    """Sum of bilinearly upsampled noise octaves (periods 2, 4, 8 px), scaled to 0..255, float64."""
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w))
    for period in (2, 4, 8):
        small = rng.uniform(0, 1, (h // period + 3, w // period + 3))
        ys, xs = np.arange(h) / period, np.arange(w) / period
        y0, x0 = ys.astype(int), xs.astype(int)
        fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
        a, b = small[y0][:, x0], small[y0][:, x0 + 1]
        c, d = small[y0 + 1][:, x0], small[y0 + 1][:, x0 + 1]
        img += (a * (1 - fx) + b * fx) * (1 - fy) + (c * (1 - fx) + d * fx) * fy
    return (img - img.min()) / (img.max() - img.min()) * 255.0


def pair(h: int, w: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(prev, next) uint8: next is prev moved by a smooth field (flow from prev to next)."""
    import cv2

    prev = textured(h, w, seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    fx = 1.3 + 0.8 * np.sin(yy / (0.15 * h) + seed)
    fy = -0.7 + 0.6 * np.cos(xx / (0.12 * w) + seed)
    map_x = (xx - fx).astype(np.float32)
    map_y = (yy - fy).astype(np.float32)
    nxt = cv2.remap(prev.astype(np.float32), map_x, map_y, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    to_u8 = lambda a: np.clip(np.rint(a), 0, 255).astype(np.uint8)  # noqa: E731
    return to_u8(prev), to_u8(nxt)


def opencv_flow(cv2, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    # A fresh object per pair: calc() lowers the object's nscales for small images and keeps it.
    return cv2.optflow.DualTVL1OpticalFlow_create().calc(a, b, None).transpose(2, 0, 1)


def timed(fn, count: int) -> tuple[float, float]:
    """(pairs per second by the wall clock, CPU seconds per pair) of fn(), which computes count pairs."""
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    return count / (time.perf_counter() - t0), (time.process_time() - c0) / count


def main() -> None:
    p = parser("tvl1_flow", threads=2)
    p.add_argument("--sizes", default=None, help="comma-separated square sizes (default 128,224,400,600)")
    p.add_argument("--skimage-max", type=int, default=400, help="largest size scikit-image is timed at (0: never)")
    args = p.parse_args()
    set_threads(args.threads)
    import cv2

    cv2.setNumThreads(args.threads)
    try:
        from skimage.registration import optical_flow_tvl1
    except ImportError:
        optical_flow_tvl1 = None
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else ([128, 224] if args.quick else [128, 224, 400, 600])
    batches = [1, 4] if args.quick else [1, 16]
    facts = machine()
    print(f"# {describe()}; OpenCV {cv2.__version__} with cv2.setNumThreads({args.threads}); "
          f"OPENCV_CPU_DISABLE={os.environ.get('OPENCV_CPU_DISABLE', '')}; "
          f"scikit-image {'absent' if optical_flow_tvl1 is None else 'present'}", flush=True)
    rows = []
    for size in sizes:
        n_max = max(batches)
        reps_big = 1 if n_max * size * size > 16 * 224 * 224 else 2
        # Pair 0: correctness and warm-up; then fresh pairs for every timed call.
        pool = [pair(size, size, seed) for seed in range(1 + 3 + n_max * reps_big)]
        prev = torch.from_numpy(np.stack([a for a, _ in pool]))
        nxt = torch.from_numpy(np.stack([b for _, b in pool]))
        ours = ops.tvl1_flow(prev[:1], nxt[:1])[0].numpy()
        ref = opencv_flow(cv2, pool[0][0], pool[0][1])
        diff = np.abs(ours - ref)[:, 2:-2, 2:-2]
        mean_diff, p99_diff = float(diff.mean()), float(np.percentile(diff, 99))
        print(f"{size}²: |mcwes − OpenCV| mean {mean_diff:.4f} px, p99 {p99_diff:.4f} px", flush=True)
        if not (mean_diff <= 0.02 and p99_diff <= 0.1):
            raise SystemExit(f"{size}²: mcwes differs from OpenCV beyond 0.02 px mean / 0.1 px p99; not timing it")
        n_cv = 4 if size <= 224 else (2 if size <= 400 else 1)
        n_cv = 1 if args.quick and size > 200 else n_cv
        cv_pps, cv_cpu = timed(lambda: [opencv_flow(cv2, a, b) for a, b in pool[1:1 + n_cv]], n_cv)
        sk_pps = sk_cpu = None
        if optical_flow_tvl1 is not None and size <= args.skimage_max:
            a, b = pool[1]
            sk_pps, sk_cpu = timed(lambda: optical_flow_tvl1(a.astype(np.float32) / 255, b.astype(np.float32) / 255), 1)
        for n in batches:
            # N = 1: three fresh pairs, the median of three calls; N = 16: fresh batches, one call each.
            starts = [1, 2, 3] if n == 1 else [4 + n * r for r in range(reps_big)]
            results = [timed(lambda: ops.tvl1_flow(prev[i:i + n], nxt[i:i + n]), n) for i in starts]
            ours_pps = sorted(r[0] for r in results)[len(results) // 2]
            ours_cpu = sorted(r[1] for r in results)[len(results) // 2]
            row = {"op": "tvl1_flow", "size": size, "N": n, "mcwes_pairs_per_s": ours_pps,
                   "opencv_pairs_per_s": cv_pps, "opencv_pairs_timed": n_cv, "skimage_pairs_per_s": sk_pps,
                   "speedup_vs_opencv": ours_pps / cv_pps, "mcwes_cpu_s_per_pair": ours_cpu,
                   "opencv_cpu_s_per_pair": cv_cpu, "skimage_cpu_s_per_pair": sk_cpu,
                   "cpu_time_ratio": cv_cpu / ours_cpu, "mean_abs_diff_px": mean_diff,
                   "p99_abs_diff_px": p99_diff, "opencv_version": cv2.__version__, **facts}
            rows.append(row)
            sk = "-" if sk_pps is None else f"{sk_pps:.3f} pairs/s, {sk_cpu:.2f} CPU s/pair"
            print(f"{size}² N={n}: mcwes {ours_pps:.2f} pairs/s, OpenCV {cv_pps:.3f} pairs/s "
                  f"({ours_pps / cv_pps:.1f}×); CPU s/pair {ours_cpu:.4f} vs {cv_cpu:.3f} ({cv_cpu / ours_cpu:.1f}×); "
                  f"skimage {sk}", flush=True)
    print_table(rows, ["size", "N", "mcwes_pairs_per_s", "opencv_pairs_per_s", "speedup_vs_opencv",
                       "mcwes_cpu_s_per_pair", "opencv_cpu_s_per_pair", "cpu_time_ratio", "skimage_pairs_per_s",
                       "mean_abs_diff_px", "p99_abs_diff_px"])
    write_rows(args.out, rows)


if __name__ == "__main__":
    main()
