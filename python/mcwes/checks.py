"""One validation function per kind of input, shared by the Python API and the command line.

Every function takes the name of the public function (or CLI command) it checks for (``where``) and
the argument's name, and raises an exception that names both, says what was expected and what was
got: ``mcwes.spot: expected fps to be a finite number > 0, got 0``. The CLI passes its option names
(``--fps``), so the same message reads right in both places. What each check refuses, and what the
user sees, is listed in ``docs/robustness.md``.

Warnings a user needs (files a reader ignored, predictions for videos not in the ground truth, rows
dropped) go through :func:`warn`: a :class:`MCWESWarning` through :mod:`warnings`, and the same text
appended to the report that the function returns.
"""
from __future__ import annotations

import math
import numbers
import os
import warnings
from pathlib import Path
from typing import Any, Optional, Union, NoReturn

import numpy as np

__all__ = [
    "MCWESWarning", "warn", "fail", "positive_number", "positive_int", "optional_number", "int64_value",
    "real_array", "feature_array", "lengths_array", "existing_file", "existing_dir", "output_file",
    "output_dir", "device", "INT64_MAX", "FRAME_LIMIT",
]

INT64_MAX = 2**63 - 1
#: Frame numbers must lie below this (2**31 frames: 2.3 years at 30 fps). Larger values in a file are
#: typos or overflow, and evaluation packs (video, frame) pairs into int64 keys.
FRAME_LIMIT = 2**31


class MCWESWarning(UserWarning):
    """Something the user needs to know that does not stop the call: data ignored, names that do
    not match. The same text is returned in the result's report."""


def warn(message: str, report: Optional[list] = None, *, stacklevel: int = 3) -> None:
    """Emit ``message`` as an :class:`MCWESWarning` and append it to ``report`` (when given)."""
    if report is not None:
        report.append(message)
    warnings.warn(message, MCWESWarning, stacklevel=stacklevel)


def fail(where: str, arg: str, expected: str, got: object, exc: type = ValueError) -> NoReturn:
    """Raise ``exc("<where>: expected <arg> to <expected>, got <got>")``."""
    raise exc(f"{where}: expected {arg} to {expected}, got {got}")


def _describe(value: object) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, (bool, int, float, str)) or value is None:
        text = repr(value)
        return text if len(text) <= 40 else f"{text[:20]}…({len(text)} characters)"
    return f"a {type(value).__name__}"


def positive_number(value: object, where: str, arg: str) -> float:
    """A finite real number > 0 (fps, ratios); bools, strings, NaN, ±inf and ≤ 0 are refused."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        fail(where, arg, "be a finite number > 0", _describe(value), TypeError)
    number = float(value)
    if not math.isfinite(number) or number <= 0:
        fail(where, arg, "be a finite number > 0", _describe(value))
    return number


def optional_number(value: object, where: str, arg: str) -> Optional[float]:
    """None, or a finite real number (a threshold)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        fail(where, arg, "be a finite number or None", _describe(value), TypeError)
    if not math.isfinite(float(value)):
        fail(where, arg, "be a finite number or None", _describe(value))
    return float(value)


def int64_value(value: object, where: str, arg: str, *, minimum: int = 0) -> int:
    """An integer in ``[minimum, 2**63 - 1]`` (a Python int, a NumPy integer, or a float holding one)."""
    if isinstance(value, bool):
        fail(where, arg, f"be an integer >= {minimum}", repr(value), TypeError)
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(float(value)) or float(value) != math.floor(float(value)):
            fail(where, arg, f"be an integer >= {minimum}", _describe(float(value)))
        value = int(value)
    if not isinstance(value, numbers.Integral):
        fail(where, arg, f"be an integer >= {minimum}", _describe(value), TypeError)
    value = int(value)
    if value < minimum:
        fail(where, arg, f"be an integer >= {minimum}", value)
    if value > INT64_MAX:
        fail(where, arg, "be an integer <= 2**63 - 1 (int64)", f"{value} (overflows int64)")
    return value


def positive_int(value: object, where: str, arg: str) -> int:
    """An integer ``>= 1`` that fits int64 (snippet_frames, iterations, batch sizes)."""
    return int64_value(value, where, arg, minimum=1)


