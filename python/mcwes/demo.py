"""``mcwes demo``: the whole method on a synthetic CAS(ME)^2-shaped set, end to end.

Generates the set in the real on-disk formats (per-video ``.npy`` features and a CAS(ME)^2-style
spreadsheet), reads it back with the real loaders, trains MC-WES with leave-one-subject-out over a few
held-out subjects, spots, evaluates the MEGC way, and compares with the raw feature-energy threshold
baseline on the same videos. Writes ``metrics.json``, the predictions and one PNG per test video.
The default recipe finishes in a few minutes on 2 CPU cores; ``full=True`` runs the paper-sized
configuration (all 22 subjects, D = 1024, full-length videos, 1000 iterations, LOSO over every subject).
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Optional

from .config import Config
from .metrics import EvaluationResult, evaluate

__all__ = ["DemoRecipe", "QUICK", "FULL", "DemoResult", "run_demo", "comparison_table"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoRecipe:
    """What the demo generates and how it trains."""

    #: Shape of the synthetic set (subjects, counts, fps, snippet size) and the training preset.
    preset: str = "casme2"
    #: Seed of the generator and of training.
    seed: int = 0
    #: D per stream (the features are 2·D wide).
    feature_dim: int = 64
    #: First N subjects of the preset's table (None: all).
    subjects: Optional[int] = 6
    #: Frames per video, drawn uniformly (None: the preset's real range).
    frames_range: Optional[tuple[int, int]] = (600, 1500)
    #: How many subjects are held out, one LOSO fold each (None: every subject).
    folds: Optional[int] = 2
    #: Training iterations per fold.
    iterations: int = 300
    #: Snippets per training video (SPEC §3 resampling).
    train_snippets: int = 128


QUICK = DemoRecipe()
FULL = DemoRecipe(feature_dim=1024, subjects=None, frames_range=None, folds=None, iterations=1000, train_snippets=250)


@dataclass
class DemoResult:
    mcwes: EvaluationResult
    baseline: EvaluationResult
    folds: list[str]
    seconds: float
    out_dir: Path

    def table(self) -> str:
        return comparison_table({"MC-WES": self.mcwes, "energy baseline": self.baseline})


def comparison_table(results: dict[str, EvaluationResult]) -> str:
    """The paper's columns, one row per method."""
    head = ["F1-ME(0.5)", "F1-ME(1.0)", "F1-ME(p)", "Recall", "Precision", "F1-score"]
    width = max(len(name) for name in results) + 2
    lines = [" " * width + "  ".join(f"{h:>10}" for h in head)]
    for name, r in results.items():
        o = r.counts["overall"]
        vals = [r.f1_me_05, r.f1_me_10, r.f1_me_p, o.recall, o.precision, o.f1]
        lines.append(f"{name:<{width}}" + "  ".join(f"{v:>10.3f}" for v in vals))
    return "\n".join(lines)


def _held_out(dataset: Any, n: Optional[int]) -> list[str]:
    """The subjects to hold out: those with the most ground truth, ME first, so every fold tests both classes."""
    subjects = dataset.subjects()
    if n is None or n >= len(subjects):
        return subjects
    gt = dataset.ground_truth()
    counts = {s: (int(((gt["subject"] == s) & (gt["type"] == "ME")).sum()), int((gt["subject"] == s).sum()))
              for s in subjects}
    return sorted(subjects, key=lambda s: (-counts[s][0], -counts[s][1], s))[:n]


def run_demo(out_dir: str | Path = "demo_out", *, recipe: DemoRecipe = QUICK, device: Optional[str] = None,
             progress: bool = True, plots: bool = True) -> DemoResult:
    """Generate, train (LOSO over the held-out subjects), spot, evaluate, compare; see the module doc."""
    from .data import energy_baseline, load_dataset, synthetic
    from .loso import loso

    start = time.perf_counter()
    out = Path(out_dir)
    root = synthetic.synthesize(recipe.preset, out / "data", seed=recipe.seed, feature_dim=recipe.feature_dim,
                                subjects=recipe.subjects, frames_range=recipe.frames_range)
    dataset = load_dataset(root)
    log.info("demo: %s written to %s and read back", dataset, root)
    config = Config.preset(recipe.preset, model={"feature_dim": recipe.feature_dim},
                           data={"train_snippets": recipe.train_snippets},
                           train={"iterations": recipe.iterations, "seed": recipe.seed})
    folds = _held_out(dataset, recipe.folds)
    result = loso(dataset, config, out / "loso", folds=folds, device=device, progress=progress)
    test = dataset.subset(subjects=folds)
    baseline_preds = energy_baseline(test)
    baseline = evaluate(baseline_preds, test.ground_truth(), fps=dataset.fps)
    baseline_preds.to_csv(out / "baseline_predictions.csv", index=False)
    seconds = time.perf_counter() - start
    demo = DemoResult(result.evaluation, baseline, folds, seconds, out)
    (out / "metrics.json").write_text(json.dumps({
        "recipe": asdict(recipe), "held_out_subjects": folds, "seconds": seconds,
        "mcwes": result.evaluation.to_dict(), "energy_baseline": baseline.to_dict(),
    }, indent=2, default=str))
    if plots:
        _plot_folds(out, dataset, config, folds, result.predictions)
    return demo


def _plot_folds(out: Path, dataset: Any, config: Config, folds: list[str], predictions: Any) -> None:
    from .checkpoint import load_checkpoint
    from .inference import curves
    from .plot import plot_video

    gt = dataset.ground_truth()
    by_video: dict[str, list] = {}
    for p in predictions:
        by_video.setdefault(p.video, []).append(p)
    for subject in folds:
        model, _, _ = load_checkpoint(out / "loso" / "folds" / subject / "checkpoint.pt")
        items = list(dataset.subset(subjects=[subject]))
        for item, (attention, tcam) in zip(items, curves([i.features for i in items], model)):
            plot_video(out / "plots" / f"{item.video}.png", attention, tcam, gt[gt["video"] == item.video],
                       by_video.get(item.video, []), fps=config.data.fps, snippet_frames=config.data.snippet_frames,
                       title=f"{item.video} (held-out subject {subject})")


def with_overrides(recipe: DemoRecipe, **changes: Any) -> DemoRecipe:
    """The recipe with the given fields changed (None values are ignored)."""
    return replace(recipe, **{k: v for k, v in changes.items() if v is not None})
