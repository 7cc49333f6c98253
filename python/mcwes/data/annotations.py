"""Annotation readers: CAS(ME)^2, SAMM Long Videos, CAS(ME)^3 part A and a plain CSV, all into one table.

The table (a :class:`pandas.DataFrame`) has the columns of :data:`COLUMNS`:

========  =======  ==============================================================
video     str      video id (``s15_0101``, ``006_1``, ``spNO.1_a``, or as in the CSV)
subject   str      subject id (``s15``, ``006``, ``spNO.1``), the unit of LOSO
onset     int64    first frame, 0-based, inclusive
offset    int64    last frame, 0-based, inclusive (``offset >= onset``)
type      str      ``"MaE"`` or ``"ME"``
========  =======  ==============================================================

Frames in every supported file are 1-based (docs/method.md §7); the readers subtract one. Rows are sorted by
(video, onset, offset, type). Every row that was repaired or dropped (and every oddity that did not
change the output, as ``"noted"``) is listed in the :class:`AnnotationReport` returned with the table:
nothing is lost silently. A file whose structure is wrong (missing sheet or column, a non-numeric
frame) raises ``ValueError`` naming the file, the sheet and the spreadsheet row.
"""
from __future__ import annotations

import logging
import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Literal, Mapping

import pandas as pd

from .facts import CASME2_MAIN_SHEETS, CASME2_NAMING_SHEETS, CASME3_SHEET, DATASETS, SAMM_SHEET

__all__ = [
    "COLUMNS",
    "DEFAULT_FPS",
    "AnnotationReport",
    "ReportEntry",
    "read_annotations",
    "write_annotations_csv",
]

from .. import checks

log = logging.getLogger(__name__)

COLUMNS = ("video", "subject", "onset", "offset", "type")
DEFAULT_FPS = {name: facts.fps for name, facts in DATASETS.items()}
OffsetPolicy = Literal["lgsnet", "apex", "drop"]
_FORMATS = ("casme2", "samm_lv", "casme3", "csv")
_HEADER_SCAN_ROWS = 30
#: Frame numbers at or beyond this are refused.
_FRAME_MAX = float(2**31)


@dataclass(frozen=True)
class ReportEntry:
    """One annotation row that was changed, dropped or looked odd.

    ``row`` is the row number as the spreadsheet shows it (1-based; for a CSV, the line number).
    ``action`` is ``"repaired"``, ``"dropped"`` or ``"noted"`` (kept unchanged)."""

    file: str
    row: int
    video: str
    action: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.row} [{self.video}] {self.action}: {self.reason}"


@dataclass
class AnnotationReport:
    """Everything a reader did to the rows it was given (see :class:`ReportEntry`)."""

    entries: list[ReportEntry] = field(default_factory=list)
    rows_read: int = 0
    rows_kept: int = 0
    #: The format read ("casme2", "samm_lv", "casme3", "csv").
    format: str = ""
    #: The frame rate of that dataset (None for a CSV: it does not say).
    fps: float | None = None

    def add(self, file: str, row: int, video: str, action: str, reason: str) -> None:
        self.entries.append(ReportEntry(file, row, video, action, reason))

    @property
    def dropped(self) -> list[ReportEntry]:
        return [e for e in self.entries if e.action == "dropped"]

    @property
    def repaired(self) -> list[ReportEntry]:
        return [e for e in self.entries if e.action == "repaired"]

    def __len__(self) -> int:
        return len(self.entries)

    def __str__(self) -> str:
        head = (f"{self.rows_read} annotation rows read, {self.rows_kept} kept, "
                f"{len(self.repaired)} repaired, {len(self.dropped)} dropped")
        return "\n".join([head] + [f"  {e}" for e in self.entries])


# ----------------------------------------------------------------------------------------------
# public entry point


