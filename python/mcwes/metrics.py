"""MEGC spotting evaluation (SPEC §5, paper §4.2): counts, P/R/F1 per class, the paper's three ME
F1-scores, and AP/mAP over tIoU 0.1:0.1:0.7.

Conventions (printed by :meth:`EvaluationResult.table`):

* Intervals are 0-based frames, inclusive on both ends; ``IoU = inter / union`` with
  ``inter = max(0, min(e1, e2) − max(s1, s2) + 1)`` and ``union = len1 + len2 − inter``; a hit is
  ``IoU ≥ 0.5`` (inclusive).
* ``matching="megc"`` (default, the MEGC2020 organisers' baseline): per video and class,
  ``TP`` = number of GT intervals hit by at least one prediction of that class, ``FP = max(0,
  #predictions − TP)`` (the clamp only matters when one prediction hits two GT intervals, which
  would otherwise give a negative FP), ``FN = #GT − TP``.
  ``matching="one_to_one"``: greedy by score (ties: lower onset, then lower offset), each
  prediction takes the unmatched GT of its class with the largest IoU ≥ 0.5 (ties: lower onset);
  ``TP`` = matches.
* Counts are pooled over all videos (videos without GT add their predictions as FP) before
  ``P = TP/(TP+FP)``, ``R = TP/(TP+FN)``, ``F1 = 2PR/(P+R)`` (0 when undefined). Overall = MaE +
  ME counts. A prediction's class is its ``label`` (by duration: ME if ``length ≤ floor(0.5·fps)``).
* ``F1-ME(p)``: sweep θ over the predictions' distinct scores (keep score ≥ θ); θ* maximises the
  overall F1 (ties: the smallest θ, i.e. the most predictions); ME F1 at θ*.
  ``F1-ME(0.5)`` / ``F1-ME(1.0)``: max over θ of the ME F1 when ME predictions are those of
  length ≤ floor(0.5·fps) / ≤ floor(fps) frames.
* AP: per class and tIoU, predictions ranked by score, one-to-one greedy matching at IoU ≥ tIoU,
  VOC all-point interpolated AP (area under the monotone precision envelope, as ActivityNet). A
  class without GT has AP = NaN and is left out of the mAP.

The threshold sweep never loops over thresholds: whether a GT is a TP at θ depends only on the
score of its best hitting prediction (MEGC) or of its greedy match (one-to-one: greedy by score makes
the matching at θ a prefix of the full one), so every count curve is a cumulative sum over events
sorted by score: O(N log N) in all.
"""
from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .proposals import CLASSES, Proposal, me_max_frames

__all__ = ["evaluate", "EvaluationResult", "ClassCounts", "MATCHING_MODES", "AP_TIOUS"]

log = logging.getLogger(__name__)

MATCHING_MODES = ("megc", "one_to_one")
#: tIoU thresholds of the AP table (0.1:0.1:0.7), as exact decimal literals.
AP_TIOUS = tuple(round(0.1 * i, 1) for i in range(1, 8))
IOU_THRESHOLD = 0.5
_ME, _MAE = CLASSES.index("ME"), CLASSES.index("MaE")


def _fail(arg: str, expectation: str, got: object) -> None:
    raise ValueError(f"mcwes.evaluate: expected {arg} to {expectation}, got {got}")


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


# ----------------------------------------------------------------------------------------------
# Inputs → arrays


@dataclass
class _Intervals:
    """Intervals as arrays: video code, onset, offset, class index (0 MaE, 1 ME), score (preds)."""

    video: np.ndarray
    onset: np.ndarray
    offset: np.ndarray
    cls: np.ndarray
    score: np.ndarray

    @property
    def length(self) -> np.ndarray:
        return self.offset - self.onset + 1

    def take(self, mask: np.ndarray) -> "_Intervals":
        return _Intervals(self.video[mask], self.onset[mask], self.offset[mask], self.cls[mask], self.score[mask])

    def __len__(self) -> int:
        return len(self.onset)


def _is_frame(x: Any) -> bool:
    return hasattr(x, "columns") and hasattr(x, "to_dict")


