"""Plain-PyTorch versions of the kernels the model uses: batched, differentiable, no compiled code.

They are the model's *plain path* (``MCWES(config, kernels=False)``), the baseline the training-step
benchmark compares the compiled kernels with, and a second, vectorised check of the semantics:

- :func:`cscm_attention` materialises the whole ``[B, T, T]`` score tensor (``softmax(s·QQᵀ)Q``),
- :func:`topk_pool` sorts every column (``torch.sort``, stable, so ties go to the lower index),
- :func:`duration_mask` uses cumulative sums for the moving average of eq. 9.

Same signatures and semantics as :mod:`mcwes.ops` (docs/method.md §3, §6), including per-video ``lengths``.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["cscm_attention", "topk_pool", "duration_mask", "valid_mask"]


def valid_mask(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """``[B, T]`` bool, True where ``t < lengths[b]``."""
    return torch.arange(steps, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)


def _lengths(lengths: object, batch: int, steps: int, device: torch.device) -> torch.Tensor:
    if lengths is None:
        return torch.full((batch,), steps, dtype=torch.int64, device=device)
    return torch.as_tensor(lengths, dtype=torch.int64, device=device)


def cscm_attention(q: torch.Tensor, lengths: object = None, scale: float = 1.0) -> torch.Tensor:
    """``softmax_rows(scale · Q Qᵀ) Q`` per video, keys ``t >= length`` masked out, padded rows 0.

    Args:
        q: ``[B, T, D]`` float tensor.
        lengths: ``[B]`` valid lengths (None: all ``T``).
        scale: ``s`` of eq. 3.

    Returns:
        ``[B, T, D]`` of q's dtype.
    """
    B, T, _ = q.shape
    valid = valid_mask(_lengths(lengths, B, T, q.device), T)
    q = torch.where(valid.unsqueeze(2), q, q.new_zeros(()))  # selection: NaN/inf padding must not leak
    scores = scale * torch.bmm(q, q.transpose(1, 2))
    scores = scores.masked_fill(~valid.unsqueeze(1), torch.finfo(q.dtype).min)
    out = torch.bmm(torch.softmax(scores, dim=2), q)
    return torch.where(valid.unsqueeze(2), out, out.new_zeros(()))


def topk_pool(x: torch.Tensor, k: torch.Tensor | Sequence[int] | int, lengths: object = None) -> torch.Tensor:
    """Mean of the ``min(k, length)`` largest valid values of every (video, class) column.

    Args:
        x: ``[B, T, C]``.
        k: int, ``[C]`` or ``[B, C]`` (each >= 1).
        lengths: ``[B]`` (None: all ``T``).

    Returns:
        ``[B, C]``; 0 for a video of length 0.
    """
    B, T, C = x.shape
    len_t = _lengths(lengths, B, T, x.device)
    k_t = torch.as_tensor(k, dtype=torch.int64, device=x.device).expand(B, C) if not isinstance(k, int) \
        else torch.full((B, C), k, dtype=torch.int64, device=x.device)
    k_eff = torch.minimum(k_t, len_t.unsqueeze(1))
    valid = valid_mask(len_t, T).unsqueeze(2)
    filled = x.masked_fill(~valid, float("-inf"))
    ordered, _ = torch.sort(filled, dim=1, descending=True, stable=True)
    rank = torch.arange(T, device=x.device).view(1, T, 1)
    chosen = rank < k_eff.unsqueeze(1)
    total = torch.where(chosen, ordered, torch.zeros_like(ordered)).sum(dim=1)
    return total / k_eff.clamp_min(1).to(x.dtype)


@torch.no_grad()
def duration_mask(
    a: torch.Tensor, lengths: object = None, *, eta: int = 2, omega_l: float = 1.2, omega_u: float = 1.4
) -> torch.Tensor:
    """The duration mask of eqs. 9–10 (docs/method.md §3): ``[B, T]`` of a's dtype, 0/1, padding 0, no gradient."""
    B, T = a.shape
    len_t = _lengths(lengths, B, T, a.device)
    valid = valid_mask(len_t, T)
    t = torch.arange(T, device=a.device).unsqueeze(0)
    csum = torch.cat([a.new_zeros((B, 1)), torch.cumsum(torch.where(valid, a, a.new_zeros(())), dim=1)], dim=1)
    end = torch.minimum(t + eta, len_t.unsqueeze(1)).clamp_min(0)
    start = t.expand(B, T)
    count = (end - start).clamp_min(1).to(a.dtype)
    q = (csum.gather(1, end.clamp_max(T)) - csum.gather(1, start)) / count
    delta = torch.zeros_like(a)
    if T > 1:
        delta[:, :-1] = (q[:, 1:] - q[:, :-1]).abs()
    delta = torch.where(t < (len_t.unsqueeze(1) - 1), delta, delta.new_zeros(()))  # Δ_{L-1} = 0 and padding 0
    mean_delta = delta.sum(dim=1, keepdim=True) / len_t.clamp_min(1).unsqueeze(1).to(a.dtype)
    inside = (delta > omega_l * mean_delta) & (delta < omega_u * mean_delta) & (mean_delta > 0)
    return (valid & ~inside).to(a.dtype)
