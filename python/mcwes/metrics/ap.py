"""Average precision per class at tIoU 0.1:0.1:0.7 (one-to-one greedy matching, VOC all-point
interpolation) and the mAP table."""
from __future__ import annotations

import numpy as np

from ..proposals import CLASSES
from .matching import _greedy_match, _pairs, _rank
from .parsing import _Intervals
from .result import AP_TIOUS, _nanmean


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


def _ap_tables(p: _Intervals, g: _Intervals) -> tuple[dict[str, dict[float, float]], dict[float, float], float]:
    table = {name: _average_precisions(p, g, j) for j, name in enumerate(CLASSES)}
    per_tiou = {t: _nanmean([table[name][t] for name in CLASSES]) for t in AP_TIOUS}
    mean = _nanmean([v for row in table.values() for v in row.values()])
    return table, per_tiou, mean
