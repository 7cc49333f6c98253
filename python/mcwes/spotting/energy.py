"""A learning-free spotting baseline: threshold the per-snippet feature energy. Its proposals are
:class:`~mcwes.proposals.Proposals`, like the model's, so both go through the same evaluation and
files. Also reachable as ``mcwes.data.energy_baseline`` (and ``energy_proposals``, ``energy_scores``).

Per video: energy ``e_t`` of the chosen streams (``"deviation"``: squared distance of ``x_t`` to the
video's per-channel median; ``"difference"``: squared distance to ``x_{t-1}``), z-scored within the
video; every maximal run of snippets with ``z > threshold`` is a proposal scored by its mean ``z``
and converted to frames as in docs/method.md §1, labelled by duration as in docs/method.md §4.6 (ME
when it lasts at most ``floor(0.5·fps)`` frames; ``model_label`` is that same duration class, the
baseline having no classifier). It sees motion, not expressions: blinks and head motion of
comparable energy fool it, so a trained model should beat it clearly on :mod:`mcwes.data.synthetic`.
"""
from __future__ import annotations

import math
from typing import Iterable

import numpy as np

from ..proposals import Proposal, Proposals

__all__ = ["energy_baseline", "energy_proposals", "energy_scores"]


def energy_scores(features: np.ndarray, *, streams: str = "both", method: str = "deviation") -> np.ndarray:
    """Per-snippet energy z-scored within the video.

    Args:
        features: ``[T, 2D]`` (RGB then flow).
        streams: ``"both"``, ``"rgb"`` or ``"flow"``.
        method: ``"deviation"`` (from the per-channel median) or ``"difference"`` (from the previous
            snippet; ``e_0 = e_1``).
    Returns:
        float64 ``[T]``; all zeros when the energy is constant.
    """
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] % 2:
        raise ValueError(f"mcwes.spotting.energy_scores: expected features of shape [T, 2D], got {x.shape}")
    d = x.shape[1] // 2
    sel = {"both": slice(0, 2 * d), "rgb": slice(0, d), "flow": slice(d, 2 * d)}
    if streams not in sel:
        raise ValueError(f"mcwes.spotting.energy_scores: expected streams in {sorted(sel)}, got {streams!r}")
    x = x[:, sel[streams]]
    if method == "deviation":
        e = ((x - np.median(x, axis=0)) ** 2).sum(axis=1)
    elif method == "difference":
        e = np.zeros(len(x))
        if len(x) > 1:
            e[1:] = (np.diff(x, axis=0) ** 2).sum(axis=1)
            e[0] = e[1]
    else:
        raise ValueError(f"mcwes.spotting.energy_scores: expected method 'deviation' or 'difference', got {method!r}")
    sd = e.std()
    return (e - e.mean()) / sd if sd > 0 else np.zeros_like(e)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    idx = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return list(zip(idx[::2], idx[1::2] - 1))


def energy_proposals(features: np.ndarray, *, n_frames: int, snippet_frames: int, fps: float,
                     threshold: float = 1.0, streams: str = "both", method: str = "deviation",
                     min_snippets: int = 1, video: str = "video") -> Proposals:
    """Proposals of one video (named ``video``): frames inclusive, score = mean z over the run."""
    z = energy_scores(features, streams=streams, method=method)
    g = int(snippet_frames)
    me_max = int(math.floor(0.5 * fps))
    out = Proposals()
    for s, e in _runs(z > threshold):
        if e - s + 1 < min_snippets:
            continue
        onset, offset = s * g, min((e + 1) * g - 1, int(n_frames) - 1)
        if offset < onset:
            continue
        label = "ME" if offset - onset + 1 <= me_max else "MaE"
        out.append(Proposal(str(video), int(onset), int(offset), float(z[s: e + 1].mean()), label, label))
    return out


def energy_baseline(dataset: "Iterable", *, threshold: float = 1.0, streams: str = "both",
                    method: str = "deviation", min_snippets: int = 1) -> Proposals:
    """Run :func:`energy_proposals` over a :class:`~mcwes.data.SpottingDataset` (or any iterable of
    its items with ``fps`` and ``snippet_frames``); the proposals of every video, in dataset order."""
    fps, g = dataset.fps, dataset.snippet_frames  # type: ignore[attr-defined]
    pooled = Proposals()
    for item in dataset:
        pooled.extend(energy_proposals(item.features.numpy(), n_frames=item.n_frames, snippet_frames=g, fps=fps,
                                       threshold=threshold, streams=streams, method=method,
                                       min_snippets=min_snippets, video=item.video))
    return pooled
