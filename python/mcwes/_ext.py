"""Loads the compiled core (`mcwes._C`) and tells how it was built."""
from __future__ import annotations

from typing import Any

try:
    from . import _C  # type: ignore[attr-defined]
except ImportError as exc:  # pragma: no cover - exercised only on a broken install
    raise ImportError(
        "mcwes: the compiled extension mcwes._C could not be imported "
        f"({exc}). Build and install the package with `pip install .` (or the README's "
        "`make test`); an editable install needs `pip install --no-build-isolation -e .`."
    ) from exc

__all__ = ["_C", "build_info", "cuda_compiled", "gpu_count"]


def cuda_compiled() -> bool:
    """True when this build contains the CUDA kernels."""
    return bool(_C.BUILD["cuda"])


def gpu_count() -> int:
    """Number of GPUs the CUDA runtime linked into mcwes can use now (0 without a CUDA build)."""
    return int(_C.cuda_device_count()) if cuda_compiled() else 0


def build_info() -> dict[str, Any]:
    """How this copy of mcwes was built and what it can use now.

    Keys: ``version``, ``build_type``, ``compiler``, ``openmp`` (bool), ``sanitize`` (sanitizers the
    CPU code was built with, "" for none), ``cuda`` (CUDA kernels compiled), ``cuda_architectures``,
    ``cuda_compiler_version``, ``cuda_runtime`` (runtime/driver versions, "" without CUDA),
    ``gpu_count`` and ``gpu_usable`` (a GPU the kernels can run on right now), ``torch`` (the
    installed torch version: the compiled core does not link it).
    """
    import torch

    info: dict[str, Any] = dict(_C.BUILD)
    info["cuda_runtime"] = _C.cuda_runtime_info() if cuda_compiled() else ""
    info["gpu_count"] = gpu_count()
    info["gpu_usable"] = info["gpu_count"] > 0
    info["torch"] = torch.__version__
    return info
