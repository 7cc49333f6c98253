"""TV-L1 optical flow between consecutive grayscale frames, and its conversion to I3D input.

Backends: ``"mcwes"`` = ``mcwes.ops.tvl1_flow`` (batched; intensities passed in [0, 255] as float32),
``"opencv"`` = ``cv2.optflow.DualTVL1OpticalFlow_create`` with the same parameters (one pair at a time),
``"auto"`` = the first when this build has the op, else the second.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from .options import TVL1Params

__all__ = ["flow_to_i3d", "make_flow_fn", "resolve_backend"]

FlowFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def resolve_backend(backend: str) -> str:
    from .. import ops  # noqa: PLC0415

    if backend == "auto":
        return "mcwes" if hasattr(ops, "tvl1_flow") else "opencv"
    if backend == "mcwes" and not hasattr(ops, "tvl1_flow"):
        raise ValueError('mcwes.extract: flow_backend="mcwes" needs mcwes.ops.tvl1_flow, which this build of '
                         'mcwes does not have; use flow_backend="opencv" or "auto"')
    if backend not in ("mcwes", "opencv"):
        raise ValueError(f"mcwes.extract: expected flow_backend 'auto', 'mcwes' or 'opencv', got {backend!r}")
    return backend


def _cv2():
    try:
        import cv2  # noqa: PLC0415
    except ImportError:
        raise ImportError('mcwes.extract: OpenCV is needed here; install it with pip install "mcwes[video]" '
                          "(opencv-contrib-python-headless)") from None
    return cv2


def make_flow_fn(backend: str, params: TVL1Params, device: str = "cpu") -> FlowFn:
    """A function ``(prev uint8 [N, H, W], next uint8 [N, H, W]) → float32 [N, 2, H, W]`` (u, v in pixels)."""
    backend = resolve_backend(backend)
    if backend == "mcwes":
        import torch  # noqa: PLC0415

        from ..ops import tvl1_flow  # noqa: PLC0415

        kwargs = dataclasses.asdict(params)

        def run_mcwes(prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
            a = torch.from_numpy(prev.astype(np.float32)).to(device)
            b = torch.from_numpy(nxt.astype(np.float32)).to(device)
            return tvl1_flow(a, b, **kwargs).float().cpu().numpy()

        return run_mcwes
    cv2 = _cv2()
    if not hasattr(cv2, "optflow"):
        raise ImportError("mcwes.extract: this OpenCV has no cv2.optflow (the contrib modules); install "
                          "opencv-contrib-python-headless instead of opencv-python")
    tvl1 = cv2.optflow.DualTVL1OpticalFlow_create(
        tau=params.tau, lambda_=params.lambda_, theta=params.theta, nscales=params.nscales, warps=params.warps,
        epsilon=params.epsilon, innnerIterations=params.inner_iterations,
        outerIterations=params.outer_iterations, scaleStep=params.scale_step, gamma=params.gamma,
        medianFiltering=params.median_filtering)

    def run_opencv(prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
        out = np.empty((prev.shape[0], 2) + prev.shape[1:], dtype=np.float32)
        for i in range(prev.shape[0]):
            out[i] = tvl1.calc(prev[i], nxt[i], None).transpose(2, 0, 1)
        return out

    return run_opencv


def flow_to_i3d(flow: np.ndarray, bound: float, size: int, jpeg: bool) -> np.ndarray:
    """One pair's flow ``[2, H, W]`` → I3D input ``[2, size, size]`` float32 in [−1, 1]: clipped to
    ±bound; with ``jpeg``, quantised ``q = round((f + bound)·255/(2·bound))``, saved and re-read as JPEG
    quality 95, resized (Lanczos) and scaled ``q·2/255 − 1`` (the authors' images); else resized as
    floats (Lanczos) and divided by bound."""
    from PIL import Image  # noqa: PLC0415

    out = np.empty((2, size, size), dtype=np.float32)
    f = np.clip(flow, -bound, bound)
    for c in range(2):
        if jpeg:
            cv2 = _cv2()
            q = np.clip(np.rint((f[c] + bound) * (255.0 / (2 * bound))), 0, 255).astype(np.uint8)
            ok, buf = cv2.imencode(".jpg", q, [cv2.IMWRITE_JPEG_QUALITY, 95])
            q = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
            img = np.asarray(Image.fromarray(q).resize((size, size), Image.Resampling.LANCZOS), dtype=np.float32)
            out[c] = img * (2.0 / 255.0) - 1.0
        else:
            pil = Image.fromarray(np.ascontiguousarray(f[c] / bound, dtype=np.float32))
            out[c] = np.clip(np.asarray(pil.resize((size, size), Image.Resampling.LANCZOS)), -1.0, 1.0)
    return out
