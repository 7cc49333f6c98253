"""``mcwes ablate``: the paper's ablation tables as grids of LOSO runs through the launcher (mcwes.ablate).

Example::

    mcwes ablate --table 1 --features feats/ --annotations "CAS(ME)^2code_final.xlsx" --out runs/table1 \\
        --seeds 3 --launcher slurm --jobs 16 --gpus-per-job 1 --partition gpu --time 600
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
    p.add_argument("--features", type=Path, required=True, help="folder of per-video features")
    p.add_argument("--annotations", type=Path, required=True, help="annotation file (xlsx or csv)")
    p.add_argument("--out", type=Path, required=True, help="output folder (one LOSO run per cell and seed, table.csv/json)")
    p.add_argument("--seeds", type=int, default=3, help="seeds per cell: the config's seed + 0, 1, ... (default 3)")
    p.add_argument("--cells", metavar="NAME,NAME", help="only these cells of the table (by the names it prints)")
    p.add_argument("--iterations", type=int, help="training iterations (default: the preset's)")
    p.add_argument("--seed", type=int, help="first seed (default: the preset's)")
    launch.add_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..ablate import ablate
    from .train import build_config, fit_feature_dim, open_dataset

    config = build_config(args)
    dataset = open_dataset(args.features, args.annotations, config)
    config = fit_feature_dim(config, [dataset[0]] if len(dataset) else [])
    options = launch.options_from_args(args, "mcwes ablate") or launch.LaunchOptions()
    cells = [c.strip() for c in args.cells.split(",") if c.strip()] if args.cells else None
    result = ablate(args.table, args.features, args.annotations, config, args.out, options, seeds=args.seeds, cells=cells)
    print(result.text())
    print(f"table: {Path(args.out) / 'table.csv'}, {Path(args.out) / 'table.json'}")
    return 0
