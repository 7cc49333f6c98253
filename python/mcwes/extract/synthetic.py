"""Synthetic face videos with known movements, for tests and benchmarks of the extraction pipeline.

A textured, face-like image (skin-toned ellipse, eyes, brows, mouth, smooth random texture so that
optical flow has something to follow) is animated with: planted local movements (a smooth bump of
displacement around a facial point, ramping up from onset to apex and back to the offset), a slow
head drift, and blinks (the eyes close for a few frames). Written as ``.mp4`` (PyAV) or as a folder
of numbered images. Needs the ``video`` extra (OpenCV for warping, PyAV, Pillow).
"""
from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["Movement", "SyntheticVideo", "synthetic_frames", "synthetic_video", "write_frame_folder", "write_video"]


@dataclass(frozen=True)
class Movement:
    """A local movement: frames ``onset … offset`` (apex in the middle), around ``center`` (fractions of
    width, height), Gaussian radius ``radius`` (fraction of the width), peak displacement ``amplitude``
    pixels along ``direction`` (dx, dy)."""

    onset: int
    offset: int
    center: tuple[float, float]
    radius: float
    amplitude: float
    direction: tuple[float, float] = (0.0, -1.0)


@dataclass
class SyntheticVideo:
    """``frames`` uint8 ``[N, H, W, 3]`` RGB and what was planted in them."""

    frames: np.ndarray
    movements: list[Movement]
    blinks: list[tuple[int, int]]
    drift: np.ndarray = field(repr=False)  # [N, 2] global shift (dx, dy) per frame, pixels


