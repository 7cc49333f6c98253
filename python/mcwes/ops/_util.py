"""What every op's Python layer shares: views for the compiled core, argument checks in the one error
grammar (``mcwes.<op>: expected <arg> to <expectation>, got <actual>``), output allocation, and the
device plumbing (threads, streams, CUDA availability)."""
from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, NoReturn

import torch

from .._ext import _C, cuda_compiled, gpu_count

_DTYPE_CODES = {torch.float32: 0, torch.float64: 1, torch.int64: 2, torch.bool: 3, torch.int32: 4}
FLOAT_DTYPES = (torch.float32, torch.float64)

#: Larger than any length a tensor can have, and still an int64: a window (eta), k or m at least this
#: big acts like any other value >= T, so larger ones are clipped to it before reaching int64 code.
BEYOND_ANY_LENGTH = 2**62

# Outputs are allocated uninitialised; with poisoning on (tests, MCWES_POISON=1) they are first filled
# with NaN / -1 / True so a kernel that forgets to write an element is caught.
_poison = os.environ.get("MCWES_POISON", "") not in ("", "0")


def set_poison(enabled: bool) -> None:
    """Fill every output with NaN/-1/True before the kernel writes it (a debugging aid)."""
    global _poison
    _poison = bool(enabled)


def new_output(shape: Sequence[int], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    out = torch.empty(shape, dtype=dtype, device=device)
    if _poison and out.numel():
        out.fill_(True if dtype == torch.bool else (float("nan") if dtype.is_floating_point else -1))
    return out


def view(t: torch.Tensor) -> Any:
    """The plain (pointer, dtype, sizes, strides, device) view the compiled kernels take."""
    return _C.View(t.data_ptr(), _DTYPE_CODES[t.dtype], t.shape, t.stride(), t.get_device())  # CPU: -1


def num_threads() -> int:
    """CPU kernels use as many threads as torch does (torch.set_num_threads applies to mcwes too)."""
    return torch.get_num_threads()


def cuda_stream(t: torch.Tensor) -> int:
    return int(torch.cuda.current_stream(t.device).cuda_stream)


def require_cuda(op: str) -> None:
    """Raise a RuntimeError saying why a CUDA op cannot run: no CUDA build, or no usable GPU."""
    if not cuda_compiled():
        raise RuntimeError(
            f"mcwes.{op}: got CUDA tensors, but this build of mcwes has no CUDA kernels (it was built "
            "without a CUDA compiler); reinstall with nvcc on PATH (MCWES_CUDA=ON makes that required)"
        )
    if gpu_count() == 0:
        raise RuntimeError(
            f"mcwes.{op}: the CUDA kernels are built, but the CUDA runtime finds no usable GPU on this "
            f"machine ({_C.cuda_runtime_info()})"
        )


def _private_probes() -> Any:
    """The two private torch functions the fast path reads, or None when this torch lacks one of them
    (then every call goes through the dispatcher: slower, never wrong).

    torch has no public way to ask whether a TorchDispatchMode is active or whether a tensor is a
    functorch (vmap/grad) wrapper; these two are the only private torch calls of mcwes, and
    tests/test_fast_path.py checks that the tested torch has them and that each case they detect
    leaves the fast path."""
    try:
        return (torch._C._len_torch_dispatch_stack, torch._C._functorch.is_functorch_wrapped_tensor)
    except AttributeError:  # pragma: no cover - depends on the torch release
        return None


_PROBES = _private_probes()


def eager_fast_path(*tensors: torch.Tensor) -> bool:
    """True when an op may skip the torch.library dispatcher and run its autograd.Function directly.

    The dispatcher round trip of a Python custom op costs tens of microseconds, more than the kernels
    themselves at spotting sizes. Plain eager calls therefore take a direct path; whenever anything
    could need the registered op (torch.compile/export tracing, FakeTensors and other subclasses,
    functorch transforms, dispatch or function modes such as profilers and FLOP counters) the call goes
    through ``torch.ops.mcwes.*``. Both paths run the same implementation functions. Function modes and
    ``__torch_function__`` subclasses are seen by the public ``torch.overrides.has_torch_function``;
    dispatch modes and functorch wrappers need two private torch functions (:func:`_private_probes`),
    and a torch without them always takes the dispatcher.
    """
    if _PROBES is None:
        return False
    dispatch_stack_len, functorch_wrapped = _PROBES
    if torch.compiler.is_compiling() or dispatch_stack_len() > 0:
        return False
    if torch.overrides.has_torch_function(tensors):
        return False
    for t in tensors:
        if type(t) is not torch.Tensor or functorch_wrapped(t):
            return False
    return True


def fail(op: str, arg: str, expectation: str, got: object, exc: type = ValueError) -> NoReturn:
    raise exc(f"mcwes.{op}: expected {arg} to {expectation}, got {got}")


def check_tensor(
    op: str,
    arg: str,
    t: object,
    *,
    ndim: int | None = None,
    dtypes: Sequence[torch.dtype] | None = None,
    device: torch.device | None = None,
) -> torch.Tensor:
    if not isinstance(t, torch.Tensor):
        fail(op, arg, "be a torch.Tensor", type(t).__name__, TypeError)
    assert isinstance(t, torch.Tensor)
    if ndim is not None and t.dim() != ndim:
        fail(op, arg, f"have {ndim} dimensions", f"shape {tuple(t.shape)}")
    if dtypes is not None and t.dtype not in dtypes:
        names = " or ".join(str(d).replace("torch.", "") for d in dtypes)
        fail(op, arg, f"have dtype {names}", str(t.dtype).replace("torch.", ""), TypeError)
    if device is not None and t.device != device:
        fail(op, arg, f"be on {device} like the other inputs", t.device)
    check_aligned(op, arg, t)
    return t


def check_aligned(op: str, arg: str, t: torch.Tensor) -> None:
    """Reject a data pointer that is not a multiple of the element size (torch.frombuffer with an odd
    byte offset makes one); the kernels' typed loads would be undefined behaviour there. Eager plain
    tensors only: traced (fake) tensors and functorch (vmap/grad) wrappers have no data pointer, and
    the real tensors under them are checked when the kernel runs."""
    if type(t) is not torch.Tensor or torch.compiler.is_compiling() or t.device.type == "meta":
        return
    if _PROBES is not None and _PROBES[1](t):
        return
    if t.numel() and t.data_ptr() % t.element_size():
        fail(op, arg, f"be aligned to its element size ({t.element_size()} bytes); pass a .clone()",
             f"data pointer {t.data_ptr():#x}")


def as_index_tensor(op: str, arg: str, value: object, device: torch.device) -> torch.Tensor:
    """An int64 tensor on `device` from an int sequence, NumPy array or integer tensor."""
    if isinstance(value, torch.Tensor):
        if value.dtype == torch.int64 and value.device == device:
            check_aligned(op, arg, value)
            return value  # the common case, without a .to() call on the hot path
        if value.dtype.is_floating_point or value.dtype.is_complex or value.dtype == torch.bool:
            fail(op, arg, "hold integers", f"dtype {str(value.dtype).replace('torch.', '')}", TypeError)
        check_aligned(op, arg, value)
        return value.to(device=device, dtype=torch.int64)
    try:
        t = torch.as_tensor(value)
    except OverflowError:
        fail(op, arg, "hold integers that fit in int64", value)
    except (TypeError, ValueError, RuntimeError) as e:
        if "overflow" in str(e).lower():
            fail(op, arg, "hold integers that fit in int64", value)
        fail(op, arg, "be an integer sequence or tensor", type(value).__name__, TypeError)
    if t.numel() and (t.dtype.is_floating_point or t.dtype.is_complex or t.dtype == torch.bool):
        fail(op, arg, "hold integers", f"dtype {str(t.dtype).replace('torch.', '')}", TypeError)
    return t.to(device=device, dtype=torch.int64)


def as_lengths(op: str, lengths: object, batch: int, steps: int, device: torch.device) -> torch.Tensor:
    """`lengths` as int64[B] on `device`; None means every video fills all T steps.

    Shapes are checked here; values (0 <= length <= T) are checked inside the op, where reading them
    does not break torch.compile graphs.
    """
    if lengths is None:
        return torch.full((batch,), steps, dtype=torch.int64, device=device)
    t = as_index_tensor(op, "lengths", lengths, device)
    if t.dim() != 1 or t.shape[0] != batch:
        fail(op, "lengths", f"have shape [{batch}] (one length per video)", f"shape {tuple(t.shape)}")
    return t


def check_lengths_values(op: str, lengths: torch.Tensor, steps: int) -> None:
    """Value check for device tensors (the CPU kernels check on the host themselves)."""
    if lengths.numel() and bool(((lengths < 0) | (lengths > steps)).any()):
        bad = lengths[(lengths < 0) | (lengths > steps)][0].item()
        fail(op, "lengths", f"lie in [0, {steps}]", bad)


def valid_mask(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """``[B, T]`` bool, True where ``t < lengths[b]``."""
    return torch.arange(steps, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)


def plain_lengths(lengths: object, batch: int, steps: int, device: torch.device) -> torch.Tensor:
    """``lengths`` as int64 ``[B]`` for the plain-PyTorch fallbacks (None: all ``T``), unchecked."""
    if lengths is None:
        return torch.full((batch,), steps, dtype=torch.int64, device=device)
    return torch.as_tensor(lengths, dtype=torch.int64, device=device)
