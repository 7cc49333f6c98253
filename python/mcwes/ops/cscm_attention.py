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

Two paths compute the op on the compiled backend (:func:`cscm_attention_path` says which one a call
takes; :func:`set_cscm_attention_path` forces one):

* ``"fused"``: the kernels above, memory O(B·T·D) at any length.
* ``"composite"``: :func:`cscm_attention_torch`, three torch lines (``bmm``, ``softmax``, ``bmm``) that
  hold ``[B, T, T]`` scores, probabilities and their gradient, on torch's BLAS. Same results within
  float32 rounding (tests/test_cscm_attention_path.py checks both paths, values and gradients, against
  the float64 twin).

The rule of ``"auto"`` (the default), measured on an AMD EPYC (Zen 5) with both libraries capped at
AVX2 (``--isa avx2``: mcwes's kernels and torch's MKL), 1 thread, CPU time, B = 1, D = 1024; fused
time / the faster of composite and SDPA, ranges over two to six runs on a loaded 2-core machine
(benchmarks/RESULTS.md):

=========  =========  ==========  ==========================================
T          forward    fwd + bwd   taken
=========  =========  ==========  ==========================================
250        0.86-0.98  0.77-0.98   composite
384        0.93-1.02  0.85-0.86   composite
500        1.01-1.08  0.89-0.99   forward: fused; with gradient: composite
750        1.03-1.06  1.01-1.04   fused
1000       1.00-1.18  0.98-1.06   fused (2 threads: 1.01-1.19 fwd + bwd)
1500-4000  1.17-1.34  1.06-1.19   fused
=========  =========  ==========  ==========================================

