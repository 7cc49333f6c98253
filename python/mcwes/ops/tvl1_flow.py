"""Dense TV-L1 optical flow (the flow that I3D's flow stream consumes; docs/method.md §7).

``tvl1_flow(prev, next)`` computes the dual TV-L1 flow of Zach, Pock & Bischof (2007) with the
warping scheme of Wedel et al. (2009) and Sánchez et al. (IPOL 2013) the way OpenCV's
``optflow::DualTVL1OpticalFlow`` does, with its parameter names and defaults, for a batch of
grayscale frame pairs at once, on the CPU (C++, OpenMP) or CUDA. The pyramid, interpolation,
gradient stencils, median filter and stopping rule are documented in
``csrc/mcwes/kernels/tvl1_flow.h``; :func:`mcwes.reference.tvl1_flow` is the float64 twin.

Frames are intensities on the 0–255 scale: uint8 frames are converted to float32 unscaled, float32
frames are used as given. (OpenCV multiplies float32 input by 255; pass it ``frame / 255`` to compare.)
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .._ext import _C
from . import _util

OP = "tvl1_flow"

__all__ = ["tvl1_flow"]

_FRAME_DTYPES = (torch.float32, torch.uint8)

# CPU, fewer pairs than threads: split each pair's rows among the threads (1), never (0), or from
# 192×192 pixels on (-1, the default). Tests set it to exercise both paths; the results are bit for
# bit those of one thread. The threads of a team meet at a barrier after every inner iteration
# (thousands per pair). On cores of its own that pays: on a quiet 2-core AMD EPYC, one 400² pair took
# 35 ms wall split against 63 ms on one thread (AVX-512 path; AVX2: 45 vs 68 ms), for 10–30 % more
# CPU time. On a machine with more busy threads than cores each barrier waits for a descheduled
# thread: at load ~10 the same pair took 1.8 CPU s split against 0.08 s. There, use one torch thread
# per process or pass batches (N >= threads: one thread per pair, no barriers).
_ROW_SPLIT = -1
_INT_LIMIT = 1_000_000


def tvl1_flow(
    prev: torch.Tensor,
    next: torch.Tensor,
    *,
    tau: float = 0.25,
    lambda_: float = 0.15,
    theta: float = 0.3,
    nscales: int = 5,
    warps: int = 5,
    epsilon: float = 0.01,
    inner_iterations: int = 30,
    outer_iterations: int = 10,
    scale_step: float = 0.8,
    gamma: float = 0.0,
    median_filtering: int = 5,
) -> torch.Tensor:
    """TV-L1 optical flow from ``prev`` to ``next``.

    Args:
        prev, next: ``[N, H, W]`` batches of grayscale frames (or one ``[H, W]`` pair), float32 on
            the 0–255 scale or uint8, same shape and device (CPU or CUDA), any strides, finite.
        tau: dual step size (> 0). lambda_: weight of the data term (> 0; ``lambda`` is a Python
            keyword). theta: coupling of u and v (> 0).
        nscales: pyramid levels (>= 1; levels under 16 pixels a side are dropped).
        warps: warpings per level (>= 1). epsilon: stopping threshold (>= 0): a warp stops once the
            summed squared update of the flow is at most ``epsilon² · H · W`` of the level.
        inner_iterations, outer_iterations: iteration limits per warp (>= 1); the median filter runs
            before each outer iteration.
        scale_step: size ratio between pyramid levels, in (0, 1).
        gamma: weight of the illumination-change term (>= 0; 0 switches it off).
        median_filtering: median filter size, 0 or 1 (off), 3, 5 or 7.

    Returns:
        ``[N, 2, H, W]`` float32 (``[2, H, W]`` for one pair): u (along columns) then v (along rows),
        in pixels, on the device of the frames. Not differentiable.
    """
    _util.check_tensor(OP, "prev", prev, dtypes=_FRAME_DTYPES)
    _util.check_tensor(OP, "next", next, dtypes=_FRAME_DTYPES)
    if prev.dim() not in (2, 3):
        _util.fail(OP, "prev", "have shape [N, H, W] or [H, W]", f"shape {tuple(prev.shape)}")
    if next.shape != prev.shape:
        _util.fail(OP, "next", f"have the shape of prev {tuple(prev.shape)}", f"shape {tuple(next.shape)}")
    if next.dtype != prev.dtype:
        _util.fail(OP, "next", f"have the dtype of prev ({str(prev.dtype).replace('torch.', '')})",
                   str(next.dtype).replace("torch.", ""), TypeError)
    if next.device != prev.device:
        _util.fail(OP, "next", f"be on {prev.device} like prev", next.device)
    if prev.shape[-1] == 0 or prev.shape[-2] == 0:
        _util.fail(OP, "prev", "hold frames of at least 1×1 pixels", f"shape {tuple(prev.shape)}")
    for name, value, low in (("tau", tau, 0.0), ("lambda_", lambda_, 0.0), ("theta", theta, 0.0)):
        _check_float(name, value)
        if not value > low:
            _util.fail(OP, name, "be > 0", value)
    for name, value in (("epsilon", epsilon), ("gamma", gamma)):
        _check_float(name, value)
        if value < 0:
            _util.fail(OP, name, "be >= 0", value)
    _check_float("scale_step", scale_step)
    if not 0.0 < scale_step < 1.0:
        _util.fail(OP, "scale_step", "lie in (0, 1)", scale_step)
    for name, value in (("nscales", nscales), ("warps", warps), ("inner_iterations", inner_iterations),
                        ("outer_iterations", outer_iterations)):
        _check_int(name, value)
        if not 1 <= value <= _INT_LIMIT:
            _util.fail(OP, name, f"lie in [1, {_INT_LIMIT}]", value)
    _check_int("median_filtering", median_filtering)
    if median_filtering > 1 and median_filtering not in (3, 5, 7):
        _util.fail(OP, "median_filtering", "be 0 or 1 (off), 3, 5 or 7", median_filtering)

    single = prev.dim() == 2
    a = prev.unsqueeze(0) if single else prev
    b = next.unsqueeze(0) if single else next
    if a.device.type == "cpu":
        # NumPy (one thread) converts and checks CPU frames: torch's parallel elementwise ops leave
        # their OpenMP workers spinning on the cores while the kernel runs (a one-pair 224² call took
        # 4× its CPU time, and up to 2× its wall time, with torch on 2 threads).
        a, b = _cpu_frames("prev", a), _cpu_frames("next", b)
    else:
        a = a.detach().to(torch.float32)
        b = b.detach().to(torch.float32)
        for name, t in (("prev", a), ("next", b)):
            if t.numel() and not bool(torch.isfinite(t).all()):
                _util.fail(OP, name, "hold finite values", "NaN or inf")
    out = torch.ops.mcwes.tvl1_flow_fwd(a, b, float(tau), float(lambda_), float(theta), int(nscales), int(warps),
                                        float(epsilon), int(inner_iterations), int(outer_iterations),
                                        float(scale_step), float(gamma), int(median_filtering))
    return out[0] if single else out


def _cpu_frames(name: str, t: torch.Tensor) -> torch.Tensor:
    """CPU frames as float32 (uint8 converted; float32 kept with its strides), checked finite."""
    arr = t.detach().numpy()
    if t.dtype == torch.uint8:
        return torch.from_numpy(arr.astype(np.float32))
    if arr.size and not bool(np.isfinite(arr).all()):
        _util.fail(OP, name, "hold finite values", "NaN or inf")
    return t.detach()


def _check_float(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        _util.fail(OP, name, "be a float", type(value).__name__, TypeError)
    elif not math.isfinite(value):
        _util.fail(OP, name, "be finite", value)


def _check_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        _util.fail(OP, name, "be an int", type(value).__name__, TypeError)


@torch.library.custom_op("mcwes::tvl1_flow_fwd", mutates_args=())
def _tvl1_flow_fwd(prev: torch.Tensor, next: torch.Tensor, tau: float, lambda_: float, theta: float, nscales: int,
                   warps: int, epsilon: float, inner_iterations: int, outer_iterations: int, scale_step: float,
                   gamma: float, median_filtering: int) -> torch.Tensor:
    N, H, W = prev.shape
    out = _util.new_output((N, 2, H, W), torch.float32, prev.device)
    args = (tau, lambda_, theta, nscales, warps, epsilon, inner_iterations, outer_iterations, scale_step, gamma,
            median_filtering)
    if prev.device.type == "cpu":
        _C.tvl1_flow_fwd_cpu(_util.view(prev), _util.view(next), _util.view(out), *args, _ROW_SPLIT,
                             _util.num_threads())
    else:
        _util.require_cuda(OP)
        _C.tvl1_flow_fwd_cuda(_util.view(prev), _util.view(next), _util.view(out), *args, _util.cuda_stream(prev))
    return out


@_tvl1_flow_fwd.register_fake
def _(prev: torch.Tensor, next: torch.Tensor, tau: float, lambda_: float, theta: float, nscales: int, warps: int,
      epsilon: float, inner_iterations: int, outer_iterations: int, scale_step: float, gamma: float,
      median_filtering: int) -> torch.Tensor:
    N, H, W = prev.shape
    return prev.new_empty((N, 2, H, W))