def read_annotations(
    path: str | Path,
    format: str = "auto",
    fps: float | None = None,
    offset_policy: OffsetPolicy = "lgsnet",
) -> tuple[pd.DataFrame, AnnotationReport]:
    """Read one annotation file into the common table (see the module doc).

    Args:
        path: ``CAS(ME)^2code_final.xlsx``, ``SAMM_LongVideos_V*_Release.xlsx``,
            ``CAS(ME)3_part_A*.xls[x]`` or a CSV ``video,subject,onset,offset,type[,apex]``.
        format: ``"casme2"``, ``"samm_lv"``, ``"casme3"``, ``"csv"`` or ``"auto"`` (from the file
            name, then from the sheet names).
        fps: frame rate, used only to repair offsets; default 30 (CAS(ME)^2, CAS(ME)^3),
            200 (SAMM-LV); a CSV needs it only when it has an ``apex`` column with bad offsets.
        offset_policy: what to do with a row whose ``offset == 0`` or ``offset <= apex`` (docs/method.md §7):
            ``"lgsnet"``: ``offset = apex + round(2/3 * fps)``; ``"apex"``: ``offset = apex``;
            ``"drop"``: drop the row.

    Returns:
        ``(table, report)``.
    """
    path = Path(path)
    if offset_policy not in ("lgsnet", "apex", "drop"):
        raise ValueError(f"mcwes.data.read_annotations: expected offset_policy to be one of "
                         f"'lgsnet', 'apex', 'drop', got {offset_policy!r}")
    path = checks.existing_file(path, "mcwes.data.read_annotations", "the annotation file")
    fmt = _detect_format(path) if format == "auto" else format
    if fmt not in _FORMATS:
        raise ValueError(f"mcwes.data.read_annotations: expected format to be one of "
                         f"{('auto',) + _FORMATS}, got {format!r}")
    if fps is None:
        fps = DEFAULT_FPS.get(fmt)
    else:
        fps = checks.positive_number(fps, "mcwes.data.read_annotations", "fps")
    raw = _READERS[fmt](path)
    report = AnnotationReport(rows_read=len(raw), format=fmt, fps=DEFAULT_FPS.get(fmt))
    table = _clean(raw, path.name, fps, offset_policy, report)
    report.rows_kept = len(table)
    if report.dropped:
        checks.warn(f"mcwes.data.read_annotations: {path.name}: {len(report.dropped)} of {report.rows_read} rows "
                    f"dropped (first: {report.dropped[0]}); the returned report lists every one")
    elif report.entries:
        log.info("%s: %d rows repaired, %d noted", path.name, len(report.repaired),
                 len(report.entries) - len(report.repaired))
    return table, report


def write_annotations_csv(table: pd.DataFrame, path: str | Path) -> Path:
    """Write a table of :data:`COLUMNS` (0-based frames) as the plain CSV format (1-based frames),
    so that ``read_annotations(path)`` gives the same table back."""
    path = Path(path)
    out = table.loc[:, list(COLUMNS)].copy()
    out["onset"] = out["onset"].astype("int64") + 1
    out["offset"] = out["offset"].astype("int64") + 1
    out.to_csv(path, index=False)
    return path


# ----------------------------------------------------------------------------------------------
# the rows every reader produces, before cleaning


@dataclass
class _Raw:
    """Rows as read: 1-based frames as floats (NaN = absent), the spreadsheet row of each."""

    rows: list[dict]

    def __len__(self) -> int:
        return len(self.rows)


def _detect_format(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".csv"):
        return "csv"
    if "samm" in name:
        return "samm_lv"
    if "(me)^2" in name or "casme2" in name or "code_final" in name:
        return "casme2"
    if "(me)3" in name or "(me)^3" in name or "casme3" in name or "part_a" in name:
        return "casme3"
    sheets = [s.lower() for s in _sheet_names(path)]
    if SAMM_SHEET.lower() in sheets:
        return "samm_lv"
    if any(s.startswith("naming rule") for s in sheets):
        return "casme2"
    if CASME3_SHEET.lower() in sheets:
        return "casme3"
    raise ValueError(f"mcwes.data.read_annotations: cannot tell the format of {path.name} "
                     f"(sheets {sheets}); pass format='casme2'|'samm_lv'|'casme3'|'csv'")


def _engine(path: Path) -> str | None:
    """pandas' engine: the default for .xlsx (openpyxl); for .xls, calamine when installed, else xlrd
    (which pandas ≥ 3 deprecates, with a warning we silence: xlrd is what the package depends on)."""
    if path.suffix.lower() != ".xls":
        return None
    try:
        import python_calamine  # noqa: F401
        return "calamine"
    except ImportError:
        return "xlrd"


