"""Spotted intervals: the :class:`Proposal` record, lists of them, CSV round-trips, and the snippet →
frame conversion (docs/method.md §1, §4 steps 5–6).

Frames are 0-based and intervals inclusive on both ends. A proposal's ``label`` is its class by
duration (ME when ``offset − onset + 1 ≤ floor(0.5·fps)``, else MaE: the MEGC convention the paper
evaluates with); ``model_label`` is the class its score was computed for.
"""
from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

__all__ = [
    "CLASSES",
    "Proposal",
    "Proposals",
    "duration_label",
    "me_max_frames",
    "snippets_to_frames",
    "proposals_to_dataframe",
    "proposals_from_dataframe",
    "write_proposals_csv",
    "read_proposals_csv",
]

#: Expression classes in T-CAM channel order (docs/method.md §1): index 0 = MaE, 1 = ME.
CLASSES = ("MaE", "ME")
CSV_COLUMNS = ("video", "onset", "offset", "score", "label", "model_label")
#: Frame numbers at or beyond 2**31 are refused.
_FRAME_MAX = float(2**31)


def _fail(where: str, arg: str, expectation: str, got: object) -> NoReturn:
    raise ValueError(f"mcwes.{where}: expected {arg} to {expectation}, got {got}")


def me_max_frames(fps: float, seconds: float = 0.5) -> int:
    """Longest ME in frames: ``floor(seconds·fps)`` (15 at 30 fps, 100 at 200 fps for 0.5 s)."""
    if not isinstance(fps, (int, float, np.number)) or isinstance(fps, bool) or not math.isfinite(fps) or fps <= 0:
        _fail("me_max_frames", "fps", "be a finite number > 0", repr(fps))
    return int(math.floor(seconds * float(fps)))


def duration_label(onset: Any, offset: Any, fps: float) -> Any:
    """Class by duration: ``"ME"`` if ``offset − onset + 1 ≤ floor(0.5·fps)`` else ``"MaE"``.

    Scalars give a str; arrays (any shape) give a NumPy array of str of that shape.
    """
    limit = me_max_frames(fps)
    length = np.asarray(offset, dtype=np.int64) - np.asarray(onset, dtype=np.int64) + 1
    labels = np.where(length <= limit, "ME", "MaE")
    return str(labels) if labels.ndim == 0 else labels


