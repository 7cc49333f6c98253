"""Video → features (``mcwes.extract``): frames/s per stage (decode, crop, flow, resize, I3D) and end
to end, with ``mcwes.ops.tvl1_flow`` and with OpenCV's TV-L1 in the same run, for a synthetic face
video of ``--frames`` frames with 224² and 400² face crops (the frames are 10 % larger and cropped by
an explicit box, so the crop stage is exercised).

    python benchmarks/bench_extract.py [--frames 2000] [--sizes 224,400] [--opencv-pairs 24]
                                       [--threads N] [--device cuda] [--quick]

The whole pipeline runs once per crop size with ``flow_backend="mcwes"`` and the fused I3D
(``fast_i3d=True``, the default). OpenCV's TV-L1 is several times slower, so it is timed on
``--opencv-pairs`` frame pairs spread over the video, and the OpenCV pipeline's time is extrapolated:
the measured time of every other stage plus OpenCV's seconds per pair × (N − 1) pairs (the output says
so). The unfused I3D (``fast_i3d=False``) is timed on a few window batches beside the fused one.

The I3D weights are random (a trained network costs the same); preset casme2 (8-frame windows,
stride 8). Wall times are what a user waits; CPU times (all threads) are reported beside them
because on a shared machine they move less with the load. Correctness first: the two flows agree on
the timed pairs (mean end-point error under 0.05 px; the correlation is printed) and the fused I3D's
features equal the unfused ones. torch and OpenCV get the same thread count.
"""
from __future__ import annotations

import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import mcwes
from mcwes.extract import ExtractOptions, InceptionI3d, extract_video, fuse_i3d, open_frames
from mcwes.extract import synthetic as S
from mcwes.extract.flow import make_flow_fn
from mcwes.extract.pipeline import STAGES, _gray

from _common import describe, machine, parser, print_table, set_threads, write_rows


