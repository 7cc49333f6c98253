"""The CSCM self-attention (docs/method.md §2 eq. 3 and §6), fused: ``softmax_rows(scale · q qᵀ) q`` per video.

``cscm_attention(q, lengths=None, scale=1.0)`` with ``q: [B, T, D]`` returns ``[B, T, D]``: for video
b of length L and a valid row i < L, ``out[b, i] = Σ_{j<L} softmax_j(scale · q_i·q_j) q_j``; keys
j >= L are masked out and padded rows i >= L are zero. q plays query, key and value at once.

The kernels stream over key tiles with an online softmax (no ``[T, T]`` tensor is allocated; the
largest buffer is one tile per thread plus O(T·D) copies) and are stable for the paper's
``scale = 1`` with D = 1024, where logits reach ±1000. The CPU kernel computes each tile of the
symmetric score matrix once for both row blocks it belongs to. The forward saves the per-row
logsumexp as a (row max, log row sum) pair ``[B, T, 2]``, which keeps float32 digits at logits near
1000; the backward recomputes the probabilities from it tile by tile and returns one gradient
that sums q's three roles. Double backward is not supported.
"""
from __future__ import annotations

import math

import torch

from .._ext import _C
from . import _backend, _util

OP = "cscm_attention"

__all__ = ["cscm_attention", "cscm_attention_torch"]


def cscm_attention(q: torch.Tensor, lengths: object = None, scale: float = 1.0) -> torch.Tensor:
    """Length-masked self-attention with queries, keys and values all equal to ``q``.

    Args:
        q: ``[B, T, D]`` float32/float64 (any strides), CPU or CUDA (CUDA: float32 and float64).
        lengths: ``[B]`` valid lengths in ``[0, T]`` (int sequence or integer tensor; None: all T).
        scale: finite multiplier of the logits ``q_i·q_j`` (the paper uses 1.0; 1/√D is the usual
            transformer choice).

    Returns:
        ``[B, T, D]`` of q's dtype and device; rows ``t >= lengths[b]`` are zero. Differentiable with
        respect to ``q`` (gradient zero on padded rows); ``lengths`` and ``scale`` are not.
        With the "torch" backend (:func:`mcwes.ops.set_backend`), :func:`cscm_attention_torch`.
    """
    if _backend.get_backend() == "torch":
        return cscm_attention_torch(q, lengths, scale)
    _util.check_tensor(OP, "q", q, ndim=3, dtypes=_util.FLOAT_DTYPES)
    if isinstance(scale, bool) or not isinstance(scale, (int, float)):
        _util.fail(OP, "scale", "be a float", type(scale).__name__, TypeError)
    if not math.isfinite(float(scale)):
        _util.fail(OP, "scale", "be finite", scale)
    B, T, _ = q.shape
    len_t = _util.as_lengths(OP, lengths, B, T, q.device)
    out, _ = torch.ops.mcwes.cscm_attention_fwd(q, len_t, float(scale))
    return out


@torch.library.custom_op("mcwes::cscm_attention_fwd", mutates_args=())
def _cscm_attention_fwd(q: torch.Tensor, lengths: torch.Tensor, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    B, T, D = q.shape
    out = _util.new_output((B, T, D), q.dtype, q.device)
    lse = _util.new_output((B, T, 2), q.dtype, q.device)
    if q.device.type == "cpu":
        _C.cscm_attention_fwd_cpu(_util.view(q), _util.view(lengths), scale, _util.view(out), _util.view(lse),
                                  _util.num_threads())
    else:
        _util.require_cuda(OP)
        _util.check_lengths_values(OP, lengths, T)
        _C.cscm_attention_fwd_cuda(_util.view(q), _util.view(lengths), scale, _util.view(out), _util.view(lse),
                                   _util.cuda_stream(q))
    return out, lse


@_cscm_attention_fwd.register_fake
def _(q: torch.Tensor, lengths: torch.Tensor, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.empty_like(q, memory_format=torch.contiguous_format), q.new_empty((q.shape[0], q.shape[1], 2))


@torch.library.custom_op("mcwes::cscm_attention_bwd", mutates_args=())
def _cscm_attention_bwd(grad_out: torch.Tensor, q: torch.Tensor, out: torch.Tensor, lse: torch.Tensor,
                        lengths: torch.Tensor, scale: float) -> torch.Tensor:
    grad_q = _util.new_output(q.shape, q.dtype, q.device)
    args = [_util.view(grad_out), _util.view(q), _util.view(out), _util.view(lse), _util.view(lengths), scale,
            _util.view(grad_q)]
    if q.device.type == "cpu":
        _C.cscm_attention_bwd_cpu(*args, _util.num_threads())
    else:
        _util.require_cuda(OP)
        _C.cscm_attention_bwd_cuda(*args, _util.cuda_stream(q))
    return grad_q


@_cscm_attention_bwd.register_fake
def _(grad_out: torch.Tensor, q: torch.Tensor, out: torch.Tensor, lse: torch.Tensor, lengths: torch.Tensor,
      scale: float) -> torch.Tensor:
    return torch.empty_like(q, memory_format=torch.contiguous_format)


def _setup_context(ctx, inputs, output) -> None:
    q, lengths, scale = inputs
    out, lse = output
    ctx.save_for_backward(q, out, lse, lengths)
    ctx.scale = scale


def _backward(ctx, grad_out, _grad_lse):
    q, out, lse, lengths = ctx.saved_tensors
    if grad_out is None:
        return None, None, None
    grad_q = torch.ops.mcwes.cscm_attention_bwd(grad_out, q, out, lse, lengths, ctx.scale)
    return grad_q, None, None


_cscm_attention_fwd.register_autograd(_backward, setup_context=_setup_context)


def cscm_attention_torch(q: torch.Tensor, lengths: object = None, scale: float = 1.0) -> torch.Tensor:
    """The plain-PyTorch fallback: ``softmax_rows(scale · Q Qᵀ) Q`` with the whole ``[B, T, T]`` score
    tensor, keys ``t >= length`` masked out, padded rows 0. Same arguments, no checks; ``[B, T, D]``."""
    B, T, _ = q.shape
    valid = _util.valid_mask(_util.plain_lengths(lengths, B, T, q.device), T)
    q = torch.where(valid.unsqueeze(2), q, q.new_zeros(()))  # selection: NaN/inf padding must not leak
    scores = scale * torch.bmm(q, q.transpose(1, 2))
    scores = scores.masked_fill(~valid.unsqueeze(1), torch.finfo(q.dtype).min)
    out = torch.bmm(torch.softmax(scores, dim=2), q)
    return torch.where(valid.unsqueeze(2), out, out.new_zeros(()))