def real_array(x: object, where: str, what: str) -> np.ndarray:
    """``x`` as a NumPy array of real numbers; complex, bool, object, string and other dtypes are refused."""
    import torch

    if isinstance(x, torch.Tensor):
        if x.is_complex() or x.dtype == torch.bool:
            fail(where, what, "hold real numbers (integer or floating point)", f"dtype {x.dtype}", TypeError)
        return x.detach().cpu().numpy() if x.dtype != torch.bfloat16 else x.detach().float().cpu().numpy()
    if not isinstance(x, np.ndarray):
        fail(where, what, "be a numpy.ndarray or torch.Tensor", type(x).__name__, TypeError)
    if x.dtype == np.bool_ or not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        fail(where, what, "hold real numbers (integer or floating point)", f"dtype {x.dtype}", TypeError)
    return x


def feature_array(x: object, where: str, what: str, *, width: Optional[int] = None, finite: bool = True) -> np.ndarray:
    """One video's features: a real ``[T, 2D]`` array (T >= 1, even width, ``width`` when given),
    finite unless ``finite=False``; returned as float32 (a view when it already is)."""
    a = real_array(x, where, what)
    if a.ndim != 2:
        fail(where, what, "have shape [T, 2D]", f"shape {tuple(a.shape)}")
    if a.shape[0] < 1:
        fail(where, what, "hold at least one snippet (T >= 1)", f"shape {tuple(a.shape)}")
    if a.shape[1] == 0 or a.shape[1] % 2:
        fail(where, what, "have an even, non-zero width 2D (RGB then flow)", f"shape {tuple(a.shape)}")
    if width is not None and a.shape[1] != width:
        fail(where, what, f"have width 2D = {width}", f"shape {tuple(a.shape)}")
    with np.errstate(over="ignore", invalid="ignore"):
        a = np.asarray(a, dtype=np.float32)
    if finite and not np.isfinite(a).all():
        t = int(np.argwhere(~np.isfinite(a))[0][0])
        fail(where, what, "hold finite numbers (as float32)", f"NaN/inf at snippet {t}")
    return a


def lengths_array(lengths: object, where: str, *, batch: int, steps: int, arg: str = "lengths") -> np.ndarray:
    """``[batch]`` integer lengths in ``[0, steps]`` as int64; floats, bools and values beyond int64 are refused."""
    import torch

    if isinstance(lengths, torch.Tensor):
        if lengths.dtype.is_floating_point or lengths.is_complex() or lengths.dtype == torch.bool:
            fail(where, arg, f"be {batch} integers", f"dtype {lengths.dtype}", TypeError)
        lengths = lengths.detach().cpu().numpy()
    if isinstance(lengths, (list, tuple)):
        values = []
        for i, v in enumerate(lengths):
            values.append(int64_value(v, where, f"{arg}[{i}]") if not isinstance(v, (float, np.floating))
                          else fail(where, f"{arg}[{i}]", "be an integer", repr(v), TypeError))
        arr = np.asarray(values, dtype=np.int64) if values else np.zeros(0, dtype=np.int64)
    elif isinstance(lengths, np.ndarray):
        if not np.issubdtype(lengths.dtype, np.integer) or lengths.dtype == np.bool_:
            fail(where, arg, f"be {batch} integers", f"dtype {lengths.dtype}", TypeError)
        if lengths.dtype == np.uint64 and lengths.size and int(lengths.max()) > INT64_MAX:
            fail(where, arg, "fit int64", f"{int(lengths.max())} (overflows int64)")
        arr = lengths.astype(np.int64)
    else:
        fail(where, arg, f"be {batch} integers (a sequence, array or tensor)", _describe(lengths), TypeError)
    if arr.shape != (batch,):
        fail(where, arg, f"have shape [{batch}] (one per video)", f"shape {tuple(arr.shape)}")
    bad = (arr < 0) | (arr > steps)
    if bad.any():
        i = int(np.argmax(bad))
        fail(where, arg, f"lie in [0, {steps}]", f"{arg}[{i}] = {int(arr[i])}")
    return arr


PathLike = Union[str, "os.PathLike[str]"]


