"""``mcwes extract``: videos or frame folders → two-stream I3D features (docs/extraction.md)."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def _box_or_mode(text: str) -> Any:
    if text in ("none", "detect"):
        return text
    try:
        box = tuple(int(v) for v in text.split(","))
    except ValueError:
        box = ()
    if len(box) != 4:
        raise argparse.ArgumentTypeError(f"expected none, detect or X,Y,WIDTH,HEIGHT, got {text!r}")
    return box


def _steps(text: str) -> Any:
    if text == "none":
        return ()  # native frame rate, even where a preset resamples
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated frame steps such as 6,7,7 (or none), got {text!r}") from None


def add_extract_options(p: argparse.ArgumentParser) -> None:
    """The extraction options shared by ``mcwes extract`` and ``mcwes spot VIDEO``."""
    from ..extract.options import FLOW_BACKENDS, PRESETS  # noqa: PLC0415

    g = p.add_argument_group("feature extraction (videos and frame folders)")
    g.add_argument("--preset", default="casme2", choices=sorted(PRESETS), help="extraction preset (default casme2)")
    g.add_argument("--rgb-weights", type=Path, help="rgb_imagenet.pt (or $MCWES_I3D_RGB_WEIGHTS)")
    g.add_argument("--flow-weights", type=Path, help="flow_imagenet.pt (or $MCWES_I3D_FLOW_WEIGHTS)")
    g.add_argument("--crop", type=_box_or_mode, help="none | detect | X,Y,WIDTH,HEIGHT (default: the preset's)")
    g.add_argument("--flow-backend", choices=FLOW_BACKENDS, help="TV-L1 implementation (default auto)")
    g.add_argument("--flow-bound", type=float, help="clip flow to ±bound pixels")
    g.add_argument("--flow-jpeg", action=argparse.BooleanOptionalAction, default=None,
                   help="reproduce the authors' uint8 JPEG round trip of the flow")
    g.add_argument("--window", type=int, help="frames per I3D window")
    g.add_argument("--stride", type=int, help="frames between windows")
    g.add_argument("--frame-steps", type=_steps, help="resample by cycling frame steps, e.g. 6,7,7 (none: native fps)")
    g.add_argument("--source-fps", type=float, help="frame rate of frame folders (videos carry their own)")
    g.add_argument("--image-size", type=int, help="I3D input side (default 224)")
    g.add_argument("--windows-per-batch", type=int, help="windows per I3D forward")
    g.add_argument("--extract-device", help="torch device for I3D (default: cuda when available)")
    g.add_argument("--fast-i3d", action=argparse.BooleanOptionalAction, default=None,
                   help="fold BatchNorm and merge the 1x1x1 branches of I3D (same features up to float "
                        "rounding, about half the CPU time; default on)")


def options_from_args(args: argparse.Namespace):
    from ..extract import ExtractOptions  # noqa: PLC0415

    fields = {"crop": args.crop, "flow_backend": args.flow_backend, "flow_bound": args.flow_bound,
              "flow_jpeg": args.flow_jpeg, "window": args.window, "stride": args.stride, "fps": args.source_fps,
              "image_size": args.image_size, "batch_size": args.windows_per_batch, "device": args.extract_device,
              "fast_i3d": args.fast_i3d}
    overrides = {k: v for k, v in fields.items() if v is not None}
    if args.frame_steps is not None:
        overrides["frame_steps"] = args.frame_steps or None
    return ExtractOptions.preset(args.preset, **overrides)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "extract", help="extract two-stream I3D features from videos or frame folders",
        description="INPUT: video files, folders of numbered frame images, or folders searched recursively "
                    "for both. Writes <video>.npy [T, 2048] (or -rgb/-flow npz pairs) and manifest.json to "
                    "--out; videos already extracted there are skipped.")
    p.add_argument("inputs", nargs="+", type=Path, metavar="INPUT")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--layout", default="npy", choices=["npy", "npz"], help="output layout (default npy)")
    p.add_argument("--overwrite", action="store_true", help="re-extract everything, even with other settings")
    add_extract_options(p)
    add_launcher_options(p)
    p.set_defaults(func=run)


# ------------------------------------------------------------------ scale-out: shards of videos as jobs


def add_launcher_options(p: argparse.ArgumentParser) -> None:
    """``--launcher local|slurm`` and the other launcher options (docs/scale-out.md), plus ``--shard-size``."""
    from .. import launch  # noqa: PLC0415

    launch.add_arguments(p)
    p.add_argument("--shard-size", type=int, metavar="K",
                   help="with --launcher: videos per job (default 1); each shard writes shards/shard-<k>.json")


def run_launched(args: argparse.Namespace, options: Any) -> dict | None:
    """The extraction through a launcher when one is asked for (None otherwise)."""
    from .. import launch  # noqa: PLC0415

    launched = launch.options_from_args(args, "mcwes extract")
    if launched is None:
        if args.shard_size is not None:
            raise ValueError("mcwes extract: --shard-size splits the videos into jobs; expected --launcher local|slurm with it")
        return None
    return launch.extract(args.inputs, args.out, options, launched, shard_size=args.shard_size or 1,
                          rgb_weights=args.rgb_weights, flow_weights=args.flow_weights, overwrite=args.overwrite)


# ---------------------------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    import dataclasses  # noqa: PLC0415

    from ..extract import extract  # noqa: PLC0415

    options = dataclasses.replace(options_from_args(args), layout=args.layout)
    try:
        manifest = run_launched(args, options)
        if manifest is None:
            manifest = extract(args.inputs, args.out, options, rgb_weights=args.rgb_weights,
                               flow_weights=args.flow_weights, overwrite=args.overwrite)
    except ImportError as exc:  # an optional dependency: the message says what to install
        raise RuntimeError(str(exc)) from None
    print(f"{len(manifest['videos'])} videos -> {args.out} (manifest {args.out / 'manifest.json'})")
    return 0