def _sheet_names(path: Path) -> list[str]:
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="The xlrd engine is deprecated")
            with pd.ExcelFile(path, engine=_engine(path)) as xl:
                return [str(s) for s in xl.sheet_names]
    except Exception as exc:  # openpyxl/xlrd raise many types for a broken workbook
        raise ValueError(f"mcwes.data.read_annotations: cannot read workbook {path.name}: {exc}") from exc


def _read_sheet(path: Path, sheet: str) -> pd.DataFrame:
    """All cells of one sheet as objects, no header; index = spreadsheet row − 1 (blank rows kept)."""
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="The xlrd engine is deprecated")
            return pd.read_excel(path, sheet_name=sheet, header=None, dtype=object, engine=_engine(path))
    except Exception as exc:
        raise ValueError(f"mcwes.data.read_annotations: cannot read sheet {sheet!r} of {path.name}: {exc}") from exc


def _find_sheet(path: Path, wanted: Iterable[str], what: str) -> str:
    names = _sheet_names(path)
    lower = {n.strip().lower(): n for n in names}
    for w in wanted:
        if w.lower() in lower:
            return lower[w.lower()]
    raise ValueError(f"mcwes.data.read_annotations: {path.name} has no {what} sheet "
                     f"(expected one of {list(wanted)}, found {names})")


def _blank(v: object) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip())


def _frame(v: Any, file: str, sheet: str, row: int, column: str) -> float:
    """A frame cell as a float; NaN when blank; ValueError naming the cell when not a number."""
    if _blank(v):
        return math.nan
    if isinstance(v, bool):
        v = str(v)
    try:
        number = float(v)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"mcwes.data.read_annotations: {file}, sheet {sheet!r}, row {row}: "
                         f"expected column {column!r} to hold a frame number, got {v!r}") from None
    if math.isnan(number):
        return math.nan
    if not abs(number) < _FRAME_MAX:
        raise ValueError(f"mcwes.data.read_annotations: {file}, sheet {sheet!r}, row {row}: "
                         f"expected column {column!r} to hold a finite frame number below 2**31, got {v!r}")
    return number


def _header_row(df: pd.DataFrame, required: Mapping[str, tuple[str, ...]], file: str, sheet: str) -> tuple[int, dict[str, int]]:
    """Find the header row (the first one holding every required column) and map the logical
    column names to column positions. Description rows above the header are skipped."""
    best: tuple[int, list[str]] | None = None
    for r in range(min(len(df), _HEADER_SCAN_ROWS)):
        cells = [str(c).strip().lower() if not _blank(c) else "" for c in df.iloc[r].tolist()]
        found, missing = {}, []
        for key, aliases in required.items():
            pos = next((i for i, c in enumerate(cells) if c in aliases), None)
            if pos is None:
                missing.append(key)
            else:
                found[key] = pos
        if not missing:
            return r, found
        if len(found) >= 2 and (best is None or len(missing) < len(best[1])):
            best = (r, missing)
    if best is not None:
        raise ValueError(f"mcwes.data.read_annotations: {file}, sheet {sheet!r}, header row {best[0] + 1}: "
                         f"missing column(s) {best[1]}")
    raise ValueError(f"mcwes.data.read_annotations: {file}, sheet {sheet!r}: no header row with the columns "
                     f"{list(required)} in the first {_HEADER_SCAN_ROWS} rows")


def _rows_after_header(df: pd.DataFrame, header: int, cols: dict[str, int], file: str, sheet: str,
                       make: Callable[[dict, int], dict | None]) -> list[dict]:
    rows = []
    for r in range(header + 1, len(df)):
        cells = {k: df.iat[r, i] for k, i in cols.items()}
        if all(_blank(v) for v in cells.values()):
            continue  # a blank spacer row carries nothing
        sheet_row = r + 1
        rec = make(cells, sheet_row)
        if rec is not None:
            for key in ("onset", "apex", "offset"):
                rec[key] = _frame(cells.get(key), file, sheet, sheet_row, key.capitalize()) if key in cells else math.nan
            rec["row"] = sheet_row
            rec["file"] = file
            rows.append(rec)
    return rows


# ----------------------------------------------------------------------------------------------
# CAS(ME)^2


_CASME2_MAIN = CASME2_MAIN_SHEETS
_CASME2_TYPES = {"macro-expression": "MaE", "micro-expression": "ME"}


