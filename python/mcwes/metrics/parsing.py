"""Inputs of :func:`mcwes.evaluate` → arrays: predictions (``Proposal`` sequences or DataFrames) and
ground truth (DataFrames or tuples), checked row by row, classes as indices (0 MaE, 1 ME)."""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

import numpy as np

from ..proposals import CLASSES, Proposal, me_max_frames

log = logging.getLogger("mcwes.metrics")

_ME, _MAE = CLASSES.index("ME"), CLASSES.index("MaE")


def _fail(arg: str, expectation: str, got: object) -> NoReturn:
    raise ValueError(f"mcwes.evaluate: expected {arg} to {expectation}, got {got}")


@dataclass
class _Intervals:
    """Intervals as arrays: video code, onset, offset, class index (0 MaE, 1 ME), score (preds)."""

    video: np.ndarray
    onset: np.ndarray
    offset: np.ndarray
    cls: np.ndarray
    score: np.ndarray

    @property
    def length(self) -> np.ndarray:
        return self.offset - self.onset + 1

    def take(self, mask: np.ndarray) -> "_Intervals":
        return _Intervals(self.video[mask], self.onset[mask], self.offset[mask], self.cls[mask], self.score[mask])

    def __len__(self) -> int:
        return len(self.onset)


def _is_frame(x: Any) -> bool:
    return hasattr(x, "columns") and hasattr(x, "to_dict")


def _columns(obj: Any, what: str, required: Sequence[str]) -> dict[str, np.ndarray]:
    """Columns of a DataFrame, or of a sequence of Proposal (predictions) / tuples (ground truth)."""
    if _is_frame(obj):
        missing = [c for c in required if c not in obj.columns]
        if missing:
            _fail(what, f"have columns {', '.join(required)}", f"columns {list(obj.columns)}")
        return {c: obj[c].to_numpy() for c in obj.columns}
    rows = list(obj)
    if what == "predictions":
        if rows and not all(isinstance(r, Proposal) for r in rows):
            bad = next(r for r in rows if not isinstance(r, Proposal))
            _fail(what, "be a DataFrame or a sequence of mcwes.Proposal", type(bad).__name__)
        names = ("video", "onset", "offset", "score", "label")
        return {n: np.asarray([getattr(r, n) for r in rows], dtype=object) for n in names}
    for i, r in enumerate(rows):
        if not isinstance(r, (tuple, list)) or len(r) != 4:
            _fail(f"{what} row {i}", "be a (video, onset, offset, type) tuple", repr(r))
    return {n: np.asarray([r[j] for r in rows], dtype=object) for j, n in enumerate(("video", "onset", "offset", "type"))}


def _frames(values: np.ndarray, what: str, name: str, videos: np.ndarray) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        _fail(f"{what} {name}", "hold integer frame indices", f"non-numeric values ({values[:3].tolist()} ...)")
    bad = ~np.isfinite(arr) | (arr != np.round(arr)) | (arr < 0) | (arr >= 2.0**31)
    if bad.any():
        i = int(np.argmax(bad))
        _fail(f"{what} {name}", "hold integer frame indices >= 0 and < 2**31", f"{values[i]!r} in row {i} (video {videos[i]!r})")
    return arr.astype(np.int64)


def _classes(values: np.ndarray, what: str, column: str) -> np.ndarray:
    cls = np.full(len(values), -1, dtype=np.int64)
    for j, name in enumerate(CLASSES):
        cls[values == name] = j
    if (cls < 0).any():
        i = int(np.argmax(cls < 0))
        _fail(f"{what} {column}", f"be one of {CLASSES}", f"{values[i]!r} in row {i}")
    return cls


def _read(obj: Any, what: str, fps: float, video_codes: dict[str, int]) -> _Intervals:
    pred = what == "predictions"
    cols = _columns(obj, what, ("video", "onset", "offset", "score") if pred else ("video", "onset", "offset", "type"))
    videos = np.asarray([str(v) for v in cols["video"]], dtype=object)
    onset = _frames(cols["onset"], what, "onset", videos)
    offset = _frames(cols["offset"], what, "offset", videos)
    if (onset > offset).any():
        i = int(np.argmax(onset > offset))
        _fail(f"{what} row {i} (video {videos[i]!r})", "have onset <= offset", f"onset={onset[i]}, offset={offset[i]}")
    if pred:
        try:
            score = np.asarray(cols["score"], dtype=np.float64)
        except (TypeError, ValueError):
            _fail("predictions score", "hold numbers", f"{cols['score'][:3].tolist()} ...")
        if np.isnan(score).any():
            i = int(np.argmax(np.isnan(score)))
            _fail("predictions score", "hold no NaN", f"NaN in row {i} (video {videos[i]!r})")
        by_duration = np.where(offset - onset + 1 <= me_max_frames(fps), _ME, _MAE)
        label = cols.get("label")
        if label is None or (len(label) and all(v is None or v != v for v in label)):
            cls = by_duration
        else:
            cls = _classes(label, what, "label")
            n_diff = int((cls != by_duration).sum())
            if n_diff:
                log.warning("mcwes.evaluate: %d prediction labels differ from their duration class at %g fps; "
                            "the labels are used", n_diff, fps)
    else:
        score = np.zeros(len(onset))
        cls = _classes(np.asarray(cols["type"], dtype=object), what, "type")
    codes = np.asarray([video_codes.setdefault(v, len(video_codes)) for v in videos], dtype=np.int64)
    return _Intervals(codes, onset, offset, cls, score)
