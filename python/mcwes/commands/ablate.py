"""``mcwes ablate``: the paper's ablation tables as grids of LOSO runs through the launcher (mcwes.ablate).

Example::

    mcwes ablate --table 1 --features feats/ --annotations "CAS(ME)^2code_final.xlsx" --out runs/table1 \\
        --seeds 3 --launcher slurm --jobs 16 --gpus-per-job 1 --partition gpu --time 600
    mcwes ablate --table 4 --window-features 4=feats4 8=feats8 16=feats16 --annotations ... --out runs/table4
"""
from __future__ import annotations

import argparse
from pathlib import Path

from .. import launch
from ..config import Config


def register(subparsers: argparse._SubParsersAction) -> None:
    from ..ablate import TABLES

    p = subparsers.add_parser("ablate", help="the paper's ablation tables: a grid of LOSO runs (cells x seeds)")
    p.add_argument("--table", type=int, required=True, choices=sorted(TABLES),
                   help="; ".join(f"{k}: {v}" for k, v in TABLES.items()))
    p.add_argument("--preset", default="casme2", choices=Config.preset_names(), help="the paper's settings (docs/method.md §8)")
    p.add_argument("--config", type=Path, help="a YAML config (overrides --preset)")
    p.add_argument("--features", type=Path, help="folder of per-video features (every table but 4)")
    p.add_argument("--window-features", nargs="+", type=_window_features, metavar="G=DIR",
                   help="table 4: the features extracted with G-frame windows (mcwes extract --window G --stride G) "
                        "for each snippet duration G, e.g. 4=feats4 8=feats8 16=feats16")
    p.add_argument("--annotations", type=Path, required=True, help="annotation file (xlsx or csv)")
    p.add_argument("--out", type=Path, required=True, help="output folder (one LOSO run per cell and seed, table.csv/json)")
    p.add_argument("--seeds", type=int, default=3, help="seeds per cell: the config's seed + 0, 1, ... (default 3)")
    p.add_argument("--cells", metavar="NAME,NAME", help="only these cells of the table (by the names it prints)")
    p.add_argument("--iterations", type=int, help="training iterations (default: the preset's)")
    p.add_argument("--seed", type=int, help="first seed (default: the preset's)")
    launch.add_arguments(p)
    p.set_defaults(func=run)


def _window_features(text: str) -> tuple[int, Path]:
    g, sep, folder = text.partition("=")
    if not sep or not g.strip().isdigit() or int(g) < 1 or not folder:
        raise argparse.ArgumentTypeError(f"expected G=DIR (frames per window, then the features folder), got {text!r}")
    return int(g), Path(folder)


def run(args: argparse.Namespace) -> int:
    from .. import checks
    from ..ablate import ablate
    from .train import build_config, fit_feature_dim, open_dataset

    windows = dict(args.window_features or [])
    if len(windows) != len(args.window_features or []):
        raise ValueError("mcwes ablate: expected each window size once in --window-features")
    if args.table == 4 and (not windows or args.features is not None):
        raise ValueError("mcwes ablate: table 4 (snippet duration) expected --window-features G=DIR ... instead of "
                         "--features (one feature folder per window size)")
    if args.table != 4 and (windows or args.features is None):
        raise ValueError(f"mcwes ablate: table {args.table} expected --features (--window-features is for table 4)")
    for folder in windows.values() if windows else [args.features]:
        checks.existing_dir(folder, "mcwes ablate", "--window-features" if windows else "--features")
    config = build_config(args)
    g, first = min(windows.items()) if windows else (None, args.features)
    dataset = open_dataset(first, args.annotations, config.replace(data={"snippet_frames": g}) if g else config)
    config = fit_feature_dim(config, [dataset[0]] if len(dataset) else [])
    options = launch.options_from_args(args, "mcwes ablate") or launch.LaunchOptions()
    cells = [c.strip() for c in args.cells.split(",") if c.strip()] if args.cells else None
    result = ablate(args.table, args.features, args.annotations, config, args.out, options, seeds=args.seeds, cells=cells,
                    window_features=windows or None)
    print(result.text())
    print(f"table: {Path(args.out) / 'table.csv'}, {Path(args.out) / 'table.json'}")
    return 0
