"""One picture per video: attention and T-CAM curves over time with ground truth and proposals.

Draws on a bare matplotlib ``Figure`` (Agg canvas: no display, no pyplot state). Snippet i is drawn over frames
``[i·g, (i+1)·g)``; an interval ``[onset, offset]`` (inclusive frames) over ``[onset, offset + 1)``.
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from .data.facts import DATASETS
from .proposals import CLASSES, Proposal

__all__ = ["plot_video", "plot_videos", "CLASS_COLORS"]

#: Colour per class, used for curves, ground truth and proposals alike.
CLASS_COLORS = {"MaE": "tab:blue", "ME": "tab:red"}


def _intervals(items: Any, kind: str) -> list[tuple[int, int, str, float | None]]:
    """(onset, offset, class, score) from Proposals, DataFrame rows or (onset, offset, class[, score]) tuples."""
    if hasattr(items, "columns") and hasattr(items, "to_dict"):
        cls_col = "type" if "type" in items.columns else "label"
        items = [(r["onset"], r["offset"], r[cls_col], r.get("score")) for r in items.to_dict("records")]
    out: list[tuple[int, int, str, float | None]] = []
    for it in items:
        if isinstance(it, Proposal):
            out.append((it.onset, it.offset, it.label, it.score))
            continue
        it = tuple(it)
        if len(it) < 3 or it[2] not in CLASSES:
            raise ValueError(f"mcwes.plot_video: expected {kind} items to be (onset, offset, 'MaE'|'ME'[, score]), got {it!r}")
        out.append((int(it[0]), int(it[1]), str(it[2]), float(it[3]) if len(it) > 3 and it[3] is not None else None))
    return out


def _numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def plot_video(
    path: str | Path,
    attention: Any,
    tcam: Any = None,
    ground_truth: Iterable[Any] | Any = (),
    proposals: Iterable[Any] | Any = (),
    *,
    fps: float = DATASETS["casme2"].fps,
    snippet_frames: int = DATASETS["casme2"].snippet_frames,
    title: str | None = None,
    seconds: bool = False,
) -> Path:
    """Write a PNG of one video's attention, T-CAM and intervals.

    Args:
        path: output file (``.png``); parent folders are created.
        attention: ``[T]`` attention A in [0, 1].
        tcam: optional ``[T, C]`` T-CAM logits (MaE, ME, background); softmaxed over C, and the
            MaE and ME probabilities drawn.
        ground_truth: intervals of this video: a DataFrame (onset, offset, type) or
            (onset, offset, "MaE"|"ME") tuples, frames 0-based inclusive.
        proposals: :class:`Proposal` objects, a DataFrame (onset, offset, label, score) or
            (onset, offset, "MaE"|"ME", score) tuples.
        fps, snippet_frames: to place snippets on the frame axis (and seconds when ``seconds``).
        title: figure title.
        seconds: x axis in seconds instead of frames.

    Returns:
        The path written.
    """
    from matplotlib.figure import Figure  # no pyplot: no global backend or display, Agg on savefig

    a = _numpy(attention).reshape(-1)
    T = a.shape[0]
    scale = 1.0 / fps if seconds else 1.0
    edges = np.arange(T + 1) * snippet_frames * scale
    gt = _intervals(ground_truth, "ground_truth")
    props = _intervals(proposals, "proposals")

    fig = Figure(figsize=(12, 4.2))
    ax, track = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1.1], "hspace": 0.08})
    ax.stairs(a, edges, color="black", linewidth=1.4, label="attention A")
    if tcam is not None:
        s = _numpy(tcam).reshape(T, -1)
        prob = np.exp(s - s.max(axis=1, keepdims=True))
        prob /= prob.sum(axis=1, keepdims=True)
        for j, name in enumerate(CLASSES[: prob.shape[1]]):
            ax.stairs(prob[:, j], edges, color=CLASS_COLORS[name], linewidth=1.0, alpha=0.85,
                      label=f"T-CAM softmax {name}")
    for on, off, cls, _ in gt:
        ax.axvspan(on * scale, (off + 1) * scale, color=CLASS_COLORS[cls], alpha=0.12, linewidth=0)
    ax.set_ylim(-0.02, 1.05)
    ax.set_ylabel("score")
    ax.legend(loc="upper right", fontsize=8, ncol=3, framealpha=0.9)
    if title:
        ax.set_title(title)

    _draw_track(track, gt, props, scale)
    # max over a list: with neither ground truth nor proposals, max(x) of one number would raise
    track.set_xlim(0, max([edges[-1], *((off + 1) * scale for _, off, _, _ in gt + props)]) if T or gt or props else 1)
    track.set_xlabel("time (s)" if seconds else "frame")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path


def _draw_track(track: Any, gt: list, props: list, scale: float) -> None:
    """Two rows under the curves: ground truth (solid) and proposals (hatched, alpha by score rank)."""
    for on, off, cls, _ in gt:
        track.broken_barh([(on * scale, (off + 1 - on) * scale)], (1.1, 0.8), facecolors=CLASS_COLORS[cls])
    scores = np.array([sc for *_, sc in props if sc is not None])
    lo, hi = (scores.min(), scores.max()) if scores.size else (0.0, 1.0)
    for on, off, cls, sc in props:
        alpha = 0.9 if sc is None or hi == lo else 0.35 + 0.55 * (sc - lo) / (hi - lo)
        track.broken_barh([(on * scale, (off + 1 - on) * scale)], (0.1, 0.8), facecolors=CLASS_COLORS[cls],
                          alpha=alpha, edgecolor="black", linewidth=0.5, hatch="//")
    track.set_ylim(0, 2)
    track.set_yticks([0.5, 1.5], ["proposals", "ground truth"])
    handles = [track.bar(0, 0, color=c, label=n) for n, c in CLASS_COLORS.items()]
    track.legend(handles=handles, loc="upper right", fontsize=8, ncol=2, framealpha=0.9)


def plot_videos(
    out_dir: str | Path,
    videos: Iterable[tuple[str, Any]],
    model: Any,
    proposals: Iterable[Proposal] = (),
    ground_truth: Any = None,
    *,
    fps: float,
    snippet_frames: int,
    titles: dict[str, str] | None = None,
    batch_size: int = 64,
) -> list[Path]:
    """``out_dir/<video>.png`` for every ``(name, features)`` of ``videos``: the model's curves (computed
    ``batch_size`` videos at a time), the video's ground truth (rows of the ``ground_truth`` table whose
    ``video`` is the name) and its proposals. The one plotting loop of ``mcwes spot --plot`` and the demo.
    """
    from .inference import curves

    by_video: dict[str, list] = {}
    for p in proposals:
        by_video.setdefault(p.video, []).append(p)
    videos = list(videos)
    written = []
    for i in range(0, len(videos), batch_size):
        chunk = videos[i : i + batch_size]
        for (name, _), (attention, tcam) in zip(chunk, curves([x for _, x in chunk], model)):
            truth = ground_truth[ground_truth["video"] == name] if ground_truth is not None else ()
            written.append(plot_video(Path(out_dir) / f"{name}.png", attention, tcam, truth, by_video.get(name, []),
                                      fps=fps, snippet_frames=snippet_frames, title=(titles or {}).get(name, name)))
    return written
