"""Benchmark mcwes.ops.tvl1_flow on CPU against OpenCV contrib's DualTVL1OpticalFlow (same algorithm,
same parameters, same frames, same thread count) and scikit-image's optical_flow_tvl1 (a different
TV-L1 implementation, when installed). Frames: smooth random textures moved by a smooth,
non-uniform motion field (|flow| up to ~2.5 px), uint8, N distinct pairs.

Correctness first: on each size, mean and 99th percentile of |mcwes − OpenCV| away from a 2-pixel
border (the accuracy the tests hold it to: ≤ 0.02 px and ≤ 0.1 px), then pairs per second (wall
clock) and CPU seconds per pair (process time, all threads: on a machine shared with other jobs the
wall clock mostly measures the other jobs, CPU time much less). OpenCV computes one pair at a time
(its own threads split the rows), so it is timed on min(N, 4) pairs (2 from 400² on); mcwes gets the
whole batch in one call.

Run: python benchmarks/bench_tvl1_flow.py [--quick] [--threads 2] [--out bench_out/tvl1_flow.jsonl]
     (the `bench` extra installs OpenCV contrib and scikit-image)
"""
from __future__ import annotations

import time

import numpy as np
import torch

from mcwes import ops

from _common import machine, parser, print_table, set_threads, write_rows


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


def cpu_facts() -> dict:
    model, isa = "unknown", []
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
        for line in text.splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                isa = [f for f in ("avx512f", "avx2", "fma") if f in flags]
                break
    except OSError:
        pass
    return {"cpu_model": model, "isa": ",".join(isa)}


def main() -> None:
    p = parser("tvl1_flow", threads=2)
    p.add_argument("--sizes", default=None, help="comma-separated square sizes (default 128,224,400)")
    args = p.parse_args()
    set_threads(args.threads)
    import cv2

    cv2.setNumThreads(args.threads)
    try:
        from skimage.registration import optical_flow_tvl1
    except ImportError:
        optical_flow_tvl1 = None
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else ([128, 224] if args.quick else [128, 224, 400])
    batches = [1, 4] if args.quick else [1, 16]
    facts = {**machine(), **cpu_facts()}
    print(f"# {facts['cpu_model']} ({facts['isa']}), {args.threads} thread(s) for every contender")
    rows = []
    for size in sizes:
        n_max = max(batches)
        pairs = [pair(size, size, seed) for seed in range(n_max)]
        prev = torch.from_numpy(np.stack([a for a, _ in pairs]))
        nxt = torch.from_numpy(np.stack([b for _, b in pairs]))
        # Correctness first.
        ours = ops.tvl1_flow(prev[:1], nxt[:1])[0].numpy()
        ref = opencv_flow(cv2, pairs[0][0], pairs[0][1])
        diff = np.abs(ours - ref)[:, 2:-2, 2:-2]
        mean_diff, p99_diff = float(diff.mean()), float(np.percentile(diff, 99))
        # OpenCV: one pair at a time.
        n_cv = min(n_max, 1 if args.quick and size > 200 else (2 if size >= 400 else 4))
        t0, c0 = time.perf_counter(), time.process_time()
        for a, b in pairs[:n_cv]:
            opencv_flow(cv2, a, b)
        cv_pps = n_cv / (time.perf_counter() - t0)
        cv_cpu = (time.process_time() - c0) / n_cv
        sk_pps = None
        if optical_flow_tvl1 is not None and size <= 224:
            t0 = time.perf_counter()
            optical_flow_tvl1(pairs[0][0].astype(np.float32) / 255, pairs[0][1].astype(np.float32) / 255)
            sk_pps = 1.0 / (time.perf_counter() - t0)
        for n in batches:
            ops.tvl1_flow(prev[:n], nxt[:n])  # warm-up
            reps = 1 if n * size * size > 16 * 224 * 224 else 3
            times, cpu = [], []
            for _ in range(reps):
                t0, c0 = time.perf_counter(), time.process_time()
                ops.tvl1_flow(prev[:n], nxt[:n])
                times.append(time.perf_counter() - t0)
                cpu.append((time.process_time() - c0) / n)
            ours_pps = n / sorted(times)[len(times) // 2]
            ours_cpu = sorted(cpu)[len(cpu) // 2]
            row = {"op": "tvl1_flow", "size": size, "N": n, "mcwes_pairs_per_s": ours_pps,
                   "opencv_pairs_per_s": cv_pps, "opencv_pairs_timed": n_cv, "skimage_pairs_per_s": sk_pps,
                   "speedup_vs_opencv": ours_pps / cv_pps, "mcwes_cpu_s_per_pair": ours_cpu,
                   "opencv_cpu_s_per_pair": cv_cpu, "cpu_time_ratio": cv_cpu / ours_cpu,
                   "mean_abs_diff_px": mean_diff,
                   "p99_abs_diff_px": p99_diff, **facts}
            rows.append(row)
            print(f"{size}² N={n}: mcwes {ours_pps:.2f} pairs/s, OpenCV {cv_pps:.3f} pairs/s "
                  f"({ours_pps / cv_pps:.1f}×); CPU s/pair {ours_cpu:.3f} vs {cv_cpu:.3f} ({cv_cpu / ours_cpu:.1f}×); "
                  f"skimage {sk_pps and f'{sk_pps:.3f}'}; "
                  f"|mcwes − OpenCV| mean {mean_diff:.4f} px, p99 {p99_diff:.4f} px", flush=True)
    print_table(rows, ["size", "N", "mcwes_pairs_per_s", "opencv_pairs_per_s", "speedup_vs_opencv",
                       "cpu_time_ratio", "skimage_pairs_per_s", "mean_abs_diff_px", "p99_abs_diff_px"])
    write_rows(args.out, rows)


if __name__ == "__main__":
    main()
