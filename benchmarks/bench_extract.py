"""Video → features (``mcwes.extract``): frames/s per stage (decode, crop, flow, resize, I3D) and end
to end, with ``mcwes.ops.tvl1_flow`` and with OpenCV's TV-L1 in the same run, for a synthetic face
video of ``--frames`` frames with 224² and 400² face crops (the frames are 10 % larger and cropped by
an explicit box, so the crop stage is exercised).

    python benchmarks/bench_extract.py [--frames 2000] [--sizes 224,400] [--quick] [--threads N] [--device cuda]

The I3D weights are random (a trained network costs the same); preset casme2 (8-frame windows,
stride 8). Correctness first: both backends give features of the same shape, finite, and close
(the flow implementations may differ slightly, so the features are compared by correlation). A
backend that this build lacks is reported as such.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import mcwes
from mcwes.extract import ExtractOptions, InceptionI3d, extract_video
from mcwes.extract import synthetic as S
from mcwes.extract.pipeline import STAGES

from _common import machine, parser, print_table, set_threads, write_rows


def main() -> None:
    p = parser("extract", threads=None)
    p.add_argument("--frames", type=int, default=2000, help="frames of the synthetic video (default 2000)")
    p.add_argument("--sizes", default="224,400", help="face crop sides, comma-separated")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args()
    set_threads(args.threads)
    n = 40 if args.quick else args.frames
    backends = ["mcwes", "opencv"] if hasattr(mcwes.ops, "tvl1_flow") else ["opencv"]
    if backends == ["opencv"]:
        print("mcwes.ops.tvl1_flow is not in this build: only OpenCV's TV-L1 is timed")
    torch.manual_seed(0)
    rgb_net, flow_net = InceptionI3d(3).eval().to(args.device), InceptionI3d(2).eval().to(args.device)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            big = int(round(size * 1.1)) // 2 * 2
            video = S.write_video(S.synthetic_video(n, big, seed=size).frames, Path(tmp) / f"face{size}.mp4")
            off = (big - size) // 2
            feats = {}
            for backend in backends:
                start = time.perf_counter()
                r = extract_video(video, ExtractOptions.preset("casme2", crop=(off, off, size, size), flow_backend=backend),
                                  rgb_net, flow_net, progress=False)
                total = time.perf_counter() - start
                assert r.features.shape == ((n - 1 - 8) // 8 + 1, 2048) and np.isfinite(r.features).all()
                feats[backend] = r.features
                row = {"case": f"{size}^2", "frames": n, "backend": backend, "end_to_end_fps": n / total,
                       "seconds": total, **{f"{s}_fps": n / max(r.seconds[s], 1e-9) for s in STAGES}, **machine(args.device)}
                rows.append(row)
            if len(feats) == 2:
                a, b = feats["mcwes"].ravel(), feats["opencv"].ravel()
                corr = float(np.corrcoef(a, b)[0, 1])
                print(f"{size}^2: features mcwes vs opencv flow: correlation {corr:.5f}, max |diff| {np.abs(a - b).max():.3g}")
                assert corr > 0.99, "the two flow backends give different features"
                speed = rows[-1]["seconds"] / rows[-2]["seconds"]
                rows[-2]["x_vs_opencv"] = speed
    print_table(rows, ["case", "frames", "backend", "end_to_end_fps", "x_vs_opencv"] + [f"{s}_fps" for s in STAGES])
    write_rows(args.out, rows)


if __name__ == "__main__":
    main()
