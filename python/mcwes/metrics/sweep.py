"""The threshold sweep: TP/FP/FN of each class at every distinct score θ as cumulative sums (no loop
over thresholds), the F1-ME(0.5)/F1-ME(1.0) maxima, and the counts at one θ."""
from __future__ import annotations

import numpy as np

from ..proposals import CLASSES
from .matching import _tp_events
from .parsing import _ME, _Intervals
from .result import ClassCounts, _f1


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
