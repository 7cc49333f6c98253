"""The entry point, :func:`mcwes.evaluate`: read, sweep, count, AP."""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..checks import warn
from ..proposals import CLASSES, Proposal, me_max_frames
from .ap import _ap_tables
from .parsing import _fail, _read
from .result import MATCHING_MODES, EvaluationResult, _f1
from .sweep import _class_curves, _counts_at, _f1_me_at_duration

__all__ = ["evaluate"]


def evaluate(
    predictions: Sequence[Proposal] | Any,
    ground_truth: Any,
    *,
    fps: float,
    matching: str = "megc",
    score_threshold: float | None = None,
    ap: bool = True,
    videos: Sequence[str] | None = None,
) -> EvaluationResult:
    """Evaluate spotted intervals against ground truth (docs/method.md §5).

    Args:
        predictions: a sequence of :class:`Proposal`, or a DataFrame with columns video, onset,
            offset, score and optionally label ("MaE"/"ME"; derived from the duration at ``fps``
            when absent). 0-based inclusive frames.
        ground_truth: a DataFrame with columns video, onset, offset, type ("MaE"/"ME"; other columns
            ignored), or a sequence of (video, onset, offset, type). 0-based inclusive frames.
        fps: frames per second of the videos (> 0): sets the duration classes.
        matching: "megc" (the organisers' counting, default) or "one_to_one".
        score_threshold: drop predictions scoring below it first (None: keep all).
        ap: also compute AP per class and mAP over tIoU 0.1:0.1:0.7.
        videos: every video the ground truth covers, those without any interval included
            (expression-free videos). Predictions for a video in neither ``ground_truth`` nor
            ``videos`` are reported as a naming mismatch; None: only the ground truth's videos are known.

    Returns:
        An :class:`EvaluationResult`; ``print(result.table())`` shows the paper's columns.

    Raises:
        ValueError: fps ≤ 0, unknown matching, NaN scores, negative or non-integer frames,
            onset > offset, unknown types/labels, missing columns.
    """
    if isinstance(fps, bool) or not isinstance(fps, (int, float, np.number)) or not math.isfinite(fps) or fps <= 0:
        _fail("fps", "be a finite number > 0", repr(fps))
    fps = float(fps)
    if matching not in MATCHING_MODES:
        _fail("matching", f"be one of {MATCHING_MODES}", repr(matching))
    if score_threshold is not None and (isinstance(score_threshold, bool) or not math.isfinite(float(score_threshold))):
        _fail("score_threshold", "be a finite number or None", repr(score_threshold))
    codes: dict[str, int] = {}
    g = _read(ground_truth, "ground_truth", fps, codes)
    n_gt_videos = len(codes)
    p = _read(predictions, "predictions", fps, codes)
    report = _unmatched_videos(p, codes, n_gt_videos, {str(v) for v in videos} if videos is not None else set())
    if score_threshold is not None:
        p = p.take(p.score >= float(score_threshold))

    theta = np.unique(p.score)[::-1]
    curves = _class_curves(theta, p, g, matching)
    last = len(theta) - 1
    counts = _counts_at(curves, last, g)
    overall_f1 = _f1(*(curves[0][i] + curves[1][i] for i in range(3)))
    best_k = int(len(theta) - 1 - np.argmax(overall_f1[::-1])) if len(theta) else -1
    best_counts = _counts_at(curves, best_k, g)
    ap_table, map_per_tiou, mean_ap = _ap_tables(p, g) if ap else ({}, {}, float("nan"))
    return EvaluationResult(
        matching=matching,
        fps=fps,
        score_threshold=None if score_threshold is None else float(score_threshold),
        n_predictions=len(p),
        n_ground_truth={name: int((g.cls == j).sum()) for j, name in enumerate(CLASSES)},
        counts=counts,
        f1_me_05=_f1_me_at_duration(theta, p, g, matching, me_max_frames(fps, 0.5)),
        f1_me_10=_f1_me_at_duration(theta, p, g, matching, me_max_frames(fps, 1.0)),
        f1_me_p=best_counts["ME"].f1,
        best_threshold=float(theta[best_k]) if best_k >= 0 else None,
        best_counts=best_counts,
        ap=ap_table,
        map_per_tiou=map_per_tiou,
        map=mean_ap,
        report=report,
    )


def _unmatched_videos(p: Any, codes: dict[str, int], n_gt_videos: int, known: set[str]) -> list[str]:
    """Warn (and return the warning) when predictions name videos the ground truth does not have
    (and that are not among the ``known`` expression-free videos): every such prediction is a false
    positive, which is almost always a naming mismatch."""
    names = {code: name for name, code in codes.items()}
    outside = (p.video >= n_gt_videos) & ~np.isin(p.video, [codes[v] for v in known if v in codes])
    if not outside.any():
        return []
    missing = sorted({names[int(c)] for c in np.unique(p.video[outside])})
    n_videos = len(np.unique(p.video))
    scope = (f"none of the {n_videos} predicted videos is in the ground truth" if len(missing) == n_videos
             else f"{len(missing)} of the {n_videos} predicted videos are not in the ground truth")
    message = (f"mcwes.evaluate: {scope} ({missing[:5]}{' …' if len(missing) > 5 else ''}; the ground truth has "
               f"{n_gt_videos} videos): their {int(outside.sum())} predictions all count as false positives. Name "
               f"the videos as the ground truth does (mcwes.spot(..., names=[...]) names them video0, video1, … "
               f"otherwise)")
    report: list[str] = []
    warn(message, report)
    return report