def _columns(obj: Any, what: str, required: Sequence[str]) -> dict[str, np.ndarray]:
    """Columns of a DataFrame, or of a sequence of Proposal (predictions) / tuples (ground truth)."""
    if _is_frame(obj):
        missing = [c for c in required if c not in obj.columns]
        if missing:
            _fail(what, f"have columns {', '.join(required)}", f"columns {list(obj.columns)}")
        return {c: obj[c].to_numpy() for c in obj.columns}
    rows = list(obj)
    if what == "predictions":
        if rows and not all(isinstance(r, Proposal) for r in rows):
            bad = next(r for r in rows if not isinstance(r, Proposal))
            _fail(what, "be a DataFrame or a sequence of mcwes.Proposal", type(bad).__name__)
        names = ("video", "onset", "offset", "score", "label")
        return {n: np.asarray([getattr(r, n) for r in rows], dtype=object) for n in names}
    for i, r in enumerate(rows):
        if not isinstance(r, (tuple, list)) or len(r) != 4:
            _fail(f"{what} row {i}", "be a (video, onset, offset, type) tuple", repr(r))
    return {n: np.asarray([r[j] for r in rows], dtype=object) for j, n in enumerate(("video", "onset", "offset", "type"))}


def _frames(values: np.ndarray, what: str, name: str, videos: np.ndarray) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        _fail(f"{what} {name}", "hold integer frame indices", f"non-numeric values ({values[:3].tolist()} ...)")
    bad = ~np.isfinite(arr) | (arr != np.round(arr)) | (arr < 0) | (arr >= 2.0**31)
    if bad.any():
        i = int(np.argmax(bad))
        _fail(f"{what} {name}", "hold integer frame indices >= 0 and < 2**31", f"{values[i]!r} in row {i} (video {videos[i]!r})")
    return arr.astype(np.int64)


def _classes(values: np.ndarray, what: str, column: str) -> np.ndarray:
    cls = np.full(len(values), -1, dtype=np.int64)
    for j, name in enumerate(CLASSES):
        cls[values == name] = j
    if (cls < 0).any():
        i = int(np.argmax(cls < 0))
        _fail(f"{what} {column}", f"be one of {CLASSES}", f"{values[i]!r} in row {i}")
    return cls


def _read(obj: Any, what: str, fps: float, video_codes: dict[str, int]) -> _Intervals:
    pred = what == "predictions"
    cols = _columns(obj, what, ("video", "onset", "offset", "score") if pred else ("video", "onset", "offset", "type"))
    videos = np.asarray([str(v) for v in cols["video"]], dtype=object)
    onset = _frames(cols["onset"], what, "onset", videos)
    offset = _frames(cols["offset"], what, "offset", videos)
    if (onset > offset).any():
        i = int(np.argmax(onset > offset))
        _fail(f"{what} row {i} (video {videos[i]!r})", "have onset <= offset", f"onset={onset[i]}, offset={offset[i]}")
    if pred:
        try:
            score = np.asarray(cols["score"], dtype=np.float64)
        except (TypeError, ValueError):
            _fail("predictions score", "hold numbers", f"{cols['score'][:3].tolist()} ...")
        if np.isnan(score).any():
            i = int(np.argmax(np.isnan(score)))
            _fail("predictions score", "hold no NaN", f"NaN in row {i} (video {videos[i]!r})")
        by_duration = np.where(offset - onset + 1 <= me_max_frames(fps), _ME, _MAE)
        label = cols.get("label")
        if label is None or (len(label) and all(v is None or v != v for v in label)):
            cls = by_duration
        else:
            cls = _classes(label, what, "label")
            n_diff = int((cls != by_duration).sum())
            if n_diff:
                log.warning("mcwes.evaluate: %d prediction labels differ from their duration class at %g fps; "
                            "the labels are used", n_diff, fps)
    else:
        score = np.zeros(len(onset))
        cls = _classes(np.asarray(cols["type"], dtype=object), what, "type")
    codes = np.asarray([video_codes.setdefault(v, len(video_codes)) for v in videos], dtype=np.int64)
    return _Intervals(codes, onset, offset, cls, score)


