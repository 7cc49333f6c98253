"""Argument helpers shared by the spotting ops (multi_top_proposals, outer_inner_scores, nms_1d,
spot_postprocess): m values, float scalars, ragged output capacity, interval checks on device."""
from __future__ import annotations

import math

import torch

from .._ext import _C
from . import _util


def as_m_values(op: str, m_values: object) -> list[int]:
    """``m_values`` as a list of ints >= 1 (an int sequence, range or 1-d integer tensor)."""
    if isinstance(m_values, torch.Tensor):
        if m_values.dtype.is_floating_point or m_values.dtype.is_complex or m_values.dtype == torch.bool:
            _util.fail(op, "m_values", "hold integers", f"dtype {str(m_values.dtype).replace('torch.', '')}", TypeError)
        if m_values.dim() != 1:
            _util.fail(op, "m_values", "be one-dimensional", f"shape {tuple(m_values.shape)}")
        values = [int(v) for v in m_values.tolist()]
    elif isinstance(m_values, (list, tuple, range)):
        values = list(m_values)
        for v in values:
            if isinstance(v, bool) or not isinstance(v, int):
                _util.fail(op, "m_values", "hold ints", type(v).__name__, TypeError)
    else:
        _util.fail(op, "m_values", "be a sequence of ints", type(m_values).__name__, TypeError)
    for v in values:
        if v < 1:
            _util.fail(op, "m_values", "hold integers >= 1", v)
    # Every m > L gives k = 1; clamping keeps huge m inside int64 without changing the result.
    return [min(v, _util.BEYOND_ANY_LENGTH) for v in values]


def as_float(op: str, name: str, value: object, *, low: float | None = None, high: float | None = None,
             finite: bool = True) -> float:
    """A Python float argument, checked against [low, high]; NaN is always rejected."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        _util.fail(op, name, "be a float", type(value).__name__, TypeError)
    v = float(value)
    if math.isnan(v) or (finite and math.isinf(v)):
        _util.fail(op, name, "be finite" if finite else "be a number", v)
    if low is not None and v < low:
        _util.fail(op, name, f"be >= {low}" if high is None else f"lie in [{low}, {high}]", v)
    if high is not None and v > high:
        _util.fail(op, name, f"lie in [{low}, {high}]", v)
    return v


def capacity(steps: int, m_values: list[int]) -> int:
    """Most candidates one video of length <= steps can yield (multi_top_proposals.h)."""
    return int(_C.multi_top_proposals_capacity(steps, m_values))


def check_proposals_device(op: str, batch_idx: torch.Tensor, start: torch.Tensor, end: torch.Tensor,
                           lengths: torch.Tensor | None) -> None:
    """Value checks of (batch_idx, start, end) for device tensors (the CPU drivers check on the host)."""
    if batch_idx.numel() == 0:
        return
    if bool((batch_idx < 0).any()):
        _util.fail(op, "batch_idx", "be >= 0", int(batch_idx.min().item()))
    if bool(((start < 0) | (start > end)).any()):
        i = int(((start < 0) | (start > end)).nonzero()[0].item())
        _util.fail(op, "start and end", "satisfy 0 <= start <= end", f"start {int(start[i])} and end {int(end[i])}")
    if lengths is not None:
        if bool((batch_idx >= lengths.shape[0]).any()):
            _util.fail(op, "batch_idx", f"lie in [0, {lengths.shape[0]})", int(batch_idx.max().item()))
        if bool((end >= lengths[batch_idx]).any()):
            i = int((end >= lengths[batch_idx]).nonzero()[0].item())
            _util.fail(op, "end", "be < lengths[batch_idx]", f"end {int(end[i])} for length {int(lengths[batch_idx[i]])}")
