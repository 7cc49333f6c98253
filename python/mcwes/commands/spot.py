"""``mcwes spot``: spot expressions in feature files with a trained checkpoint; CSV out, plots optional."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "spot", help="spot expressions with a trained checkpoint",
        description="FEATURES are per-video .npy files [T, 2D], or folders / pickled arrays that "
                    "mcwes.data.open_features reads (npy, npz pairs, W-TALC pickle).")
    p.add_argument("features", nargs="+", type=Path, metavar="FEATURES")
    p.add_argument("--checkpoint", required=True, type=Path, help="checkpoint written by mcwes train")
    p.add_argument("--out", type=Path, help="write the proposals as CSV here (default: print them)")
    p.add_argument("--layout", default="auto", choices=["auto", "npy", "npz", "pickle"], help="feature layout of folders")
    p.add_argument("--fps", type=float, help="frames per second (default: the checkpoint's config)")
    p.add_argument("--snippet-frames", type=int, help="frames per snippet (default: the checkpoint's config)")
    p.add_argument("--device", help="torch device (default: cpu)")
    p.add_argument("--batch-size", type=int, default=64, help="videos per forward pass")
    p.add_argument("--plot", type=Path, metavar="DIR", help="write one PNG per video (attention, T-CAM, proposals)")
    p.add_argument("--annotations", type=Path, help="ground truth to shade in the plots")
    p.set_defaults(func=run)


def read_feature_args(paths: list[Path], layout: str) -> list[tuple[str, np.ndarray]]:
    """(video name, [T, 2D] features) for every video named on the command line."""
    from ..data import open_features

    videos: list[tuple[str, np.ndarray]] = []
    for path in paths:
        if path.is_file() and path.suffix == ".npy" and layout in ("auto", "npy"):
            try:
                array = np.load(path, allow_pickle=False)
            except (ValueError, OSError) as exc:
                if layout == "npy":
                    raise ValueError(f"mcwes spot: cannot read {path} as a [T, 2D] .npy file: {exc}") from None
                array = None  # maybe a pickled object array (W-TALC layout)
            if array is not None:
                if array.ndim != 2:
                    raise ValueError(f"mcwes spot: expected {path} to hold [T, 2D] features, got shape {array.shape}")
                videos.append((path.stem, array))
                continue
        store = open_features(path, layout=layout)
        videos.extend((name, store[name]) for name in sorted(store))
    if not videos:
        raise ValueError(f"mcwes spot: no videos found in {', '.join(map(str, paths))}")
    return videos


def run(args: argparse.Namespace) -> int:
    from ..checkpoint import load_checkpoint
    from ..inference import spot_videos
    from ..proposals import write_proposals_csv

    if args.batch_size < 1:
        raise ValueError(f"mcwes spot: expected --batch-size >= 1, got {args.batch_size}")
    model, config, _ = load_checkpoint(args.checkpoint, map_location=args.device or "cpu")
    videos = read_feature_args(args.features, args.layout)
    fps = args.fps or config.data.fps
    g = args.snippet_frames or config.data.snippet_frames
    pooled = spot_videos([v for _, v in videos], model, names=[n for n, _ in videos], batch_size=args.batch_size,
                         fps=fps, snippet_frames=g)
    if args.out:
        write_proposals_csv(args.out, pooled)
        print(f"{len(pooled)} proposals in {len(videos)} videos -> {args.out}")
    else:
        print(pooled.to_dataframe().to_string(index=False))
    if args.plot:
        _plots(args, model, videos, pooled, fps, g)
    return 0


def _plots(args: argparse.Namespace, model, videos, pooled, fps: float, g: int) -> None:  # type: ignore[no-untyped-def]
    from ..plot import plot_videos

    gt = None
    if args.annotations:
        from ..data import read_annotations

        gt, _ = read_annotations(args.annotations, fps=fps)
    plot_videos(args.plot, videos, model, pooled, gt, fps=fps, snippet_frames=g, batch_size=args.batch_size)
    print(f"plots of {len(videos)} videos -> {args.plot}")
