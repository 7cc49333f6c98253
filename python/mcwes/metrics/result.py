"""The result of :func:`mcwes.evaluate`: pooled counts per class, the paper's columns, AP/mAP, the
convention line, text table and JSON; and the constants of the protocol."""
from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..proposals import CLASSES, me_max_frames

__all__ = ["EvaluationResult", "ClassCounts", "MATCHING_MODES", "AP_TIOUS", "IOU_THRESHOLD"]

MATCHING_MODES = ("megc", "one_to_one")
#: tIoU thresholds of the AP table (0.1:0.1:0.7), as exact decimal literals.
AP_TIOUS = tuple(round(0.1 * i, 1) for i in range(1, 8))
IOU_THRESHOLD = 0.5


def _safe_div(a: Any, b: Any) -> Any:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return np.divide(a, b, out=np.zeros(np.broadcast(a, b).shape), where=b > 0)


def _f1(tp: Any, fp: Any, fn: Any) -> Any:
    p = _safe_div(tp, np.asarray(tp) + fp)
    r = _safe_div(tp, np.asarray(tp) + fn)
    return _safe_div(2 * p * r, p + r)


@dataclass(frozen=True)
class ClassCounts:
    """Pooled counts of one class (or overall) and the derived precision, recall and F1."""

    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return float(_safe_div(self.tp, self.tp + self.fp))

    @property
    def recall(self) -> float:
        return float(_safe_div(self.tp, self.tp + self.fn))

    @property
    def f1(self) -> float:
        return float(_f1(self.tp, self.fp, self.fn))

    def to_dict(self) -> dict[str, float]:
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn,
                "precision": self.precision, "recall": self.recall, "f1": self.f1}


@dataclass(frozen=True)
class EvaluationResult:
    """What :func:`evaluate` measured. ``counts`` has keys "MaE", "ME", "overall"; ``ap`` maps class →
    {tIoU: AP}; ``map`` is the mean over classes (with GT) and tIoUs."""

    matching: str
    fps: float
    score_threshold: float | None
    n_predictions: int
    n_ground_truth: dict[str, int]
    counts: dict[str, ClassCounts]
    f1_me_05: float
    f1_me_10: float
    f1_me_p: float
    best_threshold: float | None
    best_counts: dict[str, ClassCounts]
    ap: dict[str, dict[float, float]] = field(default_factory=dict)
    map_per_tiou: dict[float, float] = field(default_factory=dict)
    map: float = float("nan")
    iou_threshold: float = IOU_THRESHOLD
    #: Warnings about the inputs (predicted videos missing from the ground truth), also emitted as
    #: :class:`mcwes.checks.MCWESWarning`.
    report: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.counts["overall"].precision

    @property
    def recall(self) -> float:
        return self.counts["overall"].recall

    @property
    def f1(self) -> float:
        return self.counts["overall"].f1

    def convention(self) -> str:
        """One line saying how the numbers were counted."""
        kind = ("MEGC counting (TP = GT hit by >= 1 prediction of its class, FP = max(0, preds - TP) per video)"
                if self.matching == "megc" else "one-to-one greedy matching by score")
        trunc = "all predictions" if self.score_threshold is None else f"predictions with score >= {self.score_threshold:g}"
        return (f"{kind}; IoU >= {self.iou_threshold:g} inclusive on 0-based inclusive frames; counts pooled over "
                f"videos; class of a prediction by duration (ME <= {me_max_frames(self.fps)} frames at "
                f"{self.fps:g} fps); R/P/F1 over {trunc}")

    def table(self) -> str:
        """The paper's columns, per-class counts, the best θ, AP, and the convention, as text."""
        o = self.counts["overall"]
        head = ["F1-ME(0.5)", "F1-ME(1.0)", "F1-ME(p)", "Recall", "Precision", "F1-score"]
        vals = [self.f1_me_05, self.f1_me_10, self.f1_me_p, o.recall, o.precision, o.f1]
        lines = ["  ".join(f"{h:>10}" for h in head), "  ".join(f"{v:>10.3f}" for v in vals), ""]
        lines.append(f"{'class':<8}{'GT':>6}{'TP':>6}{'FP':>7}{'FN':>6}{'Recall':>9}{'Precision':>11}{'F1':>8}")
        for name in (*CLASSES, "overall"):
            c = self.counts[name]
            n_gt = sum(self.n_ground_truth.values()) if name == "overall" else self.n_ground_truth[name]
            lines.append(f"{name:<8}{n_gt:>6}{c.tp:>6}{c.fp:>7}{c.fn:>6}{c.recall:>9.3f}{c.precision:>11.3f}{c.f1:>8.3f}")
        if self.best_threshold is not None:
            b = self.best_counts
            lines.append(f"best overall F1 {b['overall'].f1:.3f} at score >= {self.best_threshold:.6g} "
                         f"(MaE F1 {b['MaE'].f1:.3f}, ME F1 {b['ME'].f1:.3f} = F1-ME(p))")
        if self.ap:
            lines.append("")
            lines.append(f"{'AP@tIoU':<8}" + "".join(f"{t:>7.1f}" for t in AP_TIOUS) + f"{'mean':>8}")
            for name in CLASSES:
                row = [self.ap[name][t] for t in AP_TIOUS]
                lines.append(f"{name:<8}" + "".join(f"{v:>7.3f}" for v in row) + f"{_nanmean(row):>8.3f}")
            lines.append(f"{'mAP':<8}" + "".join(f"{self.map_per_tiou[t]:>7.3f}" for t in AP_TIOUS) + f"{self.map:>8.3f}")
        lines.append("")
        lines.append(f"convention: {self.convention()}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data (NaN → None)."""
        data = {
            "matching": self.matching,
            "iou_threshold": self.iou_threshold,
            "fps": self.fps,
            "score_threshold": self.score_threshold,
            "convention": self.convention(),
            "n_predictions": self.n_predictions,
            "n_ground_truth": dict(self.n_ground_truth),
            "f1_me_05": self.f1_me_05,
            "f1_me_10": self.f1_me_10,
            "f1_me_p": self.f1_me_p,
            "recall": self.recall,
            "precision": self.precision,
            "f1": self.f1,
            "counts": {k: v.to_dict() for k, v in self.counts.items()},
            "best_threshold": self.best_threshold,
            "best_counts": {k: v.to_dict() for k, v in self.best_counts.items()},
            "ap": {c: {f"{t:.1f}": v for t, v in row.items()} for c, row in self.ap.items()},
            "map_per_tiou": {f"{t:.1f}": v for t, v in self.map_per_tiou.items()},
            "map": self.map,
            "warnings": list(self.report),
        }
        return _json_clean(data)

    def to_json(self, path: str | Path | None = None) -> str:
        text = json.dumps(self.to_dict(), indent=2)
        if path is not None:
            Path(path).write_text(text + "\n")
        return text


def _nanmean(values: Sequence[float]) -> float:
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[~np.isnan(arr)]
    return float(arr.mean()) if arr.size else float("nan")


def _json_clean(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _json_clean(v) for k, v in x.items()}
    if isinstance(x, float) and math.isnan(x):
        return None
    return x
