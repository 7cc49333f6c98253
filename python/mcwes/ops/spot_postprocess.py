"""docs/method.md §4 steps 2–5 for a whole batch in one compiled call (what ``mcwes.spot`` uses).

Per video: multi-top candidates from the attention (``multi_top_proposals``), one proposal per
candidate and scored class with the outer-inner score ``φ`` (``outer_inner_scores``), class-agnostic
greedy NMS (visiting larger ``φ`` first; ties: lower start, then lower end, then lower class), then
proposals with ``φ < score_threshold`` are dropped (a NaN ``φ`` too). No Python loop over videos or
proposals.

Ragged output: a worst-case buffer of ``C'·B·capacity(T)`` rows is allocated, the kernel writes the
``K`` kept rows at its front and returns ``K``; the result holds views of the first ``K`` rows.
On CUDA tensors the inputs are copied to the host, the CPU pipeline runs there and the result is
copied back: the work is a few microseconds of sequential, data-dependent code (greedy NMS) on
KB-sized inputs, where a device pipeline would still need a host round trip to size the output.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch

from .._ext import _C
from . import _spot_util, _util

OP = "spot_postprocess"

__all__ = ["spot_postprocess", "SpotProposals"]


class SpotProposals(NamedTuple):
    """Surviving proposals of a batch, ordered by (video, descending score); ``[K]`` each.

    ``batch_idx``, ``start``, ``end`` (inclusive snippet indices) and ``label`` (the class index j the
    proposal was scored for, 0 = MaE, 1 = ME) are int64; ``score`` (``φ``) has the inputs' dtype.
    """

    batch_idx: torch.Tensor
    start: torch.Tensor
    end: torch.Tensor
    label: torch.Tensor
    score: torch.Tensor


def spot_postprocess(
    attention: torch.Tensor,
    suppressed_cas: torch.Tensor,
    video_scores: torch.Tensor,
    lengths: object = None,
    *,
    m_values: Sequence[int] | torch.Tensor,
    psi: float,
    varsigma: float,
    nms_threshold: float = 0.01,
    score_threshold: float = 0.1,
) -> SpotProposals:
    """All surviving proposals of a batch (docs/method.md §4 steps 2–5).

    Args:
        attention: ``[B, T]`` float32/float64 mean attention ``A``.
        suppressed_cas: ``[B, T, C']`` of attention's dtype, the suppressed T-CAM of the C' scored
            expression classes (slice the background channel off first: ``S_hat[..., :2]``).
        video_scores: ``[B, C']`` of attention's dtype, video-level probabilities ``p``.
        lengths: ``[B]`` valid lengths in ``[0, T]`` (None: all ``T``).
        m_values: integers >= 1 (docs/method.md §4: 15 consecutive from the preset's ``m0``).
        psi: outer margin ratio (finite, >= 0).  varsigma: weight of ``p`` (finite).
        nms_threshold: IoU threshold in ``[0, 1]``.  score_threshold: keep ``φ >= score_threshold``
            (any number; ``-inf`` keeps every NMS survivor with a non-NaN score).

    Returns:
        :class:`SpotProposals`, ordered by (video, descending score).
    """
    _util.check_tensor(OP, "attention", attention, ndim=2, dtypes=_util.FLOAT_DTYPES)
    dev, dt = attention.device, (attention.dtype,)
    _util.check_tensor(OP, "suppressed_cas", suppressed_cas, ndim=3, dtypes=dt, device=dev)
    _util.check_tensor(OP, "video_scores", video_scores, ndim=2, dtypes=dt, device=dev)
    B, T = attention.shape
    C = suppressed_cas.shape[2]
    if suppressed_cas.shape[0] != B or suppressed_cas.shape[1] != T:
        _util.fail(OP, "suppressed_cas", f"have shape [{B}, {T}, C']", f"shape {tuple(suppressed_cas.shape)}")
    if tuple(video_scores.shape) != (B, C):
        _util.fail(OP, "video_scores", f"have shape [{B}, {C}]", f"shape {tuple(video_scores.shape)}")
    args = (
        _spot_util.as_m_values(OP, m_values),
        _spot_util.as_float(OP, "psi", psi, low=0.0),
        _spot_util.as_float(OP, "varsigma", varsigma),
        _spot_util.as_float(OP, "nms_threshold", nms_threshold, low=0.0, high=1.0),
        _spot_util.as_float(OP, "score_threshold", score_threshold, finite=False),
    )
    len_t = _util.as_lengths(OP, lengths, B, T, dev)
    # The custom op is for torch.compile/export; eager calls skip the dispatcher, which costs more
    # than the kernel at one video (see benchmarks/RESULTS.md). The kernel reads raw data, so no
    # autograd graph is recorded on either path (the outputs never require grad).
    if not _util.eager_fast_path(attention, suppressed_cas, video_scores, len_t):
        tensors = (attention.detach(), suppressed_cas.detach(), video_scores.detach(), len_t)
        return SpotProposals(*torch.ops.mcwes.spot_postprocess_fwd(*tensors, *args))
    return SpotProposals(*_spot_postprocess_fwd_impl(attention, suppressed_cas, video_scores, len_t, *args))


def _spot_postprocess_fwd_impl(
    attention: torch.Tensor, suppressed_cas: torch.Tensor, video_scores: torch.Tensor, lengths: torch.Tensor,
    m_values: list[int], psi: float, varsigma: float, nms_threshold: float, score_threshold: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    device = attention.device
    if device.type != "cpu":
        _util.require_cuda(OP)
        _util.check_lengths_values(OP, lengths, attention.shape[1])
        a, s, v, n = (t.cpu() for t in (attention, suppressed_cas, video_scores, lengths))
        out = _spot_postprocess_fwd_impl(a, s, v, n, m_values, psi, varsigma, nms_threshold, score_threshold)
        return tuple(t.to(device) for t in out)  # type: ignore[return-value]
    B, T = attention.shape
    cap = B * suppressed_cas.shape[2] * _spot_util.capacity(T, m_values)
    ints = _util.new_output((4, cap), torch.int64, device)
    score = _util.new_output((cap,), attention.dtype, device)
    view = _util.view
    n = _C.spot_postprocess_fwd_cpu(
        view(attention), view(suppressed_cas), view(video_scores), view(lengths), m_values, psi, varsigma,
        nms_threshold, score_threshold, view(ints), view(score), _util.num_threads())
    return (*ints[:, :n].unbind(0), score[:n])  # type: ignore[return-value]


@torch.library.custom_op("mcwes::spot_postprocess_fwd", mutates_args=())
def _spot_postprocess_fwd(
    attention: torch.Tensor, suppressed_cas: torch.Tensor, video_scores: torch.Tensor, lengths: torch.Tensor,
    m_values: list[int], psi: float, varsigma: float, nms_threshold: float, score_threshold: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    out = _spot_postprocess_fwd_impl(attention, suppressed_cas, video_scores, lengths, m_values, psi, varsigma,
                                     nms_threshold, score_threshold)
    return tuple(t.clone() for t in out)  # type: ignore[return-value]


@_spot_postprocess_fwd.register_fake
def _(attention, suppressed_cas, video_scores, lengths, m_values, psi, varsigma, nms_threshold,
      score_threshold):
    n = torch.library.get_ctx().new_dynamic_size()
    ints = tuple(attention.new_empty((n,), dtype=torch.int64) for _ in range(4))
    return (*ints, attention.new_empty((n,)))
