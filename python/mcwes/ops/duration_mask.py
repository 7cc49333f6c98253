"""Label-level duration mask (paper eqs. 9–10, docs/method.md §3 and §6).

``duration_mask(a, lengths, eta=, omega_l=, omega_u=)`` marks the steps whose attention variation
``Δ_t`` lies strictly between ``omega_l·mean(Δ)`` and ``omega_u·mean(Δ)`` (potential micro-expression
steps) with 0, every other valid step with 1, padding with 0. ``Q_t`` is the mean of
``a[t .. min(t+eta, L)-1]``; ``Δ_t = |Q_{t+1} - Q_t|`` with ``Δ_{L-1} = 0``; a video with ``mean(Δ) = 0``
(``L <= 1`` or constant attention) is all ones. A NaN/inf in a video's valid attention makes ``mean(Δ)``
NaN and that video's mask all ones. Computed without gradient (the result is detached).
"""
from __future__ import annotations

import math

import torch

from .._ext import _C
from . import _backend, _util

OP = "duration_mask"

__all__ = ["duration_mask", "duration_mask_torch"]


def duration_mask(
    a: torch.Tensor, lengths: object = None, *, eta: int, omega_l: float, omega_u: float
) -> torch.Tensor:
    """The duration mask ``M`` of the mean attention.

    Args:
        a: ``[B, T]`` float32/float64 attention (any strides), CPU or CUDA.
        lengths: ``[B]`` valid lengths in ``[0, T]`` (None: all ``T``).
        eta: window length >= 1 (the presets: 2, docs/method.md §3).
        omega_l, omega_u: finite band factors (casme2: 1.2, 1.4).

    Returns:
        ``[B, T]`` of a's dtype with values in {0, 1}; 0 on padding. Not differentiable. With the
        "torch" backend (:func:`mcwes.ops.set_backend`), :func:`duration_mask_torch`.
    """
    if _backend.get_backend() == "torch":
        return duration_mask_torch(a, lengths, eta=eta, omega_l=omega_l, omega_u=omega_u)
    _util.check_tensor(OP, "a", a, ndim=2, dtypes=_util.FLOAT_DTYPES)
    if isinstance(eta, bool) or not isinstance(eta, int):
        _util.fail(OP, "eta", "be an int", type(eta).__name__, TypeError)
    if eta < 1:
        _util.fail(OP, "eta", "be >= 1", eta)
    eta = min(eta, _util.BEYOND_ANY_LENGTH)  # windows are clipped at the video's end: any eta >= T is the same
    for name, value in (("omega_l", omega_l), ("omega_u", omega_u)):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            _util.fail(OP, name, "be a float", type(value).__name__, TypeError)
        if not math.isfinite(value):
            _util.fail(OP, name, "be finite", value)
    B, T = a.shape
    len_t = _util.as_lengths(OP, lengths, B, T, a.device)
    return torch.ops.mcwes.duration_mask_fwd(a.detach(), len_t, eta, float(omega_l), float(omega_u))


@torch.library.custom_op("mcwes::duration_mask_fwd", mutates_args=())
def _duration_mask_fwd(a: torch.Tensor, lengths: torch.Tensor, eta: int, omega_l: float, omega_u: float) -> torch.Tensor:
    out = _util.new_output(a.shape, a.dtype, a.device)
    if a.device.type == "cpu":
        _C.duration_mask_fwd_cpu(_util.view(a), _util.view(lengths), _util.view(out), eta, omega_l, omega_u,
                                 _util.num_threads())
    else:
        _util.require_cuda(OP)
        _util.check_lengths_values(OP, lengths, a.shape[1])
        _C.duration_mask_fwd_cuda(_util.view(a), _util.view(lengths), _util.view(out), eta, omega_l, omega_u,
                                  _util.cuda_stream(a))
    return out


@_duration_mask_fwd.register_fake
def _(a: torch.Tensor, lengths: torch.Tensor, eta: int, omega_l: float, omega_u: float) -> torch.Tensor:
    return torch.empty_like(a)


@torch.no_grad()
def duration_mask_torch(
    a: torch.Tensor, lengths: object = None, *, eta: int, omega_l: float, omega_u: float
) -> torch.Tensor:
    """The plain-PyTorch fallback (cumulative sums for the moving average of eq. 9): ``[B, T]`` of a's
    dtype, 0/1, padding 0, no gradient. Same arguments, no checks."""
    B, T = a.shape
    len_t = _util.plain_lengths(lengths, B, T, a.device)
    valid = _util.valid_mask(len_t, T)
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