def snippets_to_frames(start: Any, end: Any, snippet_frames: int, n_frames: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Snippet intervals ``[start, end]`` (inclusive) → frame intervals (docs/method.md §1).

    ``onset = start·g``, ``offset = min((end+1)·g − 1, n_frames − 1)``.

    Args:
        start, end: int arrays (or scalars, or CPU tensors) of equal shape, ``0 ≤ start ≤ end``.
        snippet_frames: g ≥ 1, frames per snippet.
        n_frames: frames of the video (scalar, or one per interval); None = no clipping.

    Returns:
        ``(onset, offset)`` int64 arrays of the broadcast shape.

    Raises:
        ValueError: g < 1, start > end, negative start, or an onset beyond the last frame (the
            features have more snippets than the video has frames for: a mismatch worth knowing).
    """
    if isinstance(snippet_frames, bool) or not isinstance(snippet_frames, (int, np.integer)) or snippet_frames < 1:
        _fail("snippets_to_frames", "snippet_frames", "be an integer >= 1", repr(snippet_frames))
    s = np.asarray(start, dtype=np.int64)
    e = np.asarray(end, dtype=np.int64)
    if s.shape != e.shape:
        _fail("snippets_to_frames", "start and end", "have the same shape", f"{s.shape} and {e.shape}")
    if np.any(s < 0):
        _fail("snippets_to_frames", "start", "be >= 0", int(s.min()))
    if np.any(s > e):
        i = int(np.argmax(s > e))
        _fail("snippets_to_frames", "start", "be <= end", f"start={int(s.flat[i])}, end={int(e.flat[i])}")
    g = int(snippet_frames)
    onset = s * g
    offset = (e + 1) * g - 1
    if n_frames is not None:
        n = np.asarray(n_frames, dtype=np.int64)
        if np.any(onset > n - 1):
            i = int(np.argmax(np.broadcast_to(onset > n - 1, onset.shape)))
            _fail("snippets_to_frames", "start·snippet_frames", "be < n_frames",
                  f"onset {int(onset.flat[i])} with n_frames {int(np.broadcast_to(n, onset.shape).flat[i])}")
        offset = np.minimum(offset, n - 1)
    return onset, offset


@dataclass(frozen=True)
class Proposal:
    """One spotted interval of one video.

    Attributes:
        video: the video's name.
        onset, offset: first and last frame, 0-based, inclusive.
        score: the outer-inner score φ (higher = more confident).
        label: ``"MaE"``/``"ME"`` by duration (see :func:`duration_label`); what evaluation uses.
        model_label: ``"MaE"``/``"ME"``, the class the score was computed for.
    """

    video: str
    onset: int
    offset: int
    score: float
    label: str
    model_label: str

    def __post_init__(self) -> None:
        for name in ("onset", "offset"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                _fail("Proposal", name, "be an integer frame index", repr(value))
            if not abs(int(value)) < _FRAME_MAX:
                _fail("Proposal", name, "be a frame index below 2**31", repr(value))
            object.__setattr__(self, name, int(value))
        if self.onset < 0:
            _fail("Proposal", "onset", "be >= 0", self.onset)
        if self.onset > self.offset:
            _fail("Proposal", "onset", f"be <= offset ({self.offset})", self.onset)
        score = float(self.score)
        if math.isnan(score):
            _fail("Proposal", "score", "be a number", "NaN")
        object.__setattr__(self, "score", score)
        object.__setattr__(self, "video", str(self.video))
        for name in ("label", "model_label"):
            if getattr(self, name) not in CLASSES:
                _fail("Proposal", name, f"be one of {CLASSES}", repr(getattr(self, name)))

    @classmethod
    def from_frames(cls, video: str, onset: int, offset: int, score: float, model_label: str, fps: float) -> "Proposal":
        """A proposal whose ``label`` is derived from its duration at ``fps``."""
        return cls(str(video), int(onset), int(offset), float(score), duration_label(onset, offset, fps), model_label)

    @property
    def length(self) -> int:
        """Frames covered, ``offset − onset + 1``."""
        return self.offset - self.onset + 1


class Proposals(list):
    """A list of :class:`Proposal` with table and CSV conversions."""

    def to_dataframe(self) -> "Any":
        return proposals_to_dataframe(self)

    def to_csv(self, path: str | Path) -> None:
        write_proposals_csv(path, self)

    @classmethod
    def from_dataframe(cls, frame: Any, fps: float | None = None) -> "Proposals":
        return proposals_from_dataframe(frame, fps=fps)

    @classmethod
    def read_csv(cls, path: str | Path, fps: float | None = None) -> "Proposals":
        return read_proposals_csv(path, fps=fps)


def proposals_to_dataframe(proposals: Iterable[Proposal]) -> Any:
    """A pandas DataFrame with columns video, onset, offset, score, label, model_label."""
    import pandas as pd

    rows = [asdict(p) for p in proposals]
    frame = pd.DataFrame(rows, columns=list(CSV_COLUMNS))
    return frame.astype({"video": str, "onset": np.int64, "offset": np.int64, "score": np.float64})


def proposals_from_dataframe(frame: Any, fps: float | None = None) -> Proposals:
    """Proposals from a table with columns video, onset, offset, score[, label][, model_label].

    A missing ``label`` is derived from the duration (``fps`` is then required); a missing
    ``model_label`` copies ``label``.
    """
    rows = frame.to_dict("records")
    return Proposals(_row_to_proposal(row, fps, f"row {i}", "proposals_from_dataframe") for i, row in enumerate(rows))


def write_proposals_csv(path: str | Path, proposals: Iterable[Proposal]) -> None:
    """Write ``video,onset,offset,score,label,model_label`` (one header line, one row per proposal)."""
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_COLUMNS)
        for p in proposals:
            writer.writerow([p.video, p.onset, p.offset, repr(float(p.score)), p.label, p.model_label])


def read_proposals_csv(path: str | Path, fps: float | None = None) -> Proposals:
    """Read a proposals CSV written by :func:`write_proposals_csv` (or by hand).

    Required columns: video, onset, offset, score; optional: label (else derived from the duration,
    which needs ``fps``), model_label (else = label). Extra columns are ignored.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a missing column or a malformed row, naming the file and the line.
    """
    from . import checks

    path = checks.existing_file(path, "mcwes.read_proposals_csv", "the predictions file")
    if fps is not None:
        fps = checks.positive_number(fps, "mcwes.read_proposals_csv", "fps")
    # utf-8-sig: a byte-order mark (Excel writes one) is dropped, as the annotation reader does.
    with open(path, newline="", encoding="utf-8-sig", errors="strict") as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader, None)
        except (UnicodeDecodeError, csv.Error) as exc:
            _fail("read_proposals_csv", f"{path}", "be a UTF-8 CSV text file", f"{type(exc).__name__}: {exc}")
        if header is None:
            _fail("read_proposals_csv", f"{path}", "start with a header line", "an empty file")
        header = [h.strip() for h in header]
        missing = [c for c in CSV_COLUMNS[:4] if c not in header]
        if missing:
            hint = ("; the file is not comma-separated (expected ',' between fields)"
                    if len(header) == 1 and any(sep in header[0] for sep in ";\t|") else "")
            _fail("read_proposals_csv", f"{path}", f"have columns {', '.join(CSV_COLUMNS[:4])}",
                  f"the header {header} (missing {missing}){hint}")
        out = Proposals()
        try:
            rows = list(reader)
        except (UnicodeDecodeError, csv.Error) as exc:
            _fail("read_proposals_csv", f"{path}", "be a UTF-8 CSV text file", f"{type(exc).__name__}: {exc}")
        for line_no, values in enumerate(rows, start=2):
            if not values or all(not v.strip() for v in values):
                continue
            if len(values) != len(header):
                _fail("read_proposals_csv", f"{path} line {line_no}", f"have {len(header)} fields", f"{len(values)}")
            row = dict(zip(header, (v.strip() for v in values)))
            out.append(_row_to_proposal(row, fps, f"{path} line {line_no}", "read_proposals_csv"))
    return out


def _row_to_proposal(row: dict[str, Any], fps: float | None, where: str, op: str) -> Proposal:
    values: dict[str, Any] = {}
    for name in ("onset", "offset"):
        values[name] = _parse_int(row.get(name), f"{where} {name}", op)
    try:
        raw_score: Any = row.get("score")  # anything: float() says what is wrong
        score = float(raw_score)
    except (TypeError, ValueError):
        score = float("nan")
        _fail(op, f"{where} score", "be a number", repr(row.get("score")))
    if math.isnan(score):
        _fail(op, f"{where} score", "be a number", "NaN")
    label = row.get("label")
    if label is None or (isinstance(label, float) and math.isnan(label)) or label == "":
        if fps is None:
            _fail(op, "fps", f"be given to derive the missing label of {where}", None)
        label = duration_label(values["onset"], values["offset"], fps)
    model_label = row.get("model_label")
    if model_label is None or (isinstance(model_label, float) and math.isnan(model_label)) or model_label == "":
        model_label = label
    try:
        return Proposal(str(row.get("video")), values["onset"], values["offset"], score, label, model_label)
    except ValueError as exc:
        raise ValueError(f"mcwes.{op}: {where}: {exc}") from None


def _parse_int(value: Any, where: str, op: str) -> int:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not math.isfinite(number) or number != int(number):
        _fail(op, where, "be an integer frame index", repr(value))
    if not abs(number) < _FRAME_MAX:
        _fail(op, where, "be a frame index below 2**31", repr(value))
    return int(number)

