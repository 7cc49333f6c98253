"""MEGC spotting evaluation (docs/method.md §5, paper §4.2): counts, P/R/F1 per class, the paper's three ME
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

By concern: :mod:`.parsing` (inputs → arrays), :mod:`.matching` (pairs, greedy matching, TP events),
:mod:`.sweep` (count curves over θ), :mod:`.ap` (AP/mAP), :mod:`.result` (:class:`EvaluationResult`,
the protocol's constants), :mod:`.evaluation` (:func:`evaluate`).
"""
from .evaluation import evaluate
from .result import AP_TIOUS, IOU_THRESHOLD, MATCHING_MODES, ClassCounts, EvaluationResult

__all__ = ["evaluate", "EvaluationResult", "ClassCounts", "MATCHING_MODES", "AP_TIOUS", "IOU_THRESHOLD"]