def _casme2_subjects(path: Path) -> dict[int, str]:
    """``naming rule1``: col 0 = subject folder number (15 → ``s15``), col 2 = participant 1..22."""
    sheet = _find_sheet(path, [CASME2_NAMING_SHEETS[0]], f"'{CASME2_NAMING_SHEETS[0]}'")
    df = _read_sheet(path, sheet)
    out: dict[int, str] = {}
    for r in range(len(df)):
        row = df.iloc[r].tolist() + [None] * 3
        if _blank(row[2]) or _blank(row[0]):
            continue
        try:
            participant = int(float(row[2]))
        except (TypeError, ValueError):
            continue  # a header or note line
        m = re.fullmatch(r"s?0*(\d+)", str(row[0]).strip().lower().replace(".0", ""))
        if m is None:
            raise ValueError(f"mcwes.data.read_annotations: {path.name}, sheet {sheet!r}, row {r + 1}: "
                             f"expected a subject number like 15 or s15 in column 1, got {row[0]!r}")
        out[participant] = f"s{int(m.group(1)):02d}"
    if not out:
        raise ValueError(f"mcwes.data.read_annotations: {path.name}, sheet {sheet!r}: no participant rows")
    return out


def _casme2_codes(path: Path) -> dict[str, str]:
    """``naming rule2``: col 0 = video code (text ``0101``; a number 101 is zero-padded), col 1 = name."""
    sheet = _find_sheet(path, [CASME2_NAMING_SHEETS[1]], f"'{CASME2_NAMING_SHEETS[1]}'")
    df = _read_sheet(path, sheet)
    out: dict[str, str] = {}
    for r in range(len(df)):
        code, name = (df.iloc[r].tolist() + [None, None])[:2]
        if _blank(code) or _blank(name):
            continue
        code = str(code).strip()
        if re.fullmatch(r"\d+(\.0)?", code):
            out[str(name).strip().lower()] = f"{int(float(code)):04d}"
    if not out:
        raise ValueError(f"mcwes.data.read_annotations: {path.name}, sheet {sheet!r}: no code rows")
    return out


def _read_casme2(path: Path) -> _Raw:
    subjects, codes = _casme2_subjects(path), _casme2_codes(path)
    sheet = _find_sheet(path, _CASME2_MAIN, "main (code_final)")
    df = _read_sheet(path, sheet)
    if df.shape[1] < 8:
        raise ValueError(f"mcwes.data.read_annotations: {path.name}, sheet {sheet!r}: expected 9 columns "
                         f"(participant, name, onset, apex, offset, AU, emotion, type, self-report), "
                         f"got {df.shape[1]}")
    cols = {"participant": 0, "name": 1, "onset": 2, "apex": 3, "offset": 4, "type": 7}
    header = -1
    first = str(df.iat[0, 2]).strip().lower() if len(df) else ""
    if first in ("onset", "onsetframe", "onset frame"):
        header = 0  # a copy with a header row added by hand

    def make(cells: dict, row: int) -> dict:
        rec = {"raw_type": cells["type"], "video": "", "subject": "", "error": None}
        try:
            participant = int(float(cells["participant"]))
        except (TypeError, ValueError):
            rec["error"] = f"participant {cells['participant']!r} is not a number"
            return rec
        name = str(cells["name"]).strip().lower()
        prefix = name.split("_")[0]
        subject = subjects.get(participant)
        code = codes.get(prefix)
        if subject is None:
            rec["error"] = f"participant {participant} is not in 'naming rule1'"
        elif code is None:
            rec["error"] = f"expression name {cells['name']!r} (prefix {prefix!r}) is not in 'naming rule2'"
        else:
            rec.update(video=f"{subject}_{code}", subject=subject)
        return rec

    return _Raw(_rows_after_header(df, header, cols, path.name, sheet, make))


# ----------------------------------------------------------------------------------------------
# SAMM Long Videos


_SAMM_COLUMNS = {
    "subject": ("subject",),
    "filename": ("filename",),
    "onset": ("onset",),
    "apex": ("apex",),
    "offset": ("offset",),
    "type": ("type",),
}