def _base_face(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    import cv2  # noqa: PLC0415

    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.empty((h, w, 3), np.float32)
    img[:] = (70, 80, 95)  # background
    face = ((x - w / 2) / (0.38 * w)) ** 2 + ((y - h / 2) / (0.47 * h)) ** 2 < 1
    img[face] = (205, 160, 135)
    noise = rng.standard_normal((h, w)).astype(np.float32)  # skin-like texture: brightness, not colour
    texture = cv2.GaussianBlur(noise, (0, 0), max(w / 50, 1.2))
    img += (40 * texture / (texture.std() + 1e-6))[..., None]
    for cx, cy, rx, ry, colour in ((0.35, 0.40, 0.08, 0.035, (40, 30, 30)), (0.65, 0.40, 0.08, 0.035, (40, 30, 30)),
                                   (0.35, 0.32, 0.10, 0.015, (60, 40, 30)), (0.65, 0.32, 0.10, 0.015, (60, 40, 30)),
                                   (0.50, 0.72, 0.14, 0.03, (150, 60, 60)), (0.50, 0.55, 0.03, 0.06, (180, 130, 110))):
        cv2.ellipse(img, (int(cx * w), int(cy * h)), (max(int(rx * w), 1), max(int(ry * h), 1)), 0, 0, 360, colour, -1)
    return img


def synthetic_video(n_frames: int, size: int | tuple[int, int] = 64, *, movements: list[Movement] | None = None,
                    blinks: list[tuple[int, int]] | None = None, drift: float = 0.02, seed: int = 0) -> SyntheticVideo:
    """Make a synthetic face video (see the module doc).

    Args:
        n_frames: frames.
        size: side, or ``(height, width)``.
        movements: planted movements (default: one around the mouth corner in the middle third).
        blinks: ``(first, last)`` frames of each blink (default: one near the end when there is room).
        drift: head drift, pixels per frame (a slow random walk of about this speed).
        seed: random texture and drift.
    """
    plan = _Plan(n_frames, size, movements, blinks, drift, seed)
    h, w = plan.base.shape[:2]
    frames = np.empty((n_frames, h, w, 3), np.uint8)
    for t, frame in enumerate(plan.frames()):
        frames[t] = frame
    return SyntheticVideo(frames, plan.movements, plan.blinks, plan.path.astype(np.float32))


def synthetic_frames(n_frames: int, size: int | tuple[int, int] = 64, *, movements: list[Movement] | None = None,
                     blinks: list[tuple[int, int]] | None = None, drift: float = 0.02,
                     seed: int = 0) -> Iterator[np.ndarray]:
    """The frames of :func:`synthetic_video` (same arguments, same frames) one at a time, for videos too
    long to hold in memory (2000 frames of 440² are 1.2 GB)."""
    return _Plan(n_frames, size, movements, blinks, drift, seed).frames()


class _Plan:
    """What a synthetic video shows: the base face, movements, blinks and the drift path."""

    def __init__(self, n_frames: int, size: int | tuple[int, int], movements: list[Movement] | None,
                 blinks: list[tuple[int, int]] | None, drift: float, seed: int):
        h, w = (size, size) if isinstance(size, int) else size
        rng = np.random.default_rng(seed)
        if movements is None:
            a = n_frames // 3
            movements = [Movement(a, min(2 * a, n_frames - 1), (0.60, 0.72), 0.12, 0.08 * w, (0.7, -0.7))]
        if blinks is None:
            blinks = [(int(0.85 * n_frames), min(int(0.85 * n_frames) + 2, n_frames - 1))] if n_frames >= 10 else []
        self.n_frames, self.movements, self.blinks = n_frames, list(movements), list(blinks)
        self.base = _base_face(h, w, rng)
        steps = rng.standard_normal((n_frames, 2)) * drift
        self.path = np.cumsum(steps, axis=0) - steps[0]

    def frames(self) -> Iterator[np.ndarray]:
        import cv2  # noqa: PLC0415

        h, w = self.base.shape[:2]
        path = self.path
        y, x = np.mgrid[0:h, 0:w].astype(np.float32)
        for t in range(self.n_frames):
            dx = np.full((h, w), path[t, 0], np.float32)
            dy = np.full((h, w), path[t, 1], np.float32)
            for m in self.movements:
                if m.onset <= t <= m.offset:
                    apex = (m.onset + m.offset) / 2
                    half = max(apex - m.onset, 1e-6)
                    ramp = 1 - abs(t - apex) / half
                    bump = np.exp(-((x - m.center[0] * w) ** 2 + (y - m.center[1] * h) ** 2) / (2 * (m.radius * w) ** 2))
                    dx += m.amplitude * ramp * m.direction[0] * bump
                    dy += m.amplitude * ramp * m.direction[1] * bump
            img = cv2.remap(self.base, x - dx, y - dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
            if any(b0 <= t <= b1 for b0, b1 in self.blinks):
                for cx in (0.35, 0.65):
                    cv2.ellipse(img, (int(cx * w + path[t, 0]), int(0.40 * h + path[t, 1])),
                                (max(int(0.09 * w), 1), max(int(0.045 * h), 1)), 0, 0, 360, (190, 150, 125), -1)
            yield np.clip(np.rint(img), 0, 255).astype(np.uint8)


def write_video(frames: np.ndarray | Iterable[np.ndarray], path: str | Path, fps: float = 30.0, codec: str = "libx264",
                options: dict[str, str] | None = None) -> Path:
    """Write uint8 ``[N, H, W, 3]`` RGB frames (an array, or frames one at a time) as a video file with
    PyAV (H, W even for yuv420p codecs)."""
    import av  # noqa: PLC0415
    from fractions import Fraction  # noqa: PLC0415

    path = Path(path)
    frames = iter(frames)
    first = next(frames, None)
    if first is None:
        raise ValueError(f"mcwes.extract.synthetic.write_video: expected at least one frame for {path}, got none")
    frames = itertools.chain([first], frames)
    with av.open(str(path), "w") as container:
        stream: av.VideoStream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1000))
        stream.width, stream.height = first.shape[1], first.shape[0]
        stream.pix_fmt = "yuv420p" if codec in ("libx264", "mpeg4", "h264") else stream.pix_fmt
        if options:
            stream.options = dict(options)
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_frame_folder(frames: np.ndarray, folder: str | Path, pattern: str = "img{}.png", first: int = 1,
                       skip: tuple[int, ...] = ()) -> Path:
    """Write frames as numbered images (``pattern.format(number)``, numbers from ``first``), leaving out
    the frame indices in ``skip`` (to make gaps)."""
    from PIL import Image  # noqa: PLC0415

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(frames):
        if i not in skip:
            Image.fromarray(f).save(folder / pattern.format(first + i))
    return folder
