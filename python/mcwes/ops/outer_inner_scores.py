"""Outer-inner class scores of candidate intervals (paper eqs. 23–25, docs/method.md §4 step 3 and §6).

For a candidate ``[s, e]`` of video ``b`` (valid length ``Lb``) and class ``j``:
``len = e - s + 1``, ``r = max(1, floor(psi·len + 0.5))``, ``inner`` = mean of ``x[b, s..e, j]``,
``outer`` = mean of ``x[b, t, j]`` over ``[s-r, s-1] ∪ [e+1, e+r]`` clipped to ``[0, Lb-1]`` (0 when
empty), and ``φ = inner - outer + varsigma·video_scores[b, j]``. Prefix sums in double, O(T + P) per
video; NaN/inf behave as in direct summation of the windows (a NaN only affects windows holding it).
"""
from __future__ import annotations

import torch

from .._ext import _C
from . import _spot_util, _util

OP = "outer_inner_scores"

__all__ = ["outer_inner_scores"]


def outer_inner_scores(
    x: torch.Tensor,
    lengths: object,
    batch_idx: torch.Tensor,
    start: torch.Tensor,
    end: torch.Tensor,
    video_scores: torch.Tensor,
    *,
    psi: float,
    varsigma: float,
) -> torch.Tensor:
    """Class-specific confidence ``φ`` of every candidate.

    Args:
        x: ``[B, T, C']`` float32/float64 suppressed T-CAM of the C' scored classes (any strides).
        lengths: ``[B]`` valid lengths in ``[0, T]`` (None: all ``T``).
        batch_idx, start, end: int64 ``[P]``; ``0 <= batch_idx < B``,
            ``0 <= start <= end < lengths[batch_idx]``.
        video_scores: ``[B, C']`` of x's dtype (video-level probabilities).
        psi: margin ratio, finite and >= 0.  varsigma: finite weight of the video score.

    Returns:
        ``[P, C']`` of x's dtype. Not differentiable.
    """
    _util.check_tensor(OP, "x", x, ndim=3, dtypes=_util.FLOAT_DTYPES)
    B, T, C = x.shape
    for name, t in (("batch_idx", batch_idx), ("start", start), ("end", end)):
        _util.check_tensor(OP, name, t, ndim=1, dtypes=(torch.int64,), device=x.device)
    if not (batch_idx.shape == start.shape == end.shape):
        _util.fail(OP, "batch_idx, start and end", "have the same length",
                   f"{batch_idx.shape[0]}, {start.shape[0]} and {end.shape[0]}")
    _util.check_tensor(OP, "video_scores", video_scores, ndim=2, dtypes=(x.dtype,), device=x.device)
    if tuple(video_scores.shape) != (B, C):
        _util.fail(OP, "video_scores", f"have shape [{B}, {C}]", f"shape {tuple(video_scores.shape)}")
    psi_f = _spot_util.as_float(OP, "psi", psi, low=0.0)
    varsigma_f = _spot_util.as_float(OP, "varsigma", varsigma)
    len_t = _util.as_lengths(OP, lengths, B, T, x.device)
    if not _util.eager_fast_path(x, len_t, batch_idx, start, end, video_scores):
        return torch.ops.mcwes.outer_inner_scores_fwd(x.detach(), len_t, batch_idx, start, end,
                                                      video_scores.detach(), psi_f, varsigma_f)
    # eager: skip the dispatcher's tens of µs; the kernel records no autograd graph either way
    return _outer_inner_scores_impl(x, len_t, batch_idx, start, end, video_scores, psi_f, varsigma_f)


def _outer_inner_scores_impl(
    x: torch.Tensor, lengths: torch.Tensor, batch_idx: torch.Tensor, start: torch.Tensor, end: torch.Tensor,
    video_scores: torch.Tensor, psi: float, varsigma: float,
) -> torch.Tensor:
    out = _util.new_output((batch_idx.shape[0], x.shape[2]), x.dtype, x.device)
    args = [_util.view(t) for t in (x, lengths, batch_idx, start, end, video_scores, out)]
    if x.device.type == "cpu":
        _C.outer_inner_scores_fwd_cpu(*args, psi, varsigma, _util.num_threads())
    else:
        _util.require_cuda(OP)
        _util.check_lengths_values(OP, lengths, x.shape[1])
        _spot_util.check_proposals_device(OP, batch_idx, start, end, lengths)
        _C.outer_inner_scores_fwd_cuda(*args, psi, varsigma, _util.cuda_stream(x))
    return out


@torch.library.custom_op("mcwes::outer_inner_scores_fwd", mutates_args=())
def _outer_inner_scores_fwd(
    x: torch.Tensor, lengths: torch.Tensor, batch_idx: torch.Tensor, start: torch.Tensor, end: torch.Tensor,
    video_scores: torch.Tensor, psi: float, varsigma: float,
) -> torch.Tensor:
    return _outer_inner_scores_impl(x, lengths, batch_idx, start, end, video_scores, psi, varsigma)


@_outer_inner_scores_fwd.register_fake
def _(x, lengths, batch_idx, start, end, video_scores, psi, varsigma):
    return x.new_empty((batch_idx.shape[0], x.shape[2]))