def _read_samm(path: Path) -> _Raw:
    sheet = _find_sheet(path, [SAMM_SHEET], f"'{SAMM_SHEET}'")
    df = _read_sheet(path, sheet)
    header, cols = _header_row(df, _SAMM_COLUMNS, path.name, sheet)

    def make(cells: dict, row: int) -> dict:
        rec = {"raw_type": cells["type"], "video": "", "subject": "", "error": None}
        fname = str(cells["filename"]).strip()
        parts = fname.split("_")
        if len(parts) < 2 or not parts[0].isdigit():
            rec["error"] = f"filename {cells['filename']!r} is not of the form SSS_V_E"
            return rec
        rec.update(video=f"{parts[0]}_{parts[1]}", subject=parts[0])
        subj = cells["subject"]
        if not _blank(subj) and str(subj).strip().lstrip("0").replace(".0", "") != parts[0].lstrip("0"):
            rec["note"] = f"Subject column {subj!r} disagrees with filename {fname!r}; filename used"
        rec["key"] = fname
        return rec

    return _Raw(_rows_after_header(df, header, cols, path.name, sheet, make))


# ----------------------------------------------------------------------------------------------
# CAS(ME)^3 part A


_CASME3_COLUMNS = {
    "subject": ("subject",),
    "filename": ("filename",),
    "onset": ("onset",),
    "apex": ("apex",),
    "offset": ("offset",),
    "type": ("expression type", "type"),
}


def _read_casme3(path: Path) -> _Raw:
    sheet = _find_sheet(path, [CASME3_SHEET], f"'{CASME3_SHEET}'")
    df = _read_sheet(path, sheet)
    header, cols = _header_row(df, _CASME3_COLUMNS, path.name, sheet)

    def make(cells: dict, row: int) -> dict:
        rec = {"raw_type": cells["type"], "video": "", "subject": "", "error": None}
        m = re.search(r"(\d+)", str(cells["subject"]))
        letter = str(cells["filename"]).strip().lower()
        if m is None:
            rec["error"] = f"subject {cells['subject']!r} has no number (expected spNO.N)"
        elif not letter or _blank(cells["filename"]):
            rec["error"] = "empty filename"
        else:
            subject = f"spNO.{int(m.group(1))}"
            rec.update(video=f"{subject}_{letter}", subject=subject)
        return rec

    return _Raw(_rows_after_header(df, header, cols, path.name, sheet, make))


# ----------------------------------------------------------------------------------------------
# plain CSV


def _read_csv(path: Path) -> _Raw:
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, skip_blank_lines=False)
    except Exception as exc:
        raise ValueError(f"mcwes.data.read_annotations: cannot read CSV {path.name}: {exc}") from exc
    read_header = [str(c) for c in df.columns]
    df.columns = [str(c).strip().lower().lstrip("\ufeff") for c in df.columns]
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        hint = ""
        if len(read_header) == 1 and any(sep in read_header[0] for sep in ";\t|"):
            hint = "; the file is not comma-separated (expected ',' between fields)"
        raise ValueError(f"mcwes.data.read_annotations: {path.name}, line 1: missing column(s) {missing}: "
                         f"read the header {read_header} (expected {','.join(COLUMNS)}[,apex]){hint}")
    rows = []
    for i, r in enumerate(df.to_dict("records")):
        line = i + 2
        if all(_blank(v) for v in r.values()):
            continue
        rec = {"raw_type": r["type"], "video": str(r["video"]).strip(), "subject": str(r["subject"]).strip(),
               "error": None, "row": line, "file": path.name}
        if not rec["video"]:
            rec["error"] = "empty video"
        for key in ("onset", "apex", "offset"):
            rec[key] = _frame(r.get(key), path.name, "csv", line, key) if key in r else math.nan
        rows.append(rec)
    return _Raw(rows)


_READERS: dict[str, Callable[[Path], _Raw]] = {
    "casme2": _read_casme2,
    "samm_lv": _read_samm,
    "casme3": _read_casme3,
    "csv": _read_csv,
}


# ----------------------------------------------------------------------------------------------
# cleaning: types, rounding, offsets, 1-based → 0-based


def _expression_type(v: object) -> str | None:
    s = re.sub(r"\s+", " ", str(v).strip().lower()) if not _blank(v) else ""
    if s in ("mae", "macro") or s.startswith("macro"):
        return "MaE"
    if s in ("me", "micro") or s.startswith("micro"):
        return "ME"
    return _CASME2_TYPES.get(s)


def _round_half_up(x: float) -> int:
    return int(math.floor(x + 0.5))


