"""Cross-validation by subject (docs/method.md §5): :func:`loso`, leave-one-subject-out (one model per held-out
subject, the predictions of all folds pooled and evaluated once), and :func:`split`, its quick
counterpart (one model, a set of held-out subjects). Both are also ``mcwes.loso`` and ``mcwes.split``.

Each fold lives in ``<out>/folds/<subject>/`` (``checkpoint.pt``, ``metrics.jsonl``, ``predictions.csv``,
``fold.json``). A fold whose ``fold.json`` exists is done and is not trained again, so an interrupted
run resumes at the first unfinished fold (a fold interrupted mid-training resumes from its last
checkpoint); ``folds=`` picks a subset of subjects so that folds can be spread over machines and their
``predictions.csv`` merged with ``mcwes evaluate``.
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import pandas as pd

from .config import Config
from .inference import spot_videos
from .metrics import EvaluationResult, evaluate
from .proposals import Proposals, read_proposals_csv, write_proposals_csv

__all__ = ["loso", "LosoResult", "FoldResult", "train_and_spot", "split", "write_health"]

log = logging.getLogger(__name__)


@dataclass
class FoldResult:
    """One held-out subject: its predictions, its own metrics, where its files are."""

    subject: str
    predictions: Proposals
    evaluation: EvaluationResult
    directory: Path
    seconds: float
    reused: bool = False


@dataclass
class LosoResult:
    """The pooled predictions of every fold and their single evaluation."""

    predictions: Proposals
    evaluation: EvaluationResult
    folds: list[FoldResult] = field(default_factory=list)

    def table(self) -> str:
        return self.evaluation.table()


def train_and_spot(config: Config, train_set: Any, test_set: Any, directory: Union[str, Path, None] = None, *,
                   device: Optional[str] = None, progress: bool = True, kernels: bool | None = None) -> tuple[Any, Proposals]:
    """Train on ``train_set``, spot every video of ``test_set``; returns ``(model, predictions)``.

    With a ``directory``, the run's checkpoint and metrics go there, and a checkpoint left by an
    interrupted run is resumed instead of starting again.
    """
    from .train import Trainer

    items = list(train_set)
    ckpt = Path(directory) / "checkpoint.pt" if directory is not None else None
    if ckpt is not None and ckpt.exists():
        trainer = Trainer.resume(ckpt, items, device=device, progress=progress)
        log.info("resuming %s at iteration %d", ckpt, trainer.iteration)
    else:
        trainer = Trainer(config, items, device=device, out_dir=directory, progress=progress, kernels=kernels)
    model = trainer.fit()
    if directory is not None:
        trainer.save()
    return model, spot_dataset(model, test_set, config)


def spot_dataset(model: Any, dataset: Any, config: Config) -> Proposals:
    """Proposals for every video of a dataset, pooled into one list (one batched call per 64 videos)."""
    videos = list(dataset)
    return spot_videos([v.features for v in videos], model, names=[v.video for v in videos],
                       n_frames=[int(v.n_frames) for v in videos], fps=config.data.fps,
                       snippet_frames=config.data.snippet_frames)


def loso(dataset: Any, config: Config, out_dir: Union[str, Path], *, folds: Optional[Sequence[str]] = None,
         device: Optional[str] = None, progress: bool = True, kernels: bool | None = None,
         probe: bool = False) -> LosoResult:
    """Leave-one-subject-out training, spotting and one pooled evaluation.

    Args:
        dataset: a :class:`mcwes.data.SpottingDataset`.
        config: the run's configuration (``config.data`` must match the dataset's fps and snippet size).
        out_dir: where the folds, the pooled ``predictions.csv`` and ``metrics.json`` go.
        folds: subjects to hold out (default: every subject); pooled metrics cover these only.
        device: torch device (default: CUDA when available).
        probe: also train the multiple-instance probe for each fold's training-health report
            (``health.json``; :mod:`mcwes.health`).
    """
    chosen = _check_folds(dataset, config, folds)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    config.to_yaml(out / "config.yaml")
    results = [_run_fold(dataset, config, out / "folds" / subject, [subject], device, progress, kernels, probe)
               for subject in chosen]
    return _pool(config, dataset, chosen, results, out)


def _check_folds(dataset: Any, config: Config, folds: Optional[Sequence[str]], op: str = "mcwes.loso") -> list[str]:
    subjects = dataset.subjects()
    chosen = list(subjects if folds is None else folds)
    unknown = sorted(set(chosen) - set(subjects))
    if unknown:
        raise ValueError(f"{op}: expected folds among the dataset's subjects {subjects}, got {unknown}")
    if not chosen:
        raise ValueError(f"{op}: expected at least one fold, got none")
    if abs(float(dataset.fps) - config.data.fps) > 1e-9 or int(dataset.snippet_frames) != config.data.snippet_frames:
        raise ValueError(f"{op}: the dataset has fps {dataset.fps} and {dataset.snippet_frames}-frame snippets, "
                         f"the config {config.data.fps} and {config.data.snippet_frames}")
    return chosen


def _pool(config: Config, dataset: Any, chosen: Sequence[str], results: list[FoldResult], out: Path) -> LosoResult:
    pooled = Proposals(p for r in results for p in r.predictions)
    gt = _ground_truth(dataset, chosen)
    evaluation = evaluate(pooled, gt, fps=config.data.fps, videos=_videos(dataset, chosen))
    write_proposals_csv(out / "predictions.csv", pooled)
    (out / "metrics.json").write_text(json.dumps({
        "pooled": evaluation.to_dict(),
        "folds": {r.subject: {"seconds": r.seconds, "reused": r.reused, **r.evaluation.to_dict()} for r in results},
    }, indent=2, default=_json_default))
    return LosoResult(pooled, evaluation, results)


def split(dataset: Any, config: Config, out_dir: Union[str, Path], *, folds: Sequence[str],
          device: Optional[str] = None, progress: bool = True, kernels: bool | None = None,
         probe: bool = False) -> LosoResult:
    """A subject-disjoint split: ONE model trained on every subject not in ``folds``, tested on all of them.

    The quick counterpart of :func:`loso` (one training run instead of one per held-out subject; the
    test subjects are still never seen in training). Same outputs under ``out_dir``: ``model/``
    (checkpoint, metrics, its ``predictions.csv``; resumed or reused like a LOSO fold), the pooled
    ``predictions.csv`` and ``metrics.json``. The result has one :class:`FoldResult` named after the
    held-out subjects joined by ``+``.
    """
    chosen = _check_folds(dataset, config, folds, "mcwes.split")
    if len(chosen) == len(dataset.subjects()):
        raise ValueError(f"mcwes.split: expected some subjects left for training, got all {len(chosen)} held out")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    config.to_yaml(out / "config.yaml")
    result = _run_fold(dataset, config, out / "model", chosen, device, progress, kernels, probe)
    return _pool(config, dataset, chosen, [result], out)


def _run_fold(dataset: Any, config: Config, directory: Path, held_out: Sequence[str], device: Optional[str],
              progress: bool, kernels: bool | None, probe: bool = False) -> FoldResult:
    done = directory / "fold.json"
    subject = "+".join(held_out)
    train_set, test_set = dataset.split(list(held_out))
    gt = _ground_truth(dataset, held_out)
    if done.exists():
        predictions = read_proposals_csv(directory / "predictions.csv", fps=config.data.fps)
        info = json.loads(done.read_text())
        log.info("fold %s already done (%s): reusing its predictions", subject, done)
        return FoldResult(subject, predictions, evaluate(predictions, gt, fps=config.data.fps,
                                                         videos=_videos(dataset, held_out)), directory,
                          float(info.get("seconds", 0.0)), reused=True)
    directory.mkdir(parents=True, exist_ok=True)
    log.info("fold %s: training on %d videos, testing on %d", subject, len(train_set), len(test_set))
    start = time.perf_counter()
    model, predictions = train_and_spot(config, train_set, test_set, directory, device=device, progress=progress,
                                        kernels=kernels)
    seconds = time.perf_counter() - start
    write_health(model, train_set, test_set, directory, label=f"fold {subject}", probe=probe)
    write_proposals_csv(directory / "predictions.csv", predictions)
    evaluation = evaluate(predictions, gt, fps=config.data.fps, videos=_videos(dataset, held_out))
    (directory / "metrics.json").write_text(json.dumps(evaluation.to_dict(), indent=2, default=_json_default))
    done.write_text(json.dumps({"subject": subject, "seconds": seconds, "videos": len(test_set)}))
    return FoldResult(subject, predictions, evaluation, directory, seconds)


def write_health(model: Any, train_set: Any, test_set: Any, directory: Union[str, Path], *, label: str = "",
                 probe: bool = False) -> Any:
    """The run's :class:`~mcwes.health.HealthReport` (from its ``metrics.jsonl``), written to
    ``directory/health.json``; its warnings are logged. Returns the report."""
    from .health import diagnose

    directory = Path(directory)
    metrics = directory / "metrics.jsonl"
    records = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()] if metrics.exists() else []
    report = diagnose(model, train_set, test_set if test_set is not None and len(test_set) else None,
                      records=records, probe=probe)
    (directory / "health.json").write_text(json.dumps(report.to_dict(), indent=2))
    for warning in report.warnings:
        log.warning("%s: %s", label or directory, warning)
    return report


def _videos(dataset: Any, subjects: Sequence[str]) -> list[str]:
    """Every video of these subjects, expression-free ones included."""
    info = dataset.info
    return sorted(set(info.loc[info["subject"].astype(str).isin([str(s) for s in subjects]), "video"]))


def _ground_truth(dataset: Any, subjects: Sequence[str]) -> pd.DataFrame:
    gt = dataset.ground_truth()
    return gt[gt["video"].isin(set(_videos(dataset, subjects)))].reset_index(drop=True)


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
