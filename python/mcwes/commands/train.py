"""``mcwes train``: train one MC-WES model (optionally one LOSO fold) from features and annotations.

Example::

    mcwes train --preset casme2 --features feats/ --annotations "CAS(ME)^2code_final.xlsx" \\
        --out runs/s15 --holdout s15

writes ``runs/s15/config.yaml``, ``metrics.jsonl`` and ``checkpoint.pt``.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

from .. import launch
from ..config import Config

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train", help="train an MC-WES model (one LOSO fold with --holdout)")
    p.add_argument("--preset", default="casme2", choices=Config.preset_names(), help="the paper's settings (docs/method.md §8)")
    p.add_argument("--config", type=Path, help="a YAML config (overrides --preset)")
    p.add_argument("--features", type=Path, required=True, help="folder of per-video features")
    p.add_argument("--annotations", type=Path, required=True, help="annotation file (xlsx or csv)")
    p.add_argument("--videos", type=Path, metavar="FILE",
                   help="video table CSV (video,subject[,n_frames]; the videos.csv that `mcwes synth` writes): "
                        "its videos are trained on even without an annotated expression (labels 0, 0)")
    p.add_argument("--out", type=Path, required=True, help="output folder (config, metrics log, checkpoint)")
    p.add_argument("--iterations", type=int, help="training iterations (default: the preset's)")
    p.add_argument("--device", help="torch device, e.g. cpu or cuda:0 (default: CUDA when available)")
    p.add_argument("--seed", type=int, help="random seed (default: the preset's)")
    p.add_argument("--holdout", metavar="SUBJECT", help="leave this subject out (one LOSO fold)")
    p.add_argument("--loso", action="store_true",
                   help="leave-one-subject-out: one model per subject, pooled predictions evaluated once "
                        "(an interrupted run resumes at the first unfinished fold)")
    p.add_argument("--folds", metavar="S1,S2,...",
                   help="with --loso: only these held-out subjects (spread folds over machines; merge their "
                        "predictions.csv with mcwes evaluate)")
    p.add_argument("--probe", action="store_true",
                   help="also train the multiple-instance probe for the training-health report (health.json): "
                        "is the data learnable from video-level labels? (docs/training-health.md)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    launch.add_arguments(p)
    p.set_defaults(func=run)


def open_dataset(features_dir: Path, annotations_file: Path, config: Config,
                 videos_file: Optional[Path] = None):
    """The :class:`mcwes.data.SpottingDataset` of the command's files, with the config's fps and snippet size.

    D is not imposed here: :func:`fit_feature_dim` takes it from the features. ``videos_file``: the
    video table (every video in it is a training video, with or without annotated expressions).
    """
    from ..data import SpottingDataset

    preset = config.preset_name if config.preset_name in Config.preset_names() else None
    return SpottingDataset(features_dir, annotations_file, fps=config.data.fps,
                           snippet_frames=config.data.snippet_frames, preset=preset, videos=videos_file)


def load_training_items(features_dir: Path, annotations_file: Path, config: Config,
                        videos_file: Optional[Path] = None) -> list:
    """The training videos (the dataset's items) read from the command's files."""
    return list(open_dataset(features_dir, annotations_file, config, videos_file))


def check_args(args: argparse.Namespace) -> None:
    """Every argument, before any file is read or written."""
    from .. import checks

    where = "mcwes train"
    checks.training_arguments(args, where)
    if not args.features.exists():
        checks.existing_dir(args.features, where, "--features")
    checks.existing_file(args.annotations, where, "--annotations")
    if args.videos is not None:
        checks.existing_file(args.videos, where, "--videos")
    if args.config is not None:
        checks.existing_file(args.config, where, "--config")
    checks.output_dir(args.out, where, "--out")
    if args.folds and not args.loso:
        raise ValueError("mcwes train: --folds selects LOSO folds; expected it together with --loso")
    if args.loso and args.holdout:
        raise ValueError("mcwes train: --holdout trains one fold; with --loso use --folds instead")


def build_config(args: argparse.Namespace) -> Config:
    """The preset (or YAML config) with the command-line overrides applied."""
    config = Config.from_yaml(args.config) if args.config else Config.preset(args.preset)
    train = {k: v for k, v in (("iterations", args.iterations), ("seed", args.seed)) if v is not None}
    return config.replace(train=train) if train else config


def fit_feature_dim(config: Config, items: Sequence) -> Config:
    """The config with ``model.feature_dim`` set to the data's D (half the features' width) when they differ."""
    if not items:
        return config
    width = int(getattr(items[0].features, "shape", (0, 0))[-1])
    if width % 2 == 0 and width // 2 != config.model.feature_dim:
        log.info("mcwes train: features have 2D = %d channels; using model.feature_dim = %d", width, width // 2)
        return config.replace(model={"feature_dim": width // 2})
    return config


def select_fold(items: Sequence, holdout: Optional[str]) -> list:
    """All items, or those whose subject is not ``holdout`` (a ValueError names unknown subjects)."""
    if holdout is None:
        return list(items)
    subjects = sorted({str(item.subject) for item in items})
    if holdout not in subjects:
        raise ValueError(f"mcwes train: expected --holdout to name a subject of the dataset {subjects}, got {holdout!r}")
    return [item for item in items if str(item.subject) != holdout]


def train_items(items: Sequence, config: Config, out_dir: Path, *, device: Optional[str] = None,
                holdout: Optional[str] = None, progress: bool = True, probe: bool = False) -> Path:
    """Train on ``items`` (minus the held-out subject) and return the checkpoint path."""
    from ..crossval import write_health
    from ..train import Trainer

    fold = select_fold(items, holdout)
    config = fit_feature_dim(config, fold)
    log.info("mcwes train: %d training videos%s", len(fold), f" (subject {holdout} held out)" if holdout else "")
    trainer = Trainer(config, fold, device=device, out_dir=out_dir, progress=progress)
    model = trainer.fit()  # writes out_dir/checkpoint.pt at the end
    held_out = [item for item in items if holdout is not None and str(item.subject) == holdout]
    report = write_health(model, fold, held_out or None, out_dir, label="mcwes train", probe=probe)
    print(report.text(), file=sys.stderr)
    return Path(out_dir) / "checkpoint.pt"


def run(args: argparse.Namespace) -> int:
    check_args(args)
    config = build_config(args)
    options = launch.options_from_args(args, "mcwes train")
    if options is not None and not args.loso:
        raise ValueError("mcwes train: a launcher runs LOSO folds as jobs; expected --loso with --launcher")
    if args.loso:
        return run_loso(args, config, options)
    items = load_training_items(args.features, args.annotations, config, args.videos)
    path = train_items(items, config, args.out, device=args.device, holdout=args.holdout,
                       progress=not args.no_progress, probe=args.probe)
    print(path)
    return 0


def run_loso(args: argparse.Namespace, config: Config, options: Optional[launch.LaunchOptions] = None) -> int:
    from ..crossval import loso

    if args.holdout:
        raise ValueError("mcwes train: --holdout trains one fold; with --loso use --folds instead")
    dataset = open_dataset(args.features, args.annotations, config, args.videos)
    config = fit_feature_dim(config, [dataset[0]] if len(dataset) else [])
    folds = [s.strip() for s in args.folds.split(",") if s.strip()] if args.folds else None
    if options is None:
        result = loso(dataset, config, args.out, folds=folds, device=args.device, progress=not args.no_progress,
                      probe=args.probe)
    else:
        result = launch.loso(args.features, args.annotations, config, args.out, options, folds=folds,
                             device=args.device, probe=args.probe)
    for fold in result.folds:
        health = Path(fold.directory) / "health.json"
        if health.exists():
            warnings = json.loads(health.read_text()).get("warnings", [])
            print(f"fold {fold.subject}: " + ("; ".join(warnings) if warnings else "training healthy"), file=sys.stderr)
    print(result.table())
    print(f"pooled predictions: {Path(args.out) / 'predictions.csv'}; metrics: {Path(args.out) / 'metrics.json'}")
    return 0
