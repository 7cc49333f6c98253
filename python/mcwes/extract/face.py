"""The face region: none, an explicit box, or dlib's HOG frontal face detector (optional extra)."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["apply_box", "check_box", "detect_face_box"]


def check_box(box: Sequence[int], frame_shape: tuple[int, ...], video: Path) -> tuple[int, int, int, int]:
    """The box ``(x, y, w, h)``, checked to lie inside frames of ``frame_shape`` ``(H, W, …)``."""
    x, y, w, h = (int(v) for v in box)
    height, width = frame_shape[:2]
    if x + w > width or y + h > height:
        raise ValueError(f"mcwes.extract: {video}: crop box (x={x}, y={y}, w={w}, h={h}) does not fit in "
                         f"{width}x{height} frames")
    return x, y, w, h


def apply_box(frame: np.ndarray, box: tuple[int, int, int, int] | None) -> np.ndarray:
    if box is None:
        return frame
    x, y, w, h = box
    return frame[y : y + h, x : x + w]


def detect_face_box(frames: Sequence[np.ndarray], video: Path, margin: float) -> tuple[int, int, int, int]:
    """One fixed square box around the face: the median of the best HOG detection in each of
    ``frames`` (RGB uint8), grown by ``margin`` × its side on each side and clipped to the frame.

    The best detection is the one with the highest detector score, not the largest: in a real photo
    the detector also fires, less surely, on face-like patterns (an astronaut's mission patch is
    larger than her face in ``skimage.data.astronaut()``)."""
    try:
        import dlib  # noqa: PLC0415 (optional dependency)
    except ImportError:
        raise ImportError('mcwes.extract: crop="detect" needs dlib\'s face detector; install it with '
                          'pip install "mcwes[detect]" (the dlib-bin wheel), or pass crop="none" or a box '
                          '(x, y, width, height)') from None
    detector = dlib.get_frontal_face_detector()
    boxes = []
    for frame in frames:
        found, scores, _ = detector.run(np.ascontiguousarray(frame), 1, 0.0)  # upsample once: faces ≥ 40 px
        if len(found):
            r = found[int(np.argmax(scores))]
            boxes.append((r.left(), r.top(), r.right(), r.bottom()))
    if not boxes:
        raise ValueError(f"mcwes.extract: no face found in the first {len(frames)} frames of {video}; pass "
                         f'crop="none" if the frames are already face crops, or an explicit box (x, y, width, height)')
    left, top, right, bottom = np.median(np.asarray(boxes, dtype=np.float64), axis=0)
    side = max(right - left, bottom - top) * (1 + 2 * margin)
    cx, cy = (left + right) / 2, (top + bottom) / 2
    height, width = frames[0].shape[:2]
    side = int(round(min(side, width, height)))
    x = int(round(min(max(cx - side / 2, 0), width - side)))
    y = int(round(min(max(cy - side / 2, 0), height - side)))
    return x, y, side, side
