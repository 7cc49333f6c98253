"""The multi-threshold post-processing of earlier weakly-supervised work (W-TALC / CO2-Net style), the
alternative to multi-top that the paper's Table 6 compares against (§4.4.5).

For every threshold τ on the class-agnostic attention A, each maximal run of valid snippets with
``A ≥ τ`` is a candidate (candidates of all thresholds are pooled, duplicates removed per video);
then the same steps 3–5 of docs/method.md §4 that multi-top takes, with the same ops: the outer–inner
score ``φ_j = inner − outer + ς·p_j`` (:func:`mcwes.ops.outer_inner_scores`, in float64),
class-agnostic greedy NMS (:func:`mcwes.ops.nms_1d`), truncation ``φ ≥ score_threshold``.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NoReturn

import numpy as np
import torch

from .. import ops
from ..ops import SpotProposals

__all__ = ["multi_threshold_proposals"]

OP = "multi_threshold_proposals"


def _fail(arg: str, expectation: str, got: object) -> NoReturn:
    raise ValueError(f"mcwes.{OP}: expected {arg} to {expectation}, got {got}")


def multi_threshold_proposals(
    attention: torch.Tensor,
    suppressed_cas: torch.Tensor,
    video_scores: torch.Tensor,
    lengths: Any = None,
    *,
    thresholds: Sequence[float],
    psi: float,
    varsigma: float,
    nms_threshold: float = 0.01,
    score_threshold: float = 0.1,
    n_classes: int = 2,
) -> SpotProposals:
    """Multi-threshold proposals with outer–inner scores, NMS and truncation.

    Args:
        attention: ``[B, T]`` class-agnostic attention A.
        suppressed_cas: ``[B, T, C]`` suppressed T-CAM Ŝ; channels ``0..n_classes−1`` are scored
            (a trailing background channel is ignored).
        video_scores: ``[B, C']`` video-level class probabilities p, ``C' ≥ n_classes``.
        lengths: ``[B]`` valid lengths in ``[0, T]`` (None: all T).
        thresholds: attention thresholds τ (non-empty, finite); ``A ≥ τ`` selects a snippet.
        psi: ψ ≥ 0, outer margin as a fraction of the candidate's length.
        varsigma: ς, weight of p_j in the score.
        nms_threshold: NMS suppresses a proposal whose IoU with a kept one is ``> nms_threshold``.
        score_threshold: proposals with ``φ < score_threshold`` are dropped after NMS.
        n_classes: expression classes scored (2: MaE, ME).

    Returns:
        :class:`SpotProposals` on the device of ``suppressed_cas``. NMS order: descending score,
        then lower start, lower end, lower class. NaN attention never selects a snippet.

    Raises:
        ValueError: bad shapes or lengths, Ŝ not finite on valid positions, p not finite, bad
            thresholds/psi/nms_threshold. TypeError: non-tensor or non-floating inputs.
    """
    a, x, p, lens = _check(attention, suppressed_cas, video_scores, lengths, n_classes)
    thr = np.asarray(list(thresholds), dtype=np.float64)
    if thr.ndim != 1 or thr.size == 0 or not np.isfinite(thr).all():
        _fail("thresholds", "be a non-empty sequence of finite numbers", list(thresholds))
    for name, value in (("psi", psi), ("nms_threshold", nms_threshold)):
        if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            _fail(name, "be a finite number >= 0", repr(value))
    for name, value in (("varsigma", varsigma), ("score_threshold", score_threshold)):
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            _fail(name, "be a finite number", repr(value))

    b, s, e = _candidates(a, lens, thr)
    n = x.shape[2]
    as_t = torch.from_numpy
    bt, st, et = as_t(b), as_t(s), as_t(e)
    score = ops.outer_inner_scores(as_t(np.ascontiguousarray(x)), as_t(lens), bt, st, et,
                                   as_t(np.ascontiguousarray(p)), psi=float(psi), varsigma=float(varsigma))  # [P, n]
    # One proposal per (candidate, class), classes adjacent: NMS's last tie-break (the lower input
    # index) is then the lower class, after the lower start and end.
    pb, ps, pe = bt.repeat_interleave(n), st.repeat_interleave(n), et.repeat_interleave(n)
    pl, pscore = torch.arange(n).repeat(len(b)), score.reshape(-1)
    # nms_1d suppresses at IoU > threshold; IoU never exceeds 1, so larger thresholds keep everything.
    kept = ops.nms_1d(pb, ps, pe, pscore, min(float(nms_threshold), 1.0))  # descending score over the batch
    kept = kept[torch.sort(pb[kept], stable=True).indices]  # by video, descending score within each
    kept = kept[pscore[kept] >= score_threshold]
    device, dtype = suppressed_cas.device, suppressed_cas.dtype

    def out(v: torch.Tensor) -> torch.Tensor:
        return v[kept].to(device)

    return SpotProposals(out(pb), out(ps), out(pe), out(pl), out(pscore).to(dtype))


def _check(attention: Any, cas: Any, scores: Any, lengths: Any, n_classes: int
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    for name, t, ndim in (("attention", attention, 2), ("suppressed_cas", cas, 3), ("video_scores", scores, 2)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"mcwes.{OP}: expected {name} to be a torch.Tensor, got {type(t).__name__}")
        if not t.dtype.is_floating_point:
            raise TypeError(f"mcwes.{OP}: expected {name} to be a floating tensor, got {t.dtype}")
        if t.dim() != ndim:
            _fail(name, f"have {ndim} dimensions", f"shape {tuple(t.shape)}")
    B, T = attention.shape
    if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 1:
        _fail("n_classes", "be an integer >= 1", repr(n_classes))
    if cas.shape[0] != B or cas.shape[1] != T or cas.shape[2] < n_classes:
        _fail("suppressed_cas", f"have shape [{B}, {T}, >= {n_classes}]", f"shape {tuple(cas.shape)}")
    if scores.shape[0] != B or scores.shape[1] < n_classes:
        _fail("video_scores", f"have shape [{B}, >= {n_classes}]", f"shape {tuple(scores.shape)}")
    if lengths is None:
        lens = np.full(B, T, dtype=np.int64)
    else:
        lens = torch.as_tensor(lengths).detach().cpu().numpy()
        if lens.shape != (B,) or lens.dtype.kind not in "iu":
            _fail("lengths", f"be integers of shape [{B}]", f"{lens.dtype} of shape {lens.shape}")
        if B and (lens.min() < 0 or lens.max() > T):
            _fail("lengths", f"lie in [0, {T}]", lens.tolist())
        lens = lens.astype(np.int64)

    def host(t: torch.Tensor) -> np.ndarray:
        return t.detach().to("cpu", torch.float64).numpy()

    x, p = host(cas)[..., :n_classes], host(scores)[:, :n_classes]
    valid = np.arange(T)[None, :] < lens[:, None]
    if not np.isfinite(x[valid]).all():
        _fail("suppressed_cas", "be finite on valid positions", "NaN or inf")
    if not np.isfinite(p).all():
        _fail("video_scores", "be finite", "NaN or inf")
    return host(attention), np.where(valid[..., None], x, 0.0), p, lens


def _candidates(a: np.ndarray, lens: np.ndarray, thr: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Maximal runs of ``A ≥ τ`` over valid snippets, for every τ, deduplicated per video and sorted."""
    B, T = a.shape
    valid = np.arange(T)[None, :] < lens[:, None]
    with np.errstate(invalid="ignore"):
        on = (a[:, None, :] >= thr[None, :, None]) & valid[:, None, :]  # [B, K, T]
    padded = np.zeros((B, len(thr), T + 2), dtype=bool)
    padded[:, :, 1:-1] = on
    rise = padded[:, :, 1:-1] & ~padded[:, :, :-2]
    fall = padded[:, :, 1:-1] & ~padded[:, :, 2:]
    b, _, s = np.nonzero(rise)
    _, _, e = np.nonzero(fall)  # same (b, τ) order, so starts and ends pair up
    key = np.unique((b * (T + 1) + s) * (T + 1) + e)
    e, rest = key % (T + 1), key // (T + 1)
    return rest // (T + 1), rest % (T + 1), e
