"""Greedy 1-D non-maximum suppression per video (docs/method.md §4 step 4 and §6).

Per video, proposals are visited by descending score (ties: lower start, then lower end, then lower
input index; NaN scores after every number, so a NaN never suppresses a real score); one is kept
unless its inclusive IoU with an already kept proposal of the same video is ``> iou_threshold``.
The kept indices of all videos come back in that visiting order over the whole batch (descending
score). O(P log P + kept·P), no P×P matrix. CUDA inputs are copied to the host for the (sequential)
greedy pass and the result is copied back.
"""
from __future__ import annotations

import torch

from .._ext import _C
from . import _spot_util, _util

OP = "nms_1d"

__all__ = ["nms_1d"]


def nms_1d(
    batch_idx: torch.Tensor, start: torch.Tensor, end: torch.Tensor, scores: torch.Tensor, iou_threshold: float
) -> torch.Tensor:
    """Indices of the proposals kept by per-video greedy NMS.

    Args:
        batch_idx: int64 ``[P]`` video of each proposal (>= 0; any order).
        start, end: int64 ``[P]`` inclusive intervals, ``0 <= start <= end``.
        scores: float32/float64 ``[P]``.
        iou_threshold: in ``[0, 1]``; suppress when IoU ``>`` it.

    Returns:
        int64 ``[K]`` indices into the inputs, in descending score order.
    """
    _util.check_tensor(OP, "batch_idx", batch_idx, ndim=1, dtypes=(torch.int64,))
    for name, t in (("start", start), ("end", end)):
        _util.check_tensor(OP, name, t, ndim=1, dtypes=(torch.int64,), device=batch_idx.device)
    _util.check_tensor(OP, "scores", scores, ndim=1, dtypes=_util.FLOAT_DTYPES, device=batch_idx.device)
    if not (batch_idx.shape == start.shape == end.shape == scores.shape):
        _util.fail(OP, "batch_idx, start, end and scores", "have the same length",
                   f"{batch_idx.shape[0]}, {start.shape[0]}, {end.shape[0]} and {scores.shape[0]}")
    thr = _spot_util.as_float(OP, "iou_threshold", iou_threshold, low=0.0, high=1.0)
    if not _util.eager_fast_path(batch_idx, start, end, scores):
        return torch.ops.mcwes.nms_1d_fwd(batch_idx, start, end, scores.detach(), thr)
    return _nms_1d_impl(batch_idx, start, end, scores, thr)  # eager: skip the dispatcher's tens of µs


def _nms_1d_impl(
    batch_idx: torch.Tensor, start: torch.Tensor, end: torch.Tensor, scores: torch.Tensor, iou_threshold: float
) -> torch.Tensor:
    keep = _util.new_output((batch_idx.shape[0],), torch.int64, batch_idx.device)
    if batch_idx.device.type == "cpu":
        n = _C.nms_1d_fwd_cpu(_util.view(batch_idx), _util.view(start), _util.view(end), _util.view(scores),
                              _util.view(keep), iou_threshold, _util.num_threads())
    else:
        # Greedy NMS is sequential and data-dependent, and sizing the output needs the count on the host
        # anyway: the proposals (a few KB) go to the host, the CPU kernel runs, the kept indices come back.
        _util.require_cuda(OP)
        host = _nms_1d_impl(batch_idx.cpu(), start.cpu(), end.cpu(), scores.cpu(), iou_threshold)
        return host.to(batch_idx.device)
    return keep[:n]


@torch.library.custom_op("mcwes::nms_1d_fwd", mutates_args=())
def _nms_1d_fwd(
    batch_idx: torch.Tensor, start: torch.Tensor, end: torch.Tensor, scores: torch.Tensor, iou_threshold: float
) -> torch.Tensor:
    return _nms_1d_impl(batch_idx, start, end, scores, iou_threshold).clone()


@_nms_1d_fwd.register_fake
def _(batch_idx, start, end, scores, iou_threshold):
    n = torch.library.get_ctx().new_dynamic_size()
    return batch_idx.new_empty((n,))
