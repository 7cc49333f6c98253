"""Loads the compiled core (`mcwes._C`) and tells how it was built."""
from __future__ import annotations

import os
import platform
from typing import Any

try:
    from . import _C  # type: ignore[attr-defined]
except ImportError as exc:  # pragma: no cover - exercised only on a broken install
    raise ImportError(
        "mcwes: the compiled extension mcwes._C could not be imported "
        f"({exc}). Build and install the package with `pip install .` (or the README's "
        "`make test`); an editable install needs `pip install --no-build-isolation -e .`."
    ) from exc

__all__ = ["_C", "build_info", "cpu_isa", "cpu_model", "cuda_compiled", "gpu_count", "set_cpu_isa"]

CPU_ISA_ENV = "MCWES_CPU_ISA"
CPU_ISAS = ("scalar", "avx2", "avx512")


def cpu_isa() -> str:
    """The vector instruction set the CPU kernels with ISA-specific paths run now: ``"scalar"``
    (portable C++ for the baseline target), ``"avx2"`` (AVX2 + FMA) or ``"avx512"`` (AVX-512 F/VL).

    It is the lower of what this CPU supports and the cap (``MCWES_CPU_ISA`` at import, or
    :func:`set_cpu_isa`). Non-x86 machines always report ``"scalar"``. Today two kernels have
    ISA-specific paths, picked at each call under the cap: cscm_attention's matrix products and
    tvl1_flow's row loops; the other CPU kernels are compiled once for the baseline target and are
    not affected by the cap.
    """
    return str(_C.cpu_isa())


def set_cpu_isa(name: str | None) -> str:
    """Caps the instruction set of the CPU kernels at ``name`` (``"scalar"``, ``"avx2"``,
    ``"avx512"``; ``None`` removes the cap) and returns the previous cap. A cap above what the CPU
    supports leaves the supported set in use (see :func:`cpu_isa`). Process-wide; takes effect at the
    next kernel call. Lets one machine run and measure every path; results agree between paths to
    rounding (the summation order differs)."""
    previous = str(_C.cpu_isa_cap())
    if name is not None and not isinstance(name, str):
        raise TypeError(f"mcwes.set_cpu_isa: expected name to be a str or None, got {type(name).__name__}")
    _C.set_cpu_isa_cap("avx512" if name is None else name, "mcwes.set_cpu_isa")
    return previous


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux; ``platform.processor()`` elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith(("model name", "cpu model", "hardware")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cap_from_environment() -> None:
    value = os.environ.get(CPU_ISA_ENV)
    if value is not None and value.strip() != "":
        _C.set_cpu_isa_cap(value.strip().lower(), f"mcwes: environment variable {CPU_ISA_ENV}")


_cap_from_environment()


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
    installed torch version: the compiled core does not link it), ``cpu_model``, ``cpu_isa`` (the
    vector instruction set the CPU kernels run now, see :func:`cpu_isa`), ``cpu_isa_supported``
    (the best one this CPU offers) and ``cpu_isa_cap`` (the cap in force, ``"avx512"`` = none).
    """
    import torch

    info: dict[str, Any] = dict(_C.BUILD)
    info["cuda_runtime"] = _C.cuda_runtime_info() if cuda_compiled() else ""
    info["gpu_count"] = gpu_count()
    info["gpu_usable"] = info["gpu_count"] > 0
    info["torch"] = torch.__version__
    info["cpu_model"] = cpu_model()
    info["cpu_isa"] = cpu_isa()
    info["cpu_isa_supported"] = str(_C.cpu_isa_supported())
    info["cpu_isa_cap"] = str(_C.cpu_isa_cap())
    return info