def _as_path(path: object, where: str, arg: str) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        fail(where, arg, "be a path (str or os.PathLike)", type(path).__name__, TypeError)
    text = os.fspath(path)
    if isinstance(text, bytes) or not text or "\x00" in text:
        fail(where, arg, "be a non-empty path", repr(text))
    return Path(text)


def existing_file(path: object, where: str, arg: str) -> Path:
    """A path that names an existing, readable file: FileNotFoundError when absent,
    IsADirectoryError for a folder, PermissionError when unreadable."""
    p = _as_path(path, where, arg)
    if p.is_dir():
        raise IsADirectoryError(f"{where}: expected {arg} to be a file, got the directory {p}")
    if not p.exists():
        parent = next((q for q in p.parents if q.exists()), None)
        if parent is not None and not parent.is_dir():
            raise NotADirectoryError(f"{where}: {arg} {p}: {parent} is a file, not a directory")
        raise FileNotFoundError(f"{where}: {arg} {p} does not exist")
    if not p.is_file():
        fail(where, arg, "be a regular file", f"{p} (neither a file nor a directory)")
    if not os.access(p, os.R_OK):
        raise PermissionError(f"{where}: {arg} {p} is not readable (permission denied)")
    return p


def existing_dir(path: object, where: str, arg: str) -> Path:
    """A path that names an existing directory (NotADirectoryError for a file)."""
    p = _as_path(path, where, arg)
    if not p.exists():
        raise FileNotFoundError(f"{where}: {arg} {p} does not exist")
    if not p.is_dir():
        raise NotADirectoryError(f"{where}: expected {arg} to be a directory, got the file {p}")
    return p


def _first_file_above(p: Path) -> Optional[Path]:
    for q in p.parents:
        if q.exists():
            return None if q.is_dir() else q
    return None


def output_file(path: object, where: str, arg: str) -> Path:
    """A file to write: not an existing directory, and no file where a parent folder must be."""
    p = _as_path(path, where, arg)
    if p.is_dir():
        raise IsADirectoryError(f"{where}: expected {arg} to name a file to write, got the directory {p}")
    blocker = _first_file_above(p)
    if blocker is not None:
        raise NotADirectoryError(f"{where}: cannot write {arg} {p}: {blocker} is a file, not a directory")
    return p


def output_dir(path: object, where: str, arg: str) -> Path:
    """A folder to write into: absent (it will be created) or a directory; not a file."""
    p = _as_path(path, where, arg)
    if p.exists() and not p.is_dir():
        raise FileExistsError(f"{where}: expected {arg} to be a directory (or not to exist yet), got the file {p}")
    blocker = _first_file_above(p)
    if blocker is not None:
        raise NotADirectoryError(f"{where}: cannot create {arg} {p}: {blocker} is a file, not a directory")
    return p


def device(spec: object, where: str, arg: str = "device") -> Any:
    """A usable ``torch.device``: the string must parse, and a CUDA device needs a CUDA build of
    torch, a visible GPU and an index below the GPU count. None stays None (the caller's default)."""
    import torch

    if spec is None:
        return None
    if isinstance(spec, torch.device):
        dev = spec
    elif isinstance(spec, str):
        try:
            dev = torch.device(spec)
        except (RuntimeError, ValueError):
            fail(where, arg, "name a torch device such as 'cpu', 'cuda' or 'cuda:0'", repr(spec))
    else:
        fail(where, arg, "be a device name or torch.device", type(spec).__name__, TypeError)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            why = ("this torch is built without CUDA" if torch.version.cuda is None else "no CUDA GPU is visible")
            raise RuntimeError(f"{where}: {arg} {str(dev)!r} is not available: {why}; use --device cpu / device='cpu'")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            fail(where, arg, f"name one of the {torch.cuda.device_count()} CUDA devices", repr(str(dev)))
    elif dev.type != "cpu":
        fail(where, arg, "be a CPU or CUDA device", repr(str(dev)))
    return dev


def training_arguments(args: Any, where: str) -> None:
    """The options every training command shares (``--iterations``, ``--seed``, ``--device``), checked
    before any file is read or written."""
    if args.iterations is not None:
        positive_int(args.iterations, where, "--iterations")
    if args.seed is not None:
        int64_value(args.seed, where, "--seed")
    device(args.device, where, "--device")
