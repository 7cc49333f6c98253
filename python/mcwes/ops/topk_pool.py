"""Class-wise top-K mean pooling (paper eqs. 7–8, docs/method.md §3 and §6).

``topk_pool(x, k, lengths)`` turns a T-CAM ``x: [B, T, C]`` into video-level class scores ``[B, C]``:
for every video b and class c, the mean of the ``k_eff = min(k, lengths[b])`` largest values of
``x[b, :lengths[b], c]``. Order: larger first, NaN above every number (it propagates, like
``torch.topk``), ties to the lower time index. A video of length 0 pools to 0 with zero gradient.
The backward spreads ``grad_out / k_eff`` over the selected positions: the forward also returns
these per-step weights, so the backward is one broadcast multiply (deterministic, differentiable).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch

from .._ext import _C
from . import _backend, _util

OP = "topk_pool"

__all__ = ["topk_pool", "topk_k", "topk_pool_torch"]


def topk_pool(x: torch.Tensor, k: int | Sequence[int] | torch.Tensor, lengths: object = None) -> torch.Tensor:
    """Mean of the k largest valid values of every (video, class) column.

    Args:
        x: ``[B, T, C]`` float32/float64 (any strides), CPU or CUDA.
        k: one int for every class, ``[C]`` per class, or ``[B, C]`` per video and class; each >= 1.
            Clamped to the video's length.
        lengths: ``[B]`` valid lengths in ``[0, T]`` (None: all ``T``).

    Returns:
        ``[B, C]`` of x's dtype, differentiable with respect to ``x``. With the "torch" backend
        (:func:`mcwes.ops.set_backend`), :func:`topk_pool_torch`.
    """
    if _backend.get_backend() == "torch":
        return topk_pool_torch(x, k, lengths)
    _util.check_tensor(OP, "x", x, ndim=3, dtypes=_util.FLOAT_DTYPES)
    B, T, C = x.shape
    k_t = _as_k(k, B, C, x.device)
    len_t = _util.as_lengths(OP, lengths, B, T, x.device)
    if _util.eager_fast_path(x, k_t, len_t):
        return _TopkPool.apply(x, k_t, len_t)
    out, _ = torch.ops.mcwes.topk_pool_fwd(x, k_t, len_t)
    return out


def topk_k(lengths: object, h: Sequence[float] | torch.Tensor) -> torch.Tensor:
    """k per (video, class) from ratios (paper eq. 7): ``k = max(1, floor(length / h_c))``.

    Args:
        lengths: ``[B]`` valid lengths (int sequence or tensor).
        h: ``[C]`` positive ratios, e.g. the presets' ``(7, 9, 5)``.

    Returns:
        int64 ``[B, C]`` on the device of ``lengths`` (CPU for sequences).
    """
    device = lengths.device if isinstance(lengths, torch.Tensor) else torch.device("cpu")
    len_t = _util.as_index_tensor("topk_k", "lengths", lengths, device)
    if len_t.dim() != 1:
        _util.fail("topk_k", "lengths", "have shape [B]", f"shape {tuple(len_t.shape)}")
    h_t = torch.as_tensor(h, dtype=torch.float64, device=device)
    if h_t.dim() != 1 or h_t.numel() == 0:
        _util.fail("topk_k", "h", "be a non-empty sequence of ratios", f"shape {tuple(h_t.shape)}")
    if not bool(torch.isfinite(h_t).all()) or bool((h_t <= 0).any()):
        _util.fail("topk_k", "h", "hold finite ratios > 0", h_t.tolist())
    if not torch.compiler.is_compiling() and len_t.numel() and bool((len_t < 0).any()):
        _util.fail("topk_k", "lengths", "be >= 0", len_t.tolist())
    # floor(L / h) can exceed int64 for a tiny h (a cast would wrap it to a negative number, then
    # k = 1); any k >= L selects the same steps, so clamp in float64 first.
    k = torch.floor(len_t.to(torch.float64).unsqueeze(1) / h_t.unsqueeze(0)).clamp(1, float(_util.BEYOND_ANY_LENGTH))
    return k.to(torch.int64)


def _as_k(k: object, B: int, C: int, device: torch.device) -> torch.Tensor:
    if isinstance(k, bool):
        _util.fail(OP, "k", "be an int, [C] or [B, C] integers", "bool", TypeError)
    if isinstance(k, int):
        if k < 1:
            _util.fail(OP, "k", "be >= 1", k)
        # k is clamped to the video's length anyway; any k >= BEYOND_ANY_LENGTH behaves the same
        return torch.full((C,), min(k, _util.BEYOND_ANY_LENGTH), dtype=torch.int64, device=device)
    k_t = _util.as_index_tensor(OP, "k", k, device)
    if tuple(k_t.shape) not in ((C,), (B, C)):
        _util.fail(OP, "k", f"have shape [{C}] or [{B}, {C}]", f"shape {tuple(k_t.shape)}")
    return k_t


def _fwd(x: torch.Tensor, k: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(out [B, C], weights [B, T, C])``: weights are 1/k_eff at the selected steps, 0 elsewhere."""
    B, T, C = x.shape
    out = _util.new_output((B, C), x.dtype, x.device)
    weights = _util.new_output((B, T, C), x.dtype, x.device)
    if x.device.type == "cpu":
        _C.topk_pool_fwd_cpu(_util.view(x), _util.view(k), _util.view(lengths), _util.view(out),
                             _util.view(weights), _util.num_threads())
    else:
        _util.require_cuda(OP)
        _check_device_values(k, lengths, T)
        _C.topk_pool_fwd_cuda(_util.view(x), _util.view(k), _util.view(lengths), _util.view(out),
                              _util.view(weights), _util.cuda_stream(x))
    return out, weights