def _pairs(video: Path, box: tuple[int, int, int, int], picks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The gray crops of frame pairs (i, i + 1) for i in ``picks``."""
    want = set(picks.tolist()) | set((picks + 1).tolist())
    x, y, w, h = box
    gray = {i: _gray(f[y:y + h, x:x + w]) for i, f in enumerate(open_frames(video)) if i in want}
    return np.stack([gray[i] for i in picks]), np.stack([gray[i + 1] for i in picks])


def _time_flow(fn, prev: np.ndarray, nxt: np.ndarray) -> tuple[float, float, np.ndarray]:  # type: ignore[no-untyped-def]
    """Wall and CPU seconds per pair, and the flow."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn(prev, nxt)
    return (time.perf_counter() - wall) / len(prev), (time.process_time() - cpu) / len(prev), out


def _i3d_per_window(nets: dict[str, torch.nn.Module], windows: int, batch: int, device: str) -> dict[str, float]:
    """Wall and CPU (all threads) seconds per window of both streams, fused and unfused, alternating
    batch by batch on the same random inputs (224², 8 frames); medians over the batches."""
    g = torch.Generator().manual_seed(1)
    xs = [(torch.rand(batch, 3, 8, 224, 224, generator=g) * 2 - 1, torch.rand(batch, 2, 8, 224, 224, generator=g) * 2 - 1)
          for _ in range(max(windows // batch, 1))]
    times: dict[str, list[tuple[float, float]]] = {"unfused": [], "fused": []}
    with torch.inference_mode():
        a, b = xs[0]
        want = nets["rgb_unfused"].features(a.to(device))
        torch.testing.assert_close(nets["rgb_fused"].features(a.to(device)), want, rtol=1e-3,
                                   atol=1e-3 * float(want.abs().max()))
        for a, b in xs:
            for kind in times:
                wall, cpu = time.perf_counter(), time.process_time()
                nets[f"rgb_{kind}"].features(a.to(device))
                nets[f"flow_{kind}"].features(b.to(device))
                if device == "cuda":
                    torch.cuda.synchronize()
                times[kind].append((time.perf_counter() - wall, time.process_time() - cpu))
    out = {}
    for kind, ts in times.items():
        out[f"{kind}_wall"] = float(np.median([t[0] for t in ts])) / batch
        out[f"{kind}_cpu"] = float(np.median([t[1] for t in ts])) / batch
    return out


def main() -> None:
    p = parser("extract", threads=None)
    p.add_argument("--frames", type=int, default=2000, help="frames of the synthetic video (default 2000)")
    p.add_argument("--sizes", default="224,400", help="face crop sides, comma-separated")
    p.add_argument("--opencv-pairs", type=int, default=24, help="frame pairs OpenCV's TV-L1 is timed on (default 24)")
    p.add_argument("--i3d-windows", type=int, default=32, help="windows the fused/unfused I3D comparison runs (default 32)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args()
    set_threads(args.threads)
    import cv2

    cv2.setNumThreads(torch.get_num_threads())  # the same threads for both flows
    n = 40 if args.quick else args.frames
    k = min(4 if args.quick else args.opencv_pairs, n - 1)
    if not hasattr(mcwes.ops, "tvl1_flow"):
        raise SystemExit("mcwes.ops.tvl1_flow is not in this build: nothing to compare OpenCV's TV-L1 with")
    print(describe(args.device))
    print(f"torch threads {torch.get_num_threads()}, OpenCV threads {cv2.getNumThreads()}, device {args.device}")
    torch.manual_seed(0)
    unfused = {"rgb_unfused": InceptionI3d(3).eval().to(args.device), "flow_unfused": InceptionI3d(2).eval().to(args.device)}
    nets = {**unfused, "rgb_fused": fuse_i3d(unfused["rgb_unfused"]), "flow_fused": fuse_i3d(unfused["flow_unfused"])}
    opencv_fn = make_flow_fn("opencv", ExtractOptions().tvl1)
    mcwes_fn = make_flow_fn("mcwes", ExtractOptions().tvl1, args.device)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            big = int(round(size * 1.1)) // 2 * 2
            video = S.write_video(S.synthetic_frames(n, big, seed=size), Path(tmp) / f"face{size}.mp4")
            off = (big - size) // 2
            box = (off, off, size, size)
            opts = ExtractOptions.preset("casme2", crop=box, flow_backend="mcwes", fast_i3d=True, device=args.device)
            start, cpu_start = time.perf_counter(), time.process_time()
            r = extract_video(video, opts, nets["rgb_fused"], nets["flow_fused"], progress=False)  # type: ignore[arg-type]
            total, cpu_total = time.perf_counter() - start, time.process_time() - cpu_start
            assert r.features.shape == ((n - 1 - 8) // 8 + 1, 2048) and np.isfinite(r.features).all()
            rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
            # OpenCV's TV-L1 on k pairs spread over the video; mcwes's on the same pairs for the check
            picks = np.linspace(0, n - 2, k).round().astype(np.int64)
            prev, nxt = _pairs(video, box, picks)
            cv_per_pair, cv_cpu_per_pair, cv_flow = _time_flow(opencv_fn, prev, nxt)
            _, _, mc_flow = _time_flow(mcwes_fn, prev, nxt)
            corr = float(np.corrcoef(cv_flow.ravel(), mc_flow.ravel())[0, 1])
            epe = float(np.sqrt(((cv_flow - mc_flow) ** 2).sum(axis=1)).mean())
            print(f"{size}^2: flow mcwes vs OpenCV on {k} pairs: correlation {corr:.5f}, mean end-point error {epe:.4f} px")
            # the synthetic motion is small (mostly < 0.2 px per frame), so the end-point error, not the
            # correlation (dominated by sub-0.01 px noise where nothing moves), is the check
            assert epe < 0.05, "the two TV-L1 implementations disagree"
            pairs = n - 1
            other = total - r.seconds["flow"]  # every stage but the flow, measured
            cv_total = other + cv_per_pair * pairs
            cv_cpu = cpu_total - r.cpu_seconds["flow"] + cv_cpu_per_pair * pairs
            common = {"case": f"{size}^2", "frames": n, **machine(args.device)}
            row = {**common, "backend": "tvl1_flow", "end_to_end_fps": n / total, "seconds": total,
                   "x_vs_opencv": cv_total / total, "cpu_seconds": cpu_total,
                   "x_vs_opencv_cpu": cv_cpu / cpu_total, "peak_rss_gb": rss_gb,
                   **{f"{s}_fps": n / max(r.seconds[s], 1e-9) for s in STAGES},
                   **{f"{s}_share": r.seconds[s] / total for s in STAGES}}
            cv_row = {**common, "backend": f"opencv (flow: {k} pairs, extrapolated)", "end_to_end_fps": n / cv_total,
                      "seconds": cv_total, "x_vs_opencv": 1.0, "cpu_seconds": cv_cpu, "x_vs_opencv_cpu": 1.0,
                      "flow_fps": 1 / cv_per_pair,
                      **{f"{s}_fps": row[f"{s}_fps"] for s in STAGES if s != "flow"},
                      **{f"{s}_share": r.seconds[s] / cv_total for s in STAGES if s != "flow"},
                      "flow_share": cv_per_pair * pairs / cv_total}
            rows += [row, cv_row]
            print(f"{size}^2: end to end {total:.1f} s with tvl1_flow, {cv_total:.1f} s with OpenCV's TV-L1 "
                  f"(extrapolated: {cv_per_pair:.3g} s/pair on {k} pairs x {pairs} pairs): {cv_total / total:.2f}x; "
                  f"CPU time {cpu_total:.1f} s vs {cv_cpu:.1f} s: {cv_cpu / cpu_total:.2f}x; "
                  f"peak RSS so far {rss_gb:.2f} GB")
    # after the pipelines, so that their peak memory is their own
    i3d = _i3d_per_window(nets, 8 if args.quick else args.i3d_windows, 16, args.device)
    print(f"I3D alone (both streams, 224², batches of 16 windows, medians): fused {1 / i3d['fused_wall']:.3g} windows/s "
          f"({i3d['fused_cpu']:.3g} CPU s/window), unfused {1 / i3d['unfused_wall']:.3g} windows/s "
          f"({i3d['unfused_cpu']:.3g} CPU s/window): fused takes {i3d['unfused_wall'] / i3d['fused_wall']:.2f}x less "
          f"wall time, {i3d['unfused_cpu'] / i3d['fused_cpu']:.2f}x less CPU")
    for row in rows:  # the pipeline as it was before fast_i3d: the unfused I3D's time per window instead
        windows = (row["frames"] - 1 - 8) // 8 + 1
        old = row["seconds"] + windows * (i3d["unfused_wall"] - i3d["fused_wall"])
        row["end_to_end_fps_unfused_i3d"] = row["frames"] / old
    rows.append({"case": "i3d 224^2", "backend": "fused vs unfused", **i3d})
    print_table(rows, ["case", "frames", "backend", "end_to_end_fps", "x_vs_opencv", "x_vs_opencv_cpu"]
                + [f"{s}_fps" for s in STAGES])
    print_table(rows[:-1], ["case", "backend", "end_to_end_fps_unfused_i3d"] + [f"{s}_share" for s in STAGES])
    write_rows(args.out, rows, args.device)


if __name__ == "__main__":
    main()
