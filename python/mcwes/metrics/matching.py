"""Which prediction hits which ground truth: candidate pairs by IoU, the greedy ranking, one-to-one
matching, and the score at which each ground truth becomes a true positive (MEGC or one-to-one)."""
from __future__ import annotations

import numpy as np

from .parsing import _Intervals
from .result import IOU_THRESHOLD


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