def _grad(weights: torch.Tensor, grad_out: torch.Tensor) -> torch.Tensor:
    # out = Σ_t weights · x, so the gradient spreads grad_out / k_eff over the selected steps; plain
    # torch, hence differentiable again (double backward) and traceable.
    return weights * grad_out.unsqueeze(1)


class _TopkPool(torch.autograd.Function):
    """The eager direct path (see _util.eager_fast_path); same functions as the registered op."""

    @staticmethod
    def forward(ctx, x, k, lengths):
        out, weights = _fwd(x, k, lengths)
        ctx.save_for_backward(weights)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        (weights,) = ctx.saved_tensors
        return _grad(weights, grad_out), None, None


@torch.library.custom_op("mcwes::topk_pool_fwd", mutates_args=())
def _topk_pool_fwd(x: torch.Tensor, k: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return _fwd(x, k, lengths)


@_topk_pool_fwd.register_fake
def _(x: torch.Tensor, k: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    B, _, C = x.shape
    return x.new_empty((B, C)), torch.empty_like(x)


def _setup_context(ctx, inputs, output) -> None:
    _, weights = output
    ctx.save_for_backward(weights)


def _backward(ctx, grad_out, _grad_weights):
    (weights,) = ctx.saved_tensors
    return _grad(weights, grad_out), None, None


_topk_pool_fwd.register_autograd(_backward, setup_context=_setup_context)


def _check_device_values(k: torch.Tensor, lengths: torch.Tensor, steps: int) -> None:
    _util.check_lengths_values(OP, lengths, steps)
    if k.numel() and bool((k < 1).any()):
        _util.fail(OP, "k", "hold values >= 1", int(k.min().item()))


def topk_pool_torch(x: torch.Tensor, k: torch.Tensor | Sequence[int] | int, lengths: object = None) -> torch.Tensor:
    """The plain-PyTorch fallback: a stable descending sort of every column (ties to the lower index),
    then the mean of the first ``min(k, length)``; 0 for a video of length 0. Same arguments, no checks."""
    B, T, C = x.shape
    len_t = _util.plain_lengths(lengths, B, T, x.device)
    k_t = torch.as_tensor(k, dtype=torch.int64, device=x.device).expand(B, C) if not isinstance(k, int) \
        else torch.full((B, C), k, dtype=torch.int64, device=x.device)
    k_eff = torch.minimum(k_t, len_t.unsqueeze(1))
    valid = _util.valid_mask(len_t, T).unsqueeze(2)
    filled = x.masked_fill(~valid, float("-inf"))
    ordered, _ = torch.sort(filled, dim=1, descending=True, stable=True)
    rank = torch.arange(T, device=x.device).view(1, T, 1)
    chosen = rank < k_eff.unsqueeze(1)
    total = torch.where(chosen, ordered, torch.zeros_like(ordered)).sum(dim=1)
    return total / k_eff.clamp_min(1).to(x.dtype)
