"""Video (or frame folder) → two-stream I3D features ``[T, 2048]``, streamed in window groups.

Stages per chunk of frames: decode → crop (and grayscale) → TV-L1 flow of consecutive pairs →
resize to the I3D input (Lanczos) → one batched I3D forward per stream per group of windows. Only the
frames still needed by a later window are kept, so memory does not grow with the video's length.
"""
from __future__ import annotations

import itertools
import logging
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .face import apply_box, check_box, detect_face_box
from .flow import _cv2, flow_to_i3d, make_flow_fn, resolve_backend
from .frames import FrameSource, open_frames
from .i3d import I3dNet
from .options import ExtractOptions

__all__ = ["STAGES", "Progress", "VideoFeatures", "extract_video"]

log = logging.getLogger(__name__)
STAGES = ("decode", "crop", "flow", "resize", "i3d")
#: Frames decoded, cropped and turned into flow at a time (32 pairs of 400² frames: 41 MB of float flow).
FLOW_PAIRS = 32


@dataclass
class VideoFeatures:
    """The features of one video and how they were made.

    Attributes:
        features: float32 ``[T, 2D]``: RGB stream then flow stream.
        n_frames: N, frames used (after resampling); the streams have F = N − 1 frames.
        source_index: int64 ``[N]``: each used frame's index in the source (0-based, gaps filled).
        n_source_frames: frames in the source.
        fps: frame rate of the used frames (source fps over the mean frame step).
        box: the crop box ``(x, y, w, h)``, or None for the whole frame.
        gaps: ``(missing number, number copied into it)`` of a frame folder.
        seconds: wall time per stage.
        cpu_seconds: CPU time per stage (all threads of the process; on a busy machine a steadier
            measure of the work than the wall time).
    """

    features: np.ndarray
    n_frames: int
    source_index: np.ndarray
    n_source_frames: int
    fps: float
    box: tuple[int, int, int, int] | None
    gaps: list[tuple[int, int]]
    seconds: dict[str, float] = field(default_factory=dict)
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    flow_backend: str = ""

    @property
    def frame_cnt(self) -> int:
        """F = N − 1, what the authors' npz files store as ``frame_cnt``."""
        return self.n_frames - 1


class Progress:
    """Progress of the stages (frames decoded and cropped, flow pairs, I3D windows): one tqdm bar per
    stage on a terminal; otherwise one plain line (no carriage returns) per tenth of the frames."""

    def __init__(self, name: str, total: int | None, enabled: bool = True):
        self.name, self.total, self.enabled = name, total, enabled
        self.tty = enabled and sys.stderr.isatty()
        self.counts = dict.fromkeys(("frames", "flow pairs", "windows"), 0)
        self.bars: dict[str, Any] = {}
        self.decile = 0
        if self.tty:
            from tqdm import tqdm  # noqa: PLC0415

            totals = {"frames": total, "flow pairs": total - 1 if total else None, "windows": None}
            self.bars = {k: tqdm(total=totals[k], desc=f"{name}: {k}", position=i, leave=True, file=sys.stderr)
                         for i, k in enumerate(self.counts)}

    def update(self, stage: str, n: int) -> None:
        if not self.enabled or n <= 0:
            return
        self.counts[stage] += n
        if self.tty:
            self.bars[stage].update(n)
        elif stage == "frames" and self.total and 10 * self.counts["frames"] // self.total > self.decile:
            self.decile = 10 * self.counts["frames"] // self.total
            self._line(f"{self.counts['frames']}/{self.total} frames")

    def _line(self, head: str) -> None:
        print(f"{self.name}: {head}, {self.counts['flow pairs']} flow pairs, {self.counts['windows']} windows",
              file=sys.stderr, flush=True)

    def close(self, ok: bool = True) -> None:
        for bar in self.bars.values():
            bar.close()
        if self.enabled and not self.tty:
            self._line(f"{'done' if ok else 'failed after'}: {self.counts['frames']} frames")


def _gray(rgb: np.ndarray) -> np.ndarray:
    """OpenCV's RGB → gray (ITU-R 601 luma, fixed point), as the authors' flow script read frames."""
    return _cv2().cvtColor(np.ascontiguousarray(rgb), _cv2().COLOR_RGB2GRAY)