# ----------------------------------------------------------------------------------------------
# Matching


def _pairs(p: _Intervals, g: _Intervals, p_group: np.ndarray, g_group: np.ndarray, thr: float
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All (prediction, GT) pairs of the same group with IoU ≥ thr > 0: index arrays and IoU."""
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))
    if len(p) == 0 or len(g) == 0:
        return empty
    n_groups = int(max(p_group.max(), g_group.max())) + 1
    stride = int(max(p.offset.max(), g.offset.max())) + 2
    order = np.lexsort((g.onset, g_group))
    key = g_group[order] * stride + g.onset[order]
    max_len = np.zeros(n_groups, dtype=np.int64)
    np.maximum.at(max_len, g_group, g.length)
    # Candidates of a prediction: GT of its group starting in [onset − max_len + 1, offset] (overlaps).
    low = np.maximum(p.onset - max_len[p_group] + 1, 0)
    lo = np.searchsorted(key, p_group * stride + low, side="left")
    hi = np.searchsorted(key, p_group * stride + p.offset, side="right")
    counts = hi - lo
    total = int(counts.sum())
    if total == 0:
        return empty
    pi = np.repeat(np.arange(len(p)), counts)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    gi = order[np.repeat(lo, counts) + np.arange(total) - starts]
    inter = np.minimum(p.offset[pi], g.offset[gi]) - np.maximum(p.onset[pi], g.onset[gi]) + 1
    inter = np.maximum(inter, 0)
    iou = inter / (p.length[pi] + g.length[gi] - inter)
    keep = iou >= thr
    return pi[keep], gi[keep], iou[keep]


def _rank(p: _Intervals) -> np.ndarray:
    """Position of every prediction in the greedy order: score desc, then onset, offset, video."""
    # Integer tie keys first, then a stable sort by score (much faster than lexsort with a float key).
    tie = np.lexsort((p.video, p.offset, p.onset)) if len(p) else np.zeros(0, np.int64)
    order = tie[np.argsort(-p.score[tie], kind="stable")]
    rank = np.empty(len(p), dtype=np.int64)
    rank[order] = np.arange(len(p))
    return rank


def _greedy_match(pi: np.ndarray, gi: np.ndarray, iou: np.ndarray, rank: np.ndarray, g_onset: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Greedy one-to-one matching: predictions in rank order each take their best unmatched GT.

    That is sequential greedy matching over the pairs sorted by (rank, −IoU, GT index), which equals
    the parallel "locally dominant pair" matching: every round, a pair that is the first remaining
    pair of both its prediction and its GT is matched (at least the first remaining pair is), and
    the pairs of matched predictions and GTs drop out. Rounds ≤ the longest chain of conflicts.
    IoU ties go to the GT with the lower onset (then the lower index).
    """
    order = np.lexsort((gi, g_onset[gi], -iou, rank[pi]))
    pi, gi = pi[order], gi[order]
    matched_p, matched_g = [], []
    alive = np.ones(len(pi), dtype=bool)
    while alive.any():
        idx = np.flatnonzero(alive)
        p_alive, g_alive = pi[idx], gi[idx]
        first_of_p = np.ones(len(idx), dtype=bool)
        first_of_p[1:] = p_alive[1:] != p_alive[:-1]
        _, g_first = np.unique(g_alive, return_index=True)
        first_of_g = np.zeros(len(idx), dtype=bool)
        first_of_g[g_first] = True
        win = first_of_p & first_of_g
        wp, wg = p_alive[win], g_alive[win]
        matched_p.append(wp)
        matched_g.append(wg)
        dead_p = np.zeros(int(pi.max()) + 1, dtype=bool)
        dead_p[wp] = True
        dead_g = np.zeros(int(gi.max()) + 1, dtype=bool)
        dead_g[wg] = True
        alive[idx] = ~(dead_p[p_alive] | dead_g[g_alive])
    if not matched_p:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(matched_p), np.concatenate(matched_g)


def _tp_events(p: _Intervals, g: _Intervals, matching: str, thr: float = IOU_THRESHOLD
               ) -> tuple[np.ndarray, np.ndarray]:
    """(GT index, score at which it becomes a TP) for every GT that is a TP at some θ.

    Groups are (video, class): predictions only hit GT of their own class.
    """
    p_group, g_group = p.video * 2 + p.cls, g.video * 2 + g.cls
    pi, gi, iou = _pairs(p, g, p_group, g_group, thr)
    if matching == "megc":
        best = np.full(len(g), -np.inf)
        np.maximum.at(best, gi, p.score[pi])
        hit = np.flatnonzero(np.isfinite(best))
        return hit, best[hit]
    mp, mg = _greedy_match(pi, gi, iou, _rank(p), g.onset)
    return mg, p.score[mp]


# ----------------------------------------------------------------------------------------------
# Threshold sweep


def _group_cumsum(sorted_group: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Cumulative sum of x restarting at every change of sorted_group."""
    cs = np.cumsum(x)
    start = np.ones(len(x), dtype=bool)
    start[1:] = sorted_group[1:] != sorted_group[:-1]
    first = np.maximum.accumulate(np.where(start, np.arange(len(x)), 0))
    return cs - (cs[first] - x[first])


def _curves(theta: np.ndarray, p: _Intervals, g: _Intervals, tp_gt: np.ndarray, tp_score: np.ndarray, cls: int
            ) -> tuple[np.ndarray, np.ndarray]:
    """TP(θ_k), FP(θ_k) of one class for every θ_k in theta (descending), counting score ≥ θ_k.

    FP per (video) is max(0, #preds − TP); its changes are summed by threshold (telescoping per video).
    """
    K = len(theta)
    pm = p.cls == cls
    gm = g.cls[tp_gt] == cls
    pv, ps = p.video[pm], p.score[pm]
    tv, ts = g.video[tp_gt[gm]], tp_score[gm]
    if K == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    video = np.concatenate([pv, tv])
    score = np.concatenate([ps, ts])
    is_tp = np.concatenate([np.zeros(len(ps), np.int64), np.ones(len(ts), np.int64)])
    order = np.lexsort((is_tp, -score, video))
    video, score, is_tp = video[order], score[order], is_tp[order]
    n_cum = _group_cumsum(video, 1 - is_tp)
    tp_cum = _group_cumsum(video, is_tp)
    fp = np.maximum(n_cum - tp_cum, 0)
    prev = np.zeros(len(fp), dtype=np.int64)
    same = np.zeros(len(fp), dtype=bool)
    same[1:] = video[1:] == video[:-1]
    prev[1:] = np.where(same[1:], fp[:-1], 0)
    k = np.searchsorted(-theta, -score, side="left")
    fp_curve = np.cumsum(np.bincount(k, weights=fp - prev, minlength=K)).round().astype(np.int64)
    tp_curve = np.cumsum(np.bincount(k, weights=is_tp, minlength=K)).round().astype(np.int64)
    return tp_curve, fp_curve


def _class_curves(theta: np.ndarray, p: _Intervals, g: _Intervals, matching: str
                  ) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """For each class: TP, FP, FN curves over theta."""
    tp_gt, tp_score = _tp_events(p, g, matching)
    out = {}
    for c in range(len(CLASSES)):
        tp, fp = _curves(theta, p, g, tp_gt, tp_score, c)
        out[c] = (tp, fp, int((g.cls == c).sum()) - tp)
    return out


def _f1_me_at_duration(theta: np.ndarray, p: _Intervals, g: _Intervals, matching: str, max_frames: int) -> float:
    """max over θ of the ME F1 when ME predictions are those of length ≤ max_frames."""
    me_p = p.take(p.length <= max_frames)
    me_p.cls = np.full(len(me_p), _ME)
    me_g = g.take(g.cls == _ME)
    if len(me_p) == 0 or len(theta) == 0:
        return 0.0
    tp, fp, fn = _class_curves(theta, me_p, me_g, matching)[_ME]
    return float(_f1(tp, fp, fn).max())


# ----------------------------------------------------------------------------------------------
# AP


def _average_precisions(p: _Intervals, g: _Intervals, cls: int) -> dict[float, float]:
    """VOC all-point interpolated AP of one class at every tIoU (one-to-one greedy matching by score).

    The ranking and the candidate pairs (at the lowest tIoU) are computed once and reused.
    """
    pc, gc = p.take(p.cls == cls), g.take(g.cls == cls)
    if len(gc) == 0:
        return {t: float("nan") for t in AP_TIOUS}
    if len(pc) == 0:
        return {t: 0.0 for t in AP_TIOUS}
    rank = _rank(pc)
    order = np.argsort(rank)
    pi, gi, iou = _pairs(pc, gc, pc.video, gc.video, min(AP_TIOUS))
    out = {}
    for t in AP_TIOUS:
        keep = iou >= t
        mp, _ = _greedy_match(pi[keep], gi[keep], iou[keep], rank, gc.onset)
        is_tp = np.zeros(len(pc), dtype=np.float64)
        is_tp[mp] = 1.0
        tp_cum = np.cumsum(is_tp[order])
        precision = tp_cum / np.arange(1, len(pc) + 1)
        recall = tp_cum / len(gc)
        envelope = np.maximum.accumulate(precision[::-1])[::-1]
        out[t] = float((np.diff(recall, prepend=0.0) * envelope).sum())
    return out


# ----------------------------------------------------------------------------------------------
# Public entry point


def evaluate(
    predictions: Sequence[Proposal] | Any,
    ground_truth: Any,
    *,
    fps: float,
    matching: str = "megc",
    score_threshold: float | None = None,
    ap: bool = True,
) -> EvaluationResult:
    """Evaluate spotted intervals against ground truth (SPEC §5).

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
    report = _unmatched_videos(p, codes, n_gt_videos)
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


def _unmatched_videos(p: _Intervals, codes: dict[str, int], n_gt_videos: int) -> list[str]:
    """Warn (and return the warning) when predictions name videos the ground truth does not have:
    every such prediction is a false positive, which is almost always a naming mismatch."""
    outside = p.video >= n_gt_videos
    if not outside.any():
        return []
    names = {code: name for name, code in codes.items()}
    missing = sorted({names[int(c)] for c in np.unique(p.video[outside])})
    n_videos = len(np.unique(p.video))
    scope = (f"none of the {n_videos} predicted videos is in the ground truth" if len(missing) == n_videos
             else f"{len(missing)} of the {n_videos} predicted videos are not in the ground truth")
    message = (f"mcwes.evaluate: {scope} ({missing[:5]}"
               f"{' …' if len(missing) > 5 else ''}; the ground truth has {n_gt_videos} videos): their "
               f"{int(outside.sum())} predictions all count as false positives. Name the videos as the "
               f"ground truth does (mcwes.spot(..., names=[...]) names them video0, video1, … otherwise)")
    report: list[str] = []
    from .checks import warn

    warn(message, report)
    return report


def _counts_at(curves: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]], k: int, g: _Intervals
               ) -> dict[str, ClassCounts]:
    out = {}
    for j, name in enumerate(CLASSES):
        if k < 0:
            out[name] = ClassCounts(0, 0, int((g.cls == j).sum()))
        else:
            tp, fp, fn = curves[j]
            out[name] = ClassCounts(int(tp[k]), int(fp[k]), int(fn[k]))
    out["overall"] = ClassCounts(*(sum(getattr(out[n], f) for n in CLASSES) for f in ("tp", "fp", "fn")))
    return out


def _ap_tables(p: _Intervals, g: _Intervals) -> tuple[dict[str, dict[float, float]], dict[float, float], float]:
    table = {name: _average_precisions(p, g, j) for j, name in enumerate(CLASSES)}
    per_tiou = {t: _nanmean([table[name][t] for name in CLASSES]) for t in AP_TIOUS}
    mean = _nanmean([v for row in table.values() for v in row.values()])
    return table, per_tiou, mean
