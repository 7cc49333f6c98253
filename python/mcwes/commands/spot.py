"""``mcwes spot``: spot expressions in feature files with a trained checkpoint; CSV out, plots optional."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from .extract import add_extract_options, options_from_args

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "spot", help="spot expressions with a trained checkpoint",
        description="FEATURES are per-video .npy files [T, 2D], or folders / pickled arrays that "
                    "mcwes.data.open_features reads (npy, npz pairs, W-TALC pickle), or videos: video files "
                    "and folders of frame images, whose features are extracted first (mcwes extract) and "
                    "whose proposals are in the video's own frame numbers.")
    p.add_argument("features", nargs="+", type=Path, metavar="FEATURES|VIDEO")
    p.add_argument("--checkpoint", required=True, type=Path, help="checkpoint written by mcwes train")
    p.add_argument("--out", type=Path, help="write the proposals as CSV here (default: print them)")
    p.add_argument("--layout", default="auto", choices=["auto", "npy", "npz", "pickle"], help="feature layout of folders")
    p.add_argument("--fps", type=float, help="frames per second (default: the checkpoint's config)")
    p.add_argument("--snippet-frames", type=int, help="frames per snippet (default: the checkpoint's config)")
    p.add_argument("--device", help="torch device (default: cpu)")
    p.add_argument("--batch-size", type=int, default=64, help="videos per forward pass")
    p.add_argument("--plot", type=Path, metavar="DIR", help="write one PNG per video (attention, T-CAM, proposals)")
    p.add_argument("--annotations", type=Path, help="ground truth to shade in the plots")
    add_extract_options(p)
    p.set_defaults(func=run)


def _is_video(path: Path) -> bool:
    from ..extract.frames import IMAGE_SUFFIXES, VIDEO_SUFFIXES

    if path.is_file():
        return path.suffix.lower() in VIDEO_SUFFIXES
    return path.is_dir() and any(p.suffix.lower() in IMAGE_SUFFIXES for p in path.iterdir())


def read_feature_args(paths: list[Path], layout: str) -> list[tuple[str, np.ndarray]]:
    """(video name, [T, 2D] features) for every video named on the command line.

    Two sources that give the same video name (``a/v1.npy`` and ``b/v1.npy``) are an error that names
    both: the proposals CSV is keyed by video name, so they could not be told apart.
    """
    from .. import checks
    from ..data import open_features

    videos: list[tuple[str, np.ndarray]] = []
    sources: dict[str, str] = {}

    def add(name: str, array: np.ndarray, source: str) -> None:
        if name in sources:
            raise ValueError(f"mcwes spot: two inputs give the video name {name!r}: {sources[name]} and {source}; "
                             f"the proposals are keyed by video name, so rename one of them (or spot them in "
                             f"separate runs)")
        sources[name] = source
        videos.append((name, array))

    for path in paths:
        if not path.exists():
            checks.existing_file(path, "mcwes spot", "FEATURES")  # raises the precise OSError
        if path.is_file() and path.suffix == ".npy" and layout in ("auto", "npy"):
            try:
                array = np.load(path, allow_pickle=False)
            except (ValueError, OSError) as exc:
                if layout == "npy":
                    raise ValueError(f"mcwes spot: cannot read {path} as a [T, 2D] .npy file: {exc}") from None
                array = None  # maybe a pickled object array (W-TALC layout)
            if array is not None and array.dtype != object:
                checks.feature_array(array, "mcwes spot", f"{path} (features [T, 2D])")
                add(path.stem, array, str(path))
                continue
        store = open_features(path, layout=layout)
        for name in sorted(store):
            add(name, store[name], f"{path} (video {name!r})")
    if not videos:
        raise ValueError(f"mcwes spot: no videos found in {', '.join(map(str, paths))}")
    return videos


def run(args: argparse.Namespace) -> int:
    from ..checkpoint import load_checkpoint
    from ..inference import spot_videos
    from ..proposals import Proposals, write_proposals_csv

    from .. import checks

    # every argument is checked before the checkpoint or any feature file is read
    checks.positive_int(args.batch_size, "mcwes spot", "--batch-size")
    if args.fps is not None:
        checks.positive_number(args.fps, "mcwes spot", "--fps")
    if args.snippet_frames is not None:
        checks.positive_int(args.snippet_frames, "mcwes spot", "--snippet-frames")
    device = checks.device(args.device, "mcwes spot", "--device") or "cpu"
    checks.existing_file(args.checkpoint, "mcwes spot", "--checkpoint")
    if args.out is not None:
        checks.output_file(args.out, "mcwes spot", "--out")
    if args.plot is not None:
        checks.output_dir(args.plot, "mcwes spot", "--plot")
    if args.annotations is not None:
        checks.existing_file(args.annotations, "mcwes spot", "--annotations")
    model, config, _ = load_checkpoint(args.checkpoint, map_location=device)
    pooled = Proposals()
    clips = [p for p in args.features if _is_video(p)]
    if clips:
        _spot_clips(args, model, clips, pooled)
    rest = [p for p in args.features if p not in clips]
    videos = read_feature_args(rest, args.layout) if rest else []
    fps = config.data.fps if args.fps is None else args.fps
    g = config.data.snippet_frames if args.snippet_frames is None else args.snippet_frames
    if videos:
        longest = max(int(v.shape[0]) for _, v in videos)
        if longest * g > checks.FRAME_LIMIT:
            checks.fail("mcwes spot", "--snippet-frames", f"keep the frame numbers of {longest} snippets below 2**31", g)
        pooled.extend(spot_videos([v for _, v in videos], model, names=[n for n, _ in videos],
                                  batch_size=args.batch_size, fps=fps, snippet_frames=g))
    if args.out:
        write_proposals_csv(args.out, pooled)
        print(f"{len(pooled)} proposals in {len(videos) + len(clips)} videos -> {args.out}")
    else:
        print(pooled.to_dataframe().to_string(index=False))
    if args.plot and videos:
        _plots(args, model, videos, pooled, fps, g)
    return 0


def _spot_clips(args: argparse.Namespace, model, clips: list[Path], pooled) -> None:
    """Videos and frame folders: extract, spot, proposals in the source's frame numbers, plots."""
    from ..extract import spot_video

    options = options_from_args(args)
    for clip in clips:
        try:
            found, r = spot_video(clip, model, options=options, rgb_weights=args.rgb_weights,
                                  flow_weights=args.flow_weights, progress=True)
        except ImportError as exc:  # an optional dependency: the message says what to install
            raise RuntimeError(str(exc)) from None
        pooled.extend(found)
        if args.plot:  # the plot's time axis is the extracted frames' (source frames when not resampled)
            name = found[0].video if len(found) else clip.stem
            _plots(args, model, [(name, r.features)], found, r.fps, options.stride)


def _plots(args: argparse.Namespace, model, videos, pooled, fps: float, g: int) -> None:
    from ..plot import plot_videos

    gt = None
    if args.annotations:
        from ..data import read_annotations

        gt, _ = read_annotations(args.annotations, fps=fps)
    plot_videos(args.plot, videos, model, pooled, gt, fps=fps, snippet_frames=g, batch_size=args.batch_size)
    print(f"plots of {len(videos)} videos -> {args.plot}")