def _resize_rgb(rgb: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image  # noqa: PLC0415

    return np.asarray(Image.fromarray(np.ascontiguousarray(rgb)).resize((size, size), Image.Resampling.LANCZOS))


def extract_video(source: str | Path | FrameSource, options: ExtractOptions, rgb_net: I3dNet,
                  flow_net: I3dNet, *, progress: bool = True, name: str | None = None) -> VideoFeatures:
    """Features of one video (see the module doc and docs/extraction.md).

    Args:
        source: a video file, a frame folder, or an opened :class:`FrameSource`.
        options: the settings (:class:`ExtractOptions`).
        rgb_net, flow_net: eval-mode I3D networks (3 and 2 input channels), on the device to use.
        progress: report progress per stage on stderr.
        name: the video's name in messages (default: the file or folder name).
    """
    src = source if isinstance(source, FrameSource) else open_frames(source)
    name = name or src.path.name
    if rgb_net.in_channels != 3 or flow_net.in_channels != 2:
        raise ValueError(f"mcwes.extract: expected an RGB I3D (3 input channels) and a flow I3D (2), got "
                         f"{rgb_net.in_channels} and {flow_net.in_channels}")
    backend = resolve_backend(options.flow_backend)
    device = next(rgb_net.parameters()).device
    flow_fn = make_flow_fn(backend, options.tvl1, str(device))
    clock = _Clock()
    prog = Progress(name, _kept_count(src.n_frames, options.frame_steps), progress)
    try:
        feats, index, n_src, box = _stream(src, options, rgb_net, flow_net, flow_fn, clock, prog, name)
    except BaseException:
        prog.close(ok=False)
        raise
    prog.close()
    fps = float(src.fps or options.fps)
    if options.frame_steps:
        fps = fps * len(options.frame_steps) / sum(options.frame_steps)
    return VideoFeatures(feats, len(index), index, n_src, fps, box, list(src.gaps), clock.wall, clock.cpu, backend)


def _kept_count(n: int | None, steps: tuple[int, ...] | None) -> int | None:
    """Frames kept from ``n`` by the frame steps (None when ``n`` is unknown)."""
    if not n or not steps:
        return n
    cycles, rest = divmod(n, sum(steps))
    partial = sum(1 for k in range(len(steps)) if sum(steps[:k]) < rest)
    return cycles * len(steps) + partial


class _Clock:
    """Wall and CPU seconds per stage."""

    def __init__(self) -> None:
        self.wall = dict.fromkeys(STAGES, 0.0)
        self.cpu = dict.fromkeys(STAGES, 0.0)

    @staticmethod
    def start() -> tuple[float, float]:
        return time.perf_counter(), time.process_time()

    def stop(self, stage: str, t: tuple[float, float]) -> None:
        self.wall[stage] += time.perf_counter() - t[0]
        self.cpu[stage] += time.process_time() - t[1]


def _timed(it: Iterator, clock: _Clock, stage: str) -> Iterator:
    while True:
        t = clock.start()
        try:
            item = next(it)
        except StopIteration:
            return
        clock.stop(stage, t)
        yield item


def _stream(src: FrameSource, opts: ExtractOptions, rgb_net: I3dNet, flow_net: I3dNet, flow_fn,
            clock: _Clock, prog: Progress, name: str):
    w, s, size = opts.window, opts.stride, opts.image_size
    frames = _timed(src.frames(opts.frame_steps), clock, "decode")
    head = list(itertools.islice(frames, max(opts.detect_frames, 1)))
    if not head:
        raise ValueError(f"mcwes.extract: {src.path}: no frames could be decoded (empty video or folder)")
    box = _box(opts, [f for _, f in head], src.path)
    frames = itertools.chain(head, frames)

    index: list[int] = []
    rgb_buf: list[np.ndarray] = []   # uint8 [size, size, 3] per stream frame, from frame `base` on
    flow_buf: list[np.ndarray] = []  # float32 [2, size, size]
    base, next_window = 0, 0
    out_rgb: list[np.ndarray] = []
    out_flow: list[np.ndarray] = []
    carry: tuple[np.ndarray, np.ndarray] | None = None  # (rgb crop, gray) of the last frame of the previous piece
    while True:
        # A piece of FLOW_PAIRS frames at a time: the crops, gray frames and float flow in memory at
        # once are bounded by it, whatever the video's length, window or batch size.
        raw = list(itertools.islice(frames, FLOW_PAIRS))
        t = clock.start()
        crops, grays = [], []
        for i, frame in raw:  # one frame size throughout: FrameSource checks it
            c = apply_box(frame, box)
            crops.append(c)
            grays.append(_gray(c))
            index.append(i)
        clock.stop("crop", t)
        prog.update("frames", len(raw))
        if carry is not None:
            crops.insert(0, carry[0])
            grays.insert(0, carry[1])
        if raw:
            carry = (crops[-1], grays[-1])
        if len(grays) >= 2 and raw:
            t = clock.start()
            g = np.stack(grays)  # uint8 [n, H, W]
            flow = flow_fn(g[:-1], g[1:])
            clock.stop("flow", t)
            prog.update("flow pairs", len(flow))
            t = clock.start()
            for k in range(len(flow)):  # RGB drops the piece's last frame: it starts the next piece
                rgb_buf.append(_resize_rgb(crops[k], size))
                flow_buf.append(flow_to_i3d(flow[k], opts.flow_bound, size, opts.flow_jpeg))
            del flow, g
            clock.stop("resize", t)
        available = base + len(rgb_buf)
        n_ready = (available - w) // s + 1 - next_window if available >= w else 0
        if raw:  # full batches only while frames still come: one forward per group of batch_size windows
            n_ready -= n_ready % opts.batch_size
        if n_ready > 0:
            r, f = _forward(rgb_buf, flow_buf, base, next_window, n_ready, opts, rgb_net, flow_net, clock)
            out_rgb.append(r)
            out_flow.append(f)
            prog.update("windows", n_ready)
            next_window += n_ready
            drop = min(next_window * s - base, len(rgb_buf))
            if drop > 0:
                del rgb_buf[:drop], flow_buf[:drop]
                base += drop
        if not raw:
            break
    n = len(index)
    if not out_rgb:
        raise ValueError(f"mcwes.extract: {name}: {n} frame{'s' if n != 1 else ''} give F = {max(n - 1, 0)} "
                         f"flow/RGB frames, fewer than one window of {w}; need at least {w + 1} frames")
    feats = np.concatenate([np.concatenate(out_rgb), np.concatenate(out_flow)], axis=1)
    n_src = int(src.n_frames or index[-1] + 1)
    return feats.astype(np.float32, copy=False), np.asarray(index, dtype=np.int64), n_src, box


def _box(opts: ExtractOptions, head: list[np.ndarray], path: Path) -> tuple[int, int, int, int] | None:
    if opts.crop == "none":
        return None
    if opts.crop == "detect":
        box = detect_face_box(head, path, opts.detect_margin)
        log.info("mcwes.extract: %s: face box x=%d y=%d w=%d h=%d", path, *box)
        return box
    return check_box(opts.crop, head[0].shape, path)  # type: ignore[arg-type]


@torch.inference_mode()
def _forward(rgb_buf: list[np.ndarray], flow_buf: list[np.ndarray], base: int, first: int, count: int,
             opts: ExtractOptions, rgb_net: I3dNet, flow_net: I3dNet,
             clock: _Clock) -> tuple[np.ndarray, np.ndarray]:
    """I3D features of windows ``first … first + count − 1``, in batches of ``opts.batch_size``."""
    t = clock.start()
    device = next(rgb_net.parameters()).device
    w, s = opts.window, opts.stride
    rgb_out, flow_out = [], []
    for b0 in range(first, first + count, opts.batch_size):
        wins = range(b0, min(b0 + opts.batch_size, first + count))
        rgb = np.stack([np.stack(rgb_buf[i * s - base : i * s - base + w]) for i in wins])  # [B, w, S, S, 3]
        x = torch.from_numpy(rgb).to(device).permute(0, 4, 1, 2, 3).float().mul_(2.0 / 255.0).sub_(1.0)
        rgb_out.append(rgb_net.features(x).float().cpu().numpy())
        fl = np.stack([np.stack(flow_buf[i * s - base : i * s - base + w]) for i in wins])  # [B, w, 2, S, S]
        y = torch.from_numpy(fl).to(device).permute(0, 2, 1, 3, 4)
        flow_out.append(flow_net.features(y).float().cpu().numpy())
    clock.stop("i3d", t)
    return np.concatenate(rgb_out), np.concatenate(flow_out)