Where the CPU kernels run AVX-512, the fused kernel is level with or faster than torch at every length
measured (0.98-1.29x on one thread) and is always taken.
Without AVX-512 (``mcwes.cpu_isa()`` is ``"avx2"`` or ``"scalar"``) a float32 CPU call takes the
composite when ``T <= COMPOSITE_MAX_T`` (384), or ``T <= COMPOSITE_MAX_T_GRAD`` (640) when q needs a
gradient (the fused backward does 3.5 products of T²·D against the composite's 4, so it pulls ahead
later; from 750 to 1000 the two tie on one thread and the fused kernel wins on two), **and** the
composite's three ``[B, T, T]`` buffers fit ``COMPOSITE_MAX_BYTES`` (256 MiB); otherwise the fused kernel, so long or
many videos keep memory O(B·T·D). float64 and CUDA tensors always take the fused kernel. The choice
is a plain module global read at call time, like :func:`mcwes.ops.set_backend`; a ``torch.compile``
graph keeps the path it was traced with. Its value at import comes from the environment variable
``MCWES_CSCM_ATTENTION_PATH`` when set (one of :data:`PATHS`), so that worker processes (the
launcher's jobs, DataLoader workers) take the same path as the process that started them.
"""
from __future__ import annotations

import math
import os

import torch

from .._ext import _C
from . import _backend, _util

OP = "cscm_attention"

__all__ = [
    "cscm_attention", "cscm_attention_torch", "cscm_attention_path", "set_cscm_attention_path",
    "get_cscm_attention_path", "PATHS", "PATH_ENV",
]

#: The values of :func:`set_cscm_attention_path`.
PATHS = ("auto", "fused", "composite")
#: "auto" on an AVX2-only CPU: the composite up to this length (no gradient needed) ...
COMPOSITE_MAX_T = 384
#: ... and up to this one when q needs a gradient,
COMPOSITE_MAX_T_GRAD = 640
#: while its three [B, T, T] buffers take at most this many bytes.
COMPOSITE_MAX_BYTES = 256 * 2**20

#: The environment variable that sets the path at import (one of PATHS; unset or empty: "auto").
PATH_ENV = "MCWES_CSCM_ATTENTION_PATH"


def _path_from_environment() -> str:
    value = os.environ.get(PATH_ENV, "").strip().lower()
    if value == "":
        return "auto"
    if value not in PATHS:
        raise ValueError(f"mcwes: environment variable {PATH_ENV}: expected one of {PATHS}, got {value!r}")
    return value


_path = _path_from_environment()


def set_cscm_attention_path(path: str) -> None:
    """Makes :func:`cscm_attention` (compiled backend) take ``path``: ``"auto"`` (the default: the
    measured rule of the module docstring), ``"fused"`` (always the fused kernel) or ``"composite"``
    (always :func:`cscm_attention_torch`). Process-wide, like :func:`mcwes.ops.set_backend`."""
    global _path
    if not isinstance(path, str) or path not in PATHS:
        raise ValueError(f"mcwes.set_cscm_attention_path: expected path to be one of {PATHS}, got {path!r}")
    _path = path


def get_cscm_attention_path() -> str:
    """The setting in force: "auto", "fused" or "composite"."""
    return _path


@torch.compiler.assume_constant_result
def _kernel_isa() -> str:
    # A constant for torch.compile (a pybind call would break the graph); see mcwes.cpu_isa.
    return str(_C.cpu_isa())


def cscm_attention_path(q: torch.Tensor) -> str:
    """The path :func:`cscm_attention` takes for ``q`` now: ``"fused"`` or ``"composite"`` (the setting
    of :func:`set_cscm_attention_path`, or under ``"auto"`` the rule of the module docstring)."""
    if _path != "auto":
        return _path
    if q.device.type != "cpu" or q.dtype != torch.float32 or q.dim() != 3 or _kernel_isa() == "avx512":
        return "fused"
    B, T, _ = q.shape
    grad = torch.is_grad_enabled() and q.requires_grad
    max_t = COMPOSITE_MAX_T_GRAD if grad else COMPOSITE_MAX_T
    fits = 3 * B * T * T * q.element_size() <= COMPOSITE_MAX_BYTES
    return "composite" if T <= max_t and fits else "fused"


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
        With the "torch" backend (:func:`mcwes.ops.set_backend`), :func:`cscm_attention_torch`; on the
        compiled backend the fused kernel or, where :func:`cscm_attention_path` says so (short float32
        videos on CPUs without AVX-512), the same composite, after the same argument checks.
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
    if cscm_attention_path(q) == "composite":
        if torch.compiler.is_compiling():
            len_t = torch.ops.mcwes.cscm_attention_check_lengths(len_t, T)
        else:  # the op's copy of lengths would cost ~10% at T = 250 (glibc then returns the big blocks)
            _util.check_lengths_values(OP, len_t, T)
        return _composite(q, len_t, float(scale))
    out, _ = torch.ops.mcwes.cscm_attention_fwd(q, len_t, float(scale))
    return out


@torch.library.custom_op("mcwes::cscm_attention_check_lengths", mutates_args=())
def _check_lengths(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    # The composite path's value check (the kernels check their own): an op, so that a torch.compile
    # graph keeps it instead of breaking on the data-dependent branch, returning a copy of lengths
    # that the composite then uses, so that no graph drops it as dead code.
    _util.check_lengths_values(OP, lengths, steps)
    return lengths.clone()


@_check_lengths.register_fake
def _(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    return torch.empty_like(lengths)


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


def _composite(q: torch.Tensor, lengths: torch.Tensor, scale: float) -> torch.Tensor:
    """The composite path: :func:`cscm_attention_torch`, or (eager, every video full length, the
    common case) its three lines without the masking passes, which cost ~20% at T = 250."""
    T = q.shape[1]
    if torch.compiler.is_compiling() or not bool((lengths == T).all()):
        return cscm_attention_torch(q, lengths, scale)
    s = torch.bmm(q, q.transpose(1, 2))
    if scale != 1.0:
        s = s * scale
    return torch.bmm(torch.softmax(s, dim=2), q)


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