def _clean(raw: _Raw, file: str, fps: float | None, policy: str, report: AnnotationReport) -> pd.DataFrame:
    out: list[dict[str, Any]] = []
    seen: dict[tuple[Any, ...], Any] = {}
    for rec in raw.rows:
        kept = _clean_row(rec, fps, policy, report)
        if kept is None:
            continue
        ident = (kept["video"], kept["onset"], kept["offset"], kept["type"])
        if ident in seen:
            report.add(file, rec["row"], kept["video"], "dropped", f"duplicate of row {seen[ident]}")
            continue
        seen[ident] = rec["row"]
        key = rec.get("key")
        if key is not None:
            dup = [r for r in raw.rows if r.get("key") == key and r["row"] != rec["row"]]
            if dup:
                report.add(file, rec["row"], kept["video"], "noted",
                           f"filename {key!r} also on row(s) {[d['row'] for d in dup]}; both kept")
        out.append(kept)
    table = pd.DataFrame(out, columns=list(COLUMNS))
    table = table.astype({"video": str, "subject": str, "onset": "int64", "offset": "int64", "type": str})
    return table.sort_values(["video", "onset", "offset", "type"], kind="stable").reset_index(drop=True)


def _clean_row(rec: dict, fps: float | None, policy: str, report: AnnotationReport) -> dict | None:
    file, row, video = rec["file"], rec["row"], rec["video"] or "?"

    def drop(reason: str) -> None:
        report.add(file, row, video, "dropped", reason)

    if rec["error"]:
        drop(rec["error"])
        return None
    if rec.get("note"):
        report.add(file, row, video, "noted", rec["note"])
    etype = _expression_type(rec["raw_type"])
    if etype is None:
        drop(f"unknown expression type {rec['raw_type']!r}")
        return None
    onset, apex, offset = rec["onset"], rec["apex"], rec["offset"]
    if math.isnan(onset):
        drop("no onset")
        return None
    fractional = [k for k, v in (("onset", onset), ("apex", apex), ("offset", offset))
                  if not math.isnan(v) and v != math.floor(v)]
    if fractional:
        report.add(file, row, video, "repaired",
                   "fractional " + ", ".join(f"{k}={rec[k]:g}" for k in fractional) + " rounded (half up)")
    onset = _round_half_up(onset)
    apex = None if math.isnan(apex) else _round_half_up(apex)
    offset = 0 if math.isnan(offset) else _round_half_up(offset)
    if onset < 1:
        report.add(file, row, video, "repaired", f"onset {onset} (1-based) clamped to 1")
        onset = 1
    apex_ok = apex is not None and onset <= apex
    if apex is not None and not apex_ok:
        report.add(file, row, video, "noted", f"apex {apex} is not a frame at or after onset {onset}")
    offset = _fix_offset(onset, apex if apex_ok else None, offset, fps, policy, rec, report)
    if offset is None:
        return None
    if offset < onset:
        drop(f"offset {offset} < onset {onset}")
        return None
    return {"video": rec["video"], "subject": rec["subject"], "onset": onset - 1, "offset": offset - 1,
            "type": etype}


def _fix_offset(onset: int, apex: int | None, offset: int, fps: float | None, policy: str,
                rec: dict, report: AnnotationReport) -> int | None:
    """docs/method.md §7: ``offset == 0`` or ``offset <= apex`` (1-based) → LGSNet default / apex / drop."""
    file, row, video = rec["file"], rec["row"], rec["video"]
    bad = offset == 0 or (apex is not None and offset <= apex)
    if not bad:
        return offset
    what = f"offset {offset}" + (f" <= apex {apex}" if offset != 0 else "")
    if apex is None:
        report.add(file, row, video, "dropped", f"{what} and no usable apex to repair it from")
        return None
    if policy == "drop":
        report.add(file, row, video, "dropped", f"{what} (offset_policy='drop')")
        return None
    if policy == "apex":
        report.add(file, row, video, "repaired", f"{what}: offset set to apex {apex}")
        return apex
    if fps is None:
        raise ValueError(f"mcwes.data.read_annotations: {file}, row {row}: {what} needs fps to repair "
                         f"(offset = apex + round(2/3 fps)); pass fps=")
    new = apex + _round_half_up(2.0 * fps / 3.0)
    report.add(file, row, video, "repaired", f"{what}: offset set to apex + round(2/3*{fps:g}) = {new}")
    return new
