"""``mcwes synth``: write a synthetic spotting dataset shaped like a real one (mcwes.data.synthetic)."""
from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("synth", help="write a synthetic dataset (features + annotations) in the real formats")
    p.add_argument("--preset", default="casme2", choices=["casme2", "samm_lv", "casme3"])
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--feature-dim", type=int, default=1024, help="D per stream (features are 2D wide)")
    p.add_argument("--subjects", type=int, default=None, help="keep the first N subjects of the preset")
    p.add_argument("--frames", type=int, nargs=2, metavar=("MIN", "MAX"), default=None,
                   help="frames per video (default: the preset's range)")
    p.add_argument("--layout", choices=["npy", "npz"], default="npy")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .. import checks
    from ..data import synthetic

    where = "mcwes synth"
    checks.int64_value(args.seed, where, "--seed")
    checks.positive_int(args.feature_dim, where, "--feature-dim")
    if args.subjects is not None:
        checks.positive_int(args.subjects, where, "--subjects")
    if args.frames is not None:
        lo, hi = (checks.positive_int(v, where, "--frames") for v in args.frames)
        if lo > hi:
            checks.fail(where, "--frames MIN MAX", "have MIN <= MAX", f"{lo} {hi}")
        if hi >= checks.FRAME_LIMIT:
            checks.fail(where, "--frames MAX", "be below 2**31", hi)
    checks.output_dir(args.out, where, "--out")

    synth = synthetic.generate(args.preset, seed=args.seed, feature_dim=args.feature_dim,
                               subjects=args.subjects, frames_range=tuple(args.frames) if args.frames else None)
    out = synthetic.write(synth, args.out, layout=args.layout)
    ann = synth.annotations
    print(f"{out}: {len(synth)} videos, {synth.videos['subject'].nunique()} subjects, "
          f"{(ann['type'] == 'MaE').sum()} MaE, {(ann['type'] == 'ME').sum()} ME, "
          f"{synth.fps:g} fps, snippet {synth.snippet_frames} frames, D = {args.feature_dim}")
    return 0
