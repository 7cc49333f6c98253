"""Frames from a video file (decoded with PyAV) or a folder of numbered images, with optional
frame-step resampling. See docs/extraction.md."""
from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["FrameSource", "IMAGE_SUFFIXES", "VIDEO_SUFFIXES", "open_frames"]

log = logging.getLogger(__name__)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv")
_NUMBER = re.compile(r"(\d+)(?!.*\d)")  # the last run of digits in a file name


def _check_steps(steps: Sequence[int] | None) -> tuple[int, ...] | None:
    if steps is None:
        return None
    steps = tuple(int(s) for s in steps)
    if not steps or any(s < 1 for s in steps):
        raise ValueError(f"mcwes.extract: expected frame_steps to be positive integers (e.g. 6,7,7), got {steps}")
    return steps


@dataclass
class FrameSource:
    """One video's frames, read lazily.

    Attributes:
        path: the video file or frame folder.
        kind: ``"video"`` or ``"folder"``.
        fps: the source frame rate (the container's, or None for a folder).
        n_frames: source frames (after gap filling), or None when the container does not say.
        gaps: for folders, ``(missing frame number, number copied into it)`` per filled gap.
        first_number: the number of the first image of a folder (0 for videos).
    """

    path: Path
    kind: str
    fps: float | None
    n_frames: int | None
    gaps: list[tuple[int, int]] = field(default_factory=list)
    first_number: int = 0
    _files: list[Path | None] = field(default_factory=list, repr=False)

    def __iter__(self) -> Iterator[np.ndarray]:
        """Every source frame as uint8 ``[H, W, 3]`` RGB, in order (gaps filled). A frame whose size
        differs from the first frame's raises ``ValueError`` naming both."""
        shape, first = None, ""
        for label, frame in self._iter_video() if self.kind == "video" else self._iter_folder():
            if shape is None:
                shape, first = frame.shape, label
            elif frame.shape != shape:  # a folder of mixed images, or a stream that changes resolution mid-way
                raise ValueError(f"mcwes.extract: {self.path}: frames differ in size: {first} is {shape[1]}x{shape[0]} "
                                 f"but {label} is {frame.shape[1]}x{frame.shape[0]} (one crop and one flow field "
                                 "need one frame size)")
            yield frame

    def frames(self, steps: Sequence[int] | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """``(source index, frame)`` of the frames kept by ``steps`` (kept: 0, s0, s0 + s1, … cycling the steps)."""
        steps = _check_steps(steps)
        cycle = itertools.cycle(steps) if steps else itertools.repeat(1)
        nxt, count = 0, 0
        for i, frame in enumerate(self):
            count = i + 1
            if i == nxt:
                yield i, frame
                nxt += next(cycle)
        self.n_frames = count  # exact now (a container's count is only a hint)

    def _iter_video(self) -> Iterator[tuple[str, np.ndarray]]:
        """``(label, frame)``: "frame <i>" and the decoded frame."""
        import av  # noqa: PLC0415 (optional dependency)

        try:
            with av.open(str(self.path)) as container:
                stream = container.streams.video[0]
                stream.thread_type = "AUTO"
                for i, frame in enumerate(container.decode(stream)):
                    yield f"frame {i}", frame.to_ndarray(format="rgb24")
        except av.error.FFmpegError as exc:
            raise ValueError(f"mcwes.extract: cannot decode {self.path}: {exc}") from exc

    def _iter_folder(self) -> Iterator[tuple[str, np.ndarray]]:
        """``(label, frame)``: the image's file name and its pixels (a gap: the previous frame again)."""
        from PIL import Image  # noqa: PLC0415

        prev: tuple[str, np.ndarray] | None = None
        for f in self._files:
            if f is None:  # a gap (the first file always exists)
                assert prev is not None
                yield prev
                continue
            try:
                with Image.open(f) as im:
                    frame = np.asarray(im.convert("RGB"))
            except Exception as exc:
                raise ValueError(f"mcwes.extract: cannot read frame image {f}: {exc}") from exc
            prev = (f.name, frame)
            yield prev


def open_frames(path: str | Path) -> FrameSource:
    """A :class:`FrameSource` for a video file or a folder of numbered images (``img_<n>.jpg``,
    ``<n>.png``, …; sorted by the last number in the name; a missing number is filled with the
    previous frame and reported in ``gaps`` and the log)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"mcwes.extract: {path} does not exist")
    if path.is_dir():
        return _open_folder(path)
    return _open_video(path)


def _open_video(path: Path) -> FrameSource:
    try:
        import av  # noqa: PLC0415
    except ImportError:
        raise ImportError('mcwes.extract: reading video files needs PyAV; install it with pip install "mcwes[video]"') from None
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ValueError(f"mcwes.extract: {path} has no video stream")
            stream = container.streams.video[0]
            fps = float(stream.average_rate) if stream.average_rate else None
            n = int(stream.frames) or None
    except av.error.FFmpegError as exc:
        raise ValueError(f"mcwes.extract: cannot open {path} as a video (unreadable or not a video file): {exc}") from exc
    return FrameSource(path, "video", fps, n)


def _open_folder(path: Path) -> FrameSource:
    images = [p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    if not images:
        found = sorted(p.name for p in path.iterdir())[:5]
        raise ValueError(f"mcwes.extract: {path}: expected a video file or a folder of frame images "
                         f"({', '.join(IMAGE_SUFFIXES)}), found no images (entries: {found})")
    numbered: dict[int, Path] = {}
    for p in images:
        m = _NUMBER.search(p.stem)
        if m is None:
            raise ValueError(f"mcwes.extract: {path}: expected numbered frame images (img_<n>.jpg, <n>.png, …), "
                             f"got {p.name}")
        k = int(m.group(1))
        if k in numbered:
            raise ValueError(f"mcwes.extract: {path}: two images with frame number {k}: {numbered[k].name}, {p.name}")
        numbered[k] = p
    first, last = min(numbered), max(numbered)
    files: list[Path | None] = []
    gaps: list[tuple[int, int]] = []
    for k in range(first, last + 1):
        if k in numbered:
            files.append(numbered[k])
        else:
            gaps.append((k, gaps[-1][1] if gaps and gaps[-1][0] == k - 1 else k - 1))
            files.append(None)
    if gaps:
        log.warning("mcwes.extract: %s: %d missing frame numbers filled with the previous frame: %s", path,
                    len(gaps), [g[0] for g in gaps[:20]])
    return FrameSource(path, "folder", None, len(files), gaps, first, files)
