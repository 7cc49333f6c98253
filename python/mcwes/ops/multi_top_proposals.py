"""Multi-top candidate intervals from the attention (paper §3.5, docs/method.md §4 step 2 and §6).

For every video (valid length L) and every ``m`` in ``m_values``, the ``k = min(L, max(1, floor(L/m)))``
steps with the largest attention are selected (ties to the lower index; NaN ranks above every number,
as in ``torch.sort``); every maximal run of consecutive selected steps is a candidate ``[start, end]``
(inclusive). Candidates of all ``m`` are deduplicated per video and ordered by (video, start, end).

Ragged output: the op allocates a worst-case buffer (``B`` times the bound of
``multi_top_proposals.h``), the kernel fills its front and returns the count, and the op returns
that many rows (views into the buffers).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch

from .._ext import _C
from . import _spot_util, _util

OP = "multi_top_proposals"

__all__ = ["multi_top_proposals"]


def multi_top_proposals(
    a: torch.Tensor, lengths: object, m_values: Sequence[int] | torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Candidate intervals of every video from its attention.

    Args:
        a: ``[B, T]`` float32/float64 attention (any strides), CPU or CUDA.
        lengths: ``[B]`` valid lengths in ``[0, T]`` (None: all ``T``).
        m_values: integers >= 1 (docs/method.md §4: ``m0 .. m0+14``); m > L gives k = 1.

    Returns:
        ``(batch_idx, start, end)``, int64 ``[P]`` each, on a's device, ordered by (video, start, end).
    """
    _util.check_tensor(OP, "a", a, ndim=2, dtypes=_util.FLOAT_DTYPES)
    m_list = _spot_util.as_m_values(OP, m_values)
    B, T = a.shape
    len_t = _util.as_lengths(OP, lengths, B, T, a.device)
    if not _util.eager_fast_path(a, len_t):
        return torch.ops.mcwes.multi_top_proposals_fwd(a.detach(), len_t, m_list)
    return _multi_top_proposals_impl(a, len_t, m_list)  # eager: skip the dispatcher's tens of µs


def _multi_top_proposals_impl(
    a: torch.Tensor, lengths: torch.Tensor, m_values: list[int]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    B, T = a.shape
    cap = B * _spot_util.capacity(T, m_values)
    outs = [_util.new_output((cap,), torch.int64, a.device) for _ in range(3)]
    views = [_util.view(o) for o in outs]
    if a.device.type == "cpu":
        n = _C.multi_top_proposals_fwd_cpu(_util.view(a), _util.view(lengths), m_values, *views, _util.num_threads())
    else:
        _util.require_cuda(OP)
        _util.check_lengths_values(OP, lengths, T)
        m_t = torch.tensor(m_values, dtype=torch.int64, device=a.device)
        work = torch.empty((B, T), dtype=torch.int64, device=a.device)
        counts = torch.empty((B + 1,), dtype=torch.int64, device=a.device)
        n = _C.multi_top_proposals_fwd_cuda(_util.view(a), _util.view(lengths), _util.view(m_t), *views,
                                            _util.view(work), _util.view(counts), _util.cuda_stream(a))
    return outs[0][:n], outs[1][:n], outs[2][:n]


@torch.library.custom_op("mcwes::multi_top_proposals_fwd", mutates_args=())
def _multi_top_proposals_fwd(
    a: torch.Tensor, lengths: torch.Tensor, m_values: list[int]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return tuple(t.clone() for t in _multi_top_proposals_impl(a, lengths, m_values))  # type: ignore[return-value]


@_multi_top_proposals_fwd.register_fake
def _(a: torch.Tensor, lengths: torch.Tensor, m_values: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    n = torch.library.get_ctx().new_dynamic_size()
    return tuple(a.new_empty((n,), dtype=torch.int64) for _ in range(3))  # type: ignore[return-value]
