"""Spotting's one home: from the network's outputs to proposals (docs/method.md §4), and the learning-free
baseline the demo compares with.

- **multi-top** (the paper's post-processing, §4 steps 2–5): the fused op :func:`mcwes.ops.spot_postprocess`
  (``multi_top`` here), built from the same math as :func:`mcwes.ops.multi_top_proposals`,
  :func:`mcwes.ops.outer_inner_scores` and :func:`mcwes.ops.nms_1d`;
- **multi-threshold** (Table 6's alternative): :func:`multi_threshold_proposals`, threshold runs of the
  attention scored and suppressed with those same ops;
- both return the one record type of a batch's proposals in snippets, :class:`SpotProposals`;
  :func:`postprocess` picks one of the two from a :class:`~mcwes.config.SpotConfig`, and
  :mod:`mcwes.proposals` turns snippets into frame-level :class:`~mcwes.proposals.Proposals`;
- the **energy baseline** (:func:`energy_baseline`): runs of high feature energy, as ``Proposals``.

:func:`mcwes.spot` (``inference.py``) runs the network and calls :func:`postprocess`.
"""
from __future__ import annotations

from typing import Any

import torch

from ..ops.spot_postprocess import SpotProposals
from ..ops.spot_postprocess import spot_postprocess as multi_top
from .energy import energy_baseline, energy_proposals, energy_scores
from .multi_threshold import multi_threshold_proposals

__all__ = ["SpotProposals", "multi_top", "multi_threshold_proposals", "postprocess", "energy_baseline",
           "energy_proposals", "energy_scores"]


def postprocess(attention: torch.Tensor, suppressed_cas: torch.Tensor, video_scores: torch.Tensor, lengths: Any,
                spot: Any) -> SpotProposals:
    """The post-processing ``spot.postprocess`` names (a :class:`~mcwes.config.SpotConfig`), on a batch.

    ``suppressed_cas`` and ``video_scores`` hold the scored (expression) classes only, ``[B, T, n]`` and
    ``[B, n]``.
    """
    common = dict(psi=spot.psi, varsigma=spot.varsigma, nms_threshold=spot.nms_threshold,
                  score_threshold=spot.score_threshold)
    if spot.postprocess == "multi_threshold":
        return multi_threshold_proposals(attention, suppressed_cas, video_scores, lengths, thresholds=spot.thresholds,
                                         n_classes=suppressed_cas.shape[2], **common)
    return multi_top(attention, suppressed_cas, video_scores, lengths, m_values=spot.m_values(), **common)
