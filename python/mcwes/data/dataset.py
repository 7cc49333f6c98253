"""``SpottingDataset``: features joined with annotations by video, for training, LOSO and evaluation.

One item per video (:class:`VideoItem`): the features ``[T, 2D]``, the video-level labels
``(y_MaE, y_ME)`` (the only supervision MC-WES sees), the subject (the LOSO unit), the frame count
and the ground-truth intervals in frames (0-based, inclusive; for evaluation only).

Which videos are in: every annotated video that has features; plus, when a video table is given
(``videos=``, columns ``video, subject[, n_frames]``), every video of that table (those without
annotation rows are expression-free, labels ``(0, 0)``). Videos with features but no row, and rows
whose video has no features, are listed in :attr:`SpottingDataset.unmatched_features` and
:attr:`SpottingDataset.missing_features` (and logged); ``strict=True`` makes either an error.

Frame counts: the video table's ``n_frames`` if given, else ``frame_cnt`` stored with npz features,
else ``T · snippet_frames``. A GT interval past the last frame of a known count is clipped (or dropped
when it starts past it), and one past an estimated count enlarges the estimate; each case is listed in
:attr:`SpottingDataset.issues`.
"""
from __future__ import annotations

import copy
import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import torch

from .annotations import COLUMNS, AnnotationReport, OffsetPolicy, read_annotations
from .features import FeatureStore, MissingVideoError, open_features
from .facts import DATASETS

__all__ = [
    "DATASET_INFO",
    "Batch",
    "DatasetInfo",
    "LosoFold",
    "SpottingDataset",
    "VideoItem",
    "collate",
    "load_dataset",
    "pad_videos",
]


log = logging.getLogger(__name__)
CLASS_INDEX = {"MaE": 0, "ME": 1}  # docs/method.md §1: 0 = MaE, 1 = ME


@dataclass(frozen=True)
class DatasetInfo:
    """Facts about a real dataset that the data layer needs (docs/method.md §8)."""

    fps: float
    snippet_frames: int
    annotation_format: str


DATASET_INFO: dict[str, DatasetInfo] = {
    name: DatasetInfo(facts.fps, facts.snippet_frames, name) for name, facts in DATASETS.items()
}


def _no_intervals() -> torch.Tensor:
    return torch.zeros((0, 2), dtype=torch.int64)


def _no_interval_labels() -> torch.Tensor:
    return torch.zeros((0,), dtype=torch.int64)


@dataclass(frozen=True)
class VideoItem:
    """One video: what :class:`SpottingDataset` yields, :func:`collate` pads and :class:`mcwes.Trainer`
    trains on (a :class:`mcwes.train.TrainingItem`).

    Attributes:
        features: ``[T, 2D]`` (RGB channels, then flow): a float32 tensor (a copy, safe to modify) from a
            dataset; any float array or tensor in an item built by hand.
        labels: ``(y_MaE, y_ME)`` in {0, 1}: a float32 tensor ``[2]`` from a dataset; any length-2
            sequence in an item built by hand.
        subject, video: ids ("" when built by hand without them).
        intervals: int64 ``[K, 2]``: GT ``(onset, offset)`` frames, 0-based inclusive, sorted by onset
            (none by default).
        interval_labels: int64 ``[K]``: 0 = MaE, 1 = ME (none by default).
        n_frames: frames in the video (0 when unknown, the default).
    """

    features: Any
    labels: Any
    subject: str = ""
    video: str = ""
    intervals: torch.Tensor = field(default_factory=_no_intervals)
    interval_labels: torch.Tensor = field(default_factory=_no_interval_labels)
    n_frames: int = 0

    @property
    def length(self) -> int:
        """T, the number of snippets."""
        return int(self.features.shape[0])


@dataclass(frozen=True)
class Batch:
    """Videos padded to a batch: ``features [B, T_max, 2D]`` (zeros past each length),
    ``lengths int64 [B]``, ``labels float32 [B, 2]``, ``videos``/``subjects`` lists, ``n_frames int64 [B]``."""

    features: torch.Tensor
    lengths: torch.Tensor
    labels: torch.Tensor
    videos: list[str]
    subjects: list[str]
    n_frames: torch.Tensor


def pad_videos(videos: Sequence[Any], width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Videos ``[T_b, width]`` (arrays or tensors) as one float32 batch ``[B, max T_b, width]``, zeros
    past each video's end, and their lengths (int64 ``[B]``). The one padding of the package: used by
    :func:`collate` and by :func:`mcwes.spot` for a list of videos."""
    lengths = torch.tensor([int(v.shape[0]) for v in videos], dtype=torch.int64)
    batch = torch.zeros((len(videos), int(lengths.max()) if len(videos) else 0, width), dtype=torch.float32)
    for b, v in enumerate(videos):
        batch[b, : v.shape[0]] = torch.as_tensor(v)
    return batch, lengths


def collate(items: Sequence[VideoItem]) -> Batch:
    """Pad a list of :class:`VideoItem` into a :class:`Batch` (use as a DataLoader ``collate_fn``)."""
    feats, lengths = pad_videos([it.features for it in items], int(items[0].features.shape[1]) if items else 0)
    labels = torch.stack([torch.as_tensor(it.labels, dtype=torch.float32) for it in items]) if items else torch.zeros((0, 2))
    return Batch(feats, lengths, labels, [it.video for it in items], [it.subject for it in items],
                 torch.tensor([it.n_frames for it in items], dtype=torch.int64))


class LosoFold(NamedTuple):
    """One leave-one-subject-out fold: the held-out ``subject``, ``train`` and ``test`` datasets."""

    subject: str
    train: "SpottingDataset"
    test: "SpottingDataset"


class SpottingDataset(torch.utils.data.Dataset):
    """Features + annotations joined by video (see the module doc).

    Args:
        features: a :class:`FeatureStore`, any mapping video → ``[T, 2D]`` array, or a path for
            :func:`open_features`.
        annotations: a table with the columns ``video, subject, onset, offset, type`` (0-based
            frames), or a path for :func:`read_annotations` (its report is kept in
            :attr:`annotation_report`).
        fps, snippet_frames: frame rate and snippet size g; default from ``preset``.
        preset: ``"casme2"``, ``"samm_lv"`` or ``"casme3"`` (:data:`DATASET_INFO`), or None.
        videos: the video table (DataFrame or CSV path) with ``video, subject[, n_frames]``, or None.
        strict: raise instead of listing unmatched videos.
        feature_dim: D, checked when ``features`` is a path.
        offset_policy, annotation_format: passed to :func:`read_annotations` for a path.
    """

    def __init__(self, features: FeatureStore | Mapping[str, np.ndarray] | str | Path,
                 annotations: pd.DataFrame | str | Path, *, fps: float | None = None,
                 snippet_frames: int | None = None, preset: str | None = None,
                 videos: pd.DataFrame | str | Path | None = None, strict: bool = False,
                 feature_dim: int | None = None, offset_policy: OffsetPolicy = "lgsnet",
                 annotation_format: str = "auto"):
        info = _preset_info(preset)
        self.fps = float(fps if fps is not None else _need(info, "fps").fps)
        self.snippet_frames = int(snippet_frames if snippet_frames is not None else _need(info, "snippet_frames").snippet_frames)
        if not (self.fps > 0 and self.snippet_frames >= 1):
            raise ValueError(f"mcwes.data.SpottingDataset: expected fps > 0 and snippet_frames >= 1, "
                             f"got {self.fps}, {self.snippet_frames}")
        self.features = open_features(features, feature_dim=feature_dim) if isinstance(features, (str, Path)) else features
        self.annotation_report: AnnotationReport | None = None
        if isinstance(annotations, (str, Path)):
            fmt = annotation_format
            if fmt == "auto" and info is not None and Path(annotations).suffix.lower() != ".csv":
                fmt = info.annotation_format
            annotations, self.annotation_report = read_annotations(annotations, format=fmt, fps=self.fps,
                                                                   offset_policy=offset_policy)
        _check_table(annotations)
        table = _read_video_table(videos)
        self.issues: list[str] = []
        self._join(annotations, table, strict)

    # -- construction --------------------------------------------------------------------------
    def _join(self, ann: pd.DataFrame, table: pd.DataFrame | None, strict: bool) -> None:
        subjects = dict(zip(ann["video"], ann["subject"]))
        if table is not None:
            for v, s in zip(table["video"], table["subject"]):
                if v in subjects and subjects[v] != s:
                    raise ValueError(f"mcwes.data.SpottingDataset: video {v!r} has subject {subjects[v]!r} in the "
                                     f"annotations but {s!r} in the video table")
                subjects[v] = s
        have = set(self.features)
        self.missing_features = sorted(v for v in subjects if v not in have)
        self.unmatched_features = sorted(v for v in have if v not in subjects)
        for what, names in (("videos with annotations but no features", self.missing_features),
                            ("videos with features but no annotation row", self.unmatched_features)):
            if names:
                msg = f"mcwes.data.SpottingDataset: {len(names)} {what}: {names[:20]}" + (" ..." if len(names) > 20 else "")
                if strict:
                    raise ValueError(msg + " (strict=True)")
                log.warning(msg)
        names = sorted(v for v in subjects if v in have)
        known = dict(zip(table["video"], table["n_frames"])) if table is not None and "n_frames" in table else {}
        rows = []
        for v in names:
            t = self._length(v)
            n, exact = self._frames(v, t, known)
            rows.append({"video": v, "subject": subjects[v], "length": t, "n_frames": n, "exact": exact})
        info = pd.DataFrame(rows, columns=["video", "subject", "length", "n_frames", "exact"])
        gt = ann[ann["video"].isin(set(names))].copy()
        info, gt = self._fit_gt(info, gt)
        for cls, col in (("MaE", "y_MaE"), ("ME", "y_ME")):
            info[col] = info["video"].isin(set(gt.loc[gt["type"] == cls, "video"])).astype(np.float32)
        self._info = info.drop(columns="exact").reset_index(drop=True)
        self._gt = gt.sort_values(["video", "onset", "offset", "type"], kind="stable").reset_index(drop=True)

    def _length(self, video: str) -> int:
        if isinstance(self.features, FeatureStore):
            return self.features.length(video)
        x = self.features[video]
        return int(np.shape(x)[0])

    def _frames(self, video: str, t: int, known: dict) -> tuple[int, bool]:
        if video in known and not pd.isna(known[video]):
            return int(known[video]), True
        if isinstance(self.features, FeatureStore):
            n = self.features.frame_count(video)
            if n is not None:
                return int(n), True
        return t * self.snippet_frames, False

    def _fit_gt(self, info: pd.DataFrame, gt: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Clip GT to known frame counts; enlarge estimated counts to cover their GT."""
        n_of = dict(zip(info["video"], info["n_frames"]))
        exact = dict(zip(info["video"], info["exact"]))
        keep = np.ones(len(gt), dtype=bool)
        offsets = gt["offset"].to_numpy().copy()
        for i, (v, on, off) in enumerate(zip(gt["video"], gt["onset"], gt["offset"])):
            n = n_of[v]
            if off < n:
                continue
            if not exact[v]:
                self.issues.append(f"{v}: GT offset {off} past the estimated {n} frames; n_frames set to {off + 1}")
                n_of[v] = off + 1
            elif on >= n:
                self.issues.append(f"{v}: GT [{on}, {off}] starts past the last frame {n - 1}; dropped")
                keep[i] = False
            else:
                self.issues.append(f"{v}: GT [{on}, {off}] ends past the last frame {n - 1}; clipped")
                offsets[i] = n - 1
        gt = gt.assign(offset=offsets)[keep]
        info = info.assign(n_frames=info["video"].map(n_of).astype("int64"))
        for msg in self.issues:
            log.warning("mcwes.data.SpottingDataset: %s", msg)
        return info, gt

    # -- dataset protocol ----------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._info)

    def __getitem__(self, key: int | str) -> VideoItem:
        i = self._position(key)
        row = self._info.iloc[i]
        v = row["video"]
        x = np.array(self.features[v], dtype=np.float32, copy=True)
        if x.shape[0] != row["length"]:
            raise ValueError(f"mcwes.data.SpottingDataset: features of {v!r} changed length on disk")
        g = self._gt[self._gt["video"] == v]
        return VideoItem(
            video=v, subject=row["subject"], features=torch.from_numpy(x),
            labels=torch.tensor([row["y_MaE"], row["y_ME"]], dtype=torch.float32),
            intervals=torch.tensor(g[["onset", "offset"]].to_numpy(dtype=np.int64).reshape(-1, 2)),
            interval_labels=torch.tensor([CLASS_INDEX[t] for t in g["type"]], dtype=torch.int64),
            n_frames=int(row["n_frames"]))

    def __iter__(self) -> Iterator[VideoItem]:
        return (self[i] for i in range(len(self)))

    def __repr__(self) -> str:
        return (f"SpottingDataset({len(self)} videos, {len(self.subjects())} subjects, "
                f"{len(self._gt)} GT intervals, fps={self.fps:g}, g={self.snippet_frames})")

    def _position(self, key: int | str) -> int:
        if isinstance(key, str):
            hit = np.flatnonzero(self._info["video"].to_numpy() == key)
            if not len(hit):
                raise MissingVideoError(f"mcwes.data.SpottingDataset: no video {key!r}")
            return int(hit[0])
        i = int(key)
        if not -len(self) <= i < len(self):
            raise IndexError(f"mcwes.data.SpottingDataset: index {i} out of range for {len(self)} videos")
        return i % len(self)

    # -- views -----------------------------------------------------------------------------------
    @property
    def videos(self) -> list[str]:
        return list(self._info["video"])

    @property
    def info(self) -> pd.DataFrame:
        """One row per video: ``video, subject, length (T), n_frames, y_MaE, y_ME``."""
        return self._info.copy()

    def labels(self) -> np.ndarray:
        """float32 ``[N, 2]``: ``(y_MaE, y_ME)`` per video, in :attr:`videos` order."""
        return self._info[["y_MaE", "y_ME"]].to_numpy(dtype=np.float32)

    def lengths(self) -> np.ndarray:
        """int64 ``[N]``: T per video."""
        return self._info["length"].to_numpy(dtype=np.int64)

    def n_frames(self, video: str | None = None) -> int | dict[str, int]:
        """Frames of one video, or a dict of all."""
        table = dict(zip(self._info["video"], self._info["n_frames"].astype(int)))
        return table if video is None else table[video]

    def subjects(self) -> list[str]:
        """Sorted subject ids."""
        return sorted(set(self._info["subject"]))

    def ground_truth(self) -> pd.DataFrame:
        """GT table of the videos in this dataset: ``video, subject, onset, offset, type``."""
        return self._gt.loc[:, list(COLUMNS)].copy()

    def subset(self, subjects: Sequence[str] | str | None = None, videos: Sequence[str] | None = None) -> "SpottingDataset":
        """The same data restricted to some subjects and/or videos (shares the feature store)."""
        keep = np.ones(len(self._info), dtype=bool)
        if subjects is not None:
            wanted = {subjects} if isinstance(subjects, str) else set(subjects)
            unknown = wanted - set(self._info["subject"])
            if unknown:
                raise ValueError(f"mcwes.data.SpottingDataset.subset: unknown subjects {sorted(unknown)}")
            keep &= self._info["subject"].isin(wanted).to_numpy()
        if videos is not None:
            keep &= self._info["video"].isin(set(videos)).to_numpy()
        out = copy.copy(self)
        out._info = self._info[keep].reset_index(drop=True)
        out._gt = self._gt[self._gt["video"].isin(set(out._info["video"]))].reset_index(drop=True)
        return out

    def split(self, test_subjects: Sequence[str] | str) -> tuple["SpottingDataset", "SpottingDataset"]:
        """``(train, test)``: test = the given subjects, train = all the others."""
        test_set = {test_subjects} if isinstance(test_subjects, str) else set(test_subjects)
        return self.subset([s for s in self.subjects() if s not in test_set]), self.subset(sorted(test_set))

    def loso_folds(self) -> Iterator[LosoFold]:
        """One fold per subject (sorted): train on all others, test on that one."""
        for s in self.subjects():
            train, test = self.split(s)
            yield LosoFold(s, train, test)


def _preset_info(preset: str | None) -> DatasetInfo | None:
    if preset is None:
        return None
    if preset not in DATASET_INFO:
        raise ValueError(f"mcwes.data.SpottingDataset: expected preset to be one of {sorted(DATASET_INFO)}, "
                         f"got {preset!r}")
    return DATASET_INFO[preset]


def _need(info: DatasetInfo | None, what: str) -> DatasetInfo:
    if info is None:
        raise ValueError(f"mcwes.data.SpottingDataset: expected {what} (or a preset), got neither")
    return info


def _check_table(ann: pd.DataFrame) -> None:
    missing = [c for c in COLUMNS if c not in ann.columns]
    if missing:
        raise ValueError(f"mcwes.data.SpottingDataset: expected annotations with columns {list(COLUMNS)}, "
                         f"missing {missing}")
    bad = ann[~ann["type"].isin(list(CLASS_INDEX))]
    if len(bad):
        raise ValueError(f"mcwes.data.SpottingDataset: expected type in {list(CLASS_INDEX)}, got "
                         f"{sorted(set(bad['type']))}")
    if len(ann) and ((ann["onset"] < 0).any() or (ann["offset"] < ann["onset"]).any()):
        raise ValueError("mcwes.data.SpottingDataset: expected 0 <= onset <= offset on every annotation row")


def _read_video_table(videos: pd.DataFrame | str | Path | None) -> pd.DataFrame | None:
    if videos is None:
        return None
    source = "the video table"
    if isinstance(videos, pd.DataFrame):
        table = videos
    else:
        from .. import checks

        path = checks.existing_file(videos, "mcwes.data.SpottingDataset", "videos")
        source = f"the video table {path}"
        try:
            table = pd.read_csv(path, dtype={"video": str, "subject": str}, encoding="utf-8-sig")
        except Exception as exc:  # pandas raises several types for a file that is not a CSV
            raise ValueError(f"mcwes.data.SpottingDataset: cannot read {source} as CSV: {exc}") from exc
    missing = [c for c in ("video", "subject") if c not in table.columns]
    if missing:
        raise ValueError(f"mcwes.data.SpottingDataset: expected {source} to have columns video, subject"
                         f"[, n_frames], missing {missing} (read the header {[str(c) for c in table.columns]})")
    if "n_frames" in table.columns:
        raw = table["n_frames"]
        blank = (raw.isna() | (raw.astype(str).str.strip() == "")).to_numpy()  # blank: not known
        n = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
        bad = ~blank & ~((n >= 1) & (n < 2**31) & (n == np.floor(n)))
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(f"mcwes.data.SpottingDataset: expected n_frames in {source} to be integers in "
                             f"[1, 2**31), got {table['n_frames'].iloc[i]!r} for video {table['video'].iloc[i]!r}")
    if table["video"].duplicated().any():
        raise ValueError(f"mcwes.data.SpottingDataset: duplicate videos in the video table: "
                         f"{sorted(set(table.loc[table['video'].duplicated(), 'video']))[:5]}")
    return table.astype({"video": str, "subject": str})


def load_dataset(root: str | Path, *, strict: bool = False) -> SpottingDataset:
    """Open a dataset described by ``<root>/dataset.json`` (what ``mcwes synth`` writes): keys
    ``fps``, ``snippet_frames``, ``features`` (dir or file, relative to root), ``layout``,
    ``feature_dim``, ``annotations`` (file), ``annotation_format``, ``videos`` (CSV, optional)."""
    root = Path(root)
    manifest = root / "dataset.json" if root.is_dir() else root
    root = manifest.parent
    try:
        meta = json.loads(manifest.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"mcwes.data.load_dataset: {manifest} does not exist") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"mcwes.data.load_dataset: {manifest} is not valid JSON: {exc}") from exc
    for key in ("fps", "snippet_frames", "features", "annotations"):
        if key not in meta:
            raise ValueError(f"mcwes.data.load_dataset: {manifest}: missing key {key!r}")
    store = open_features(root / meta["features"], layout=meta.get("layout", "auto"),
                          feature_dim=meta.get("feature_dim"))
    table, report = read_annotations(root / meta["annotations"], format=meta.get("annotation_format", "auto"),
                                     fps=meta["fps"])
    videos = root / meta["videos"] if meta.get("videos") else None
    ds = SpottingDataset(store, table, fps=meta["fps"], snippet_frames=meta["snippet_frames"], videos=videos,
                         strict=strict)
    ds.annotation_report = report
    return ds
