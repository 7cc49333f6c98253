"""Feature readers for the three on-disk layouts found in the wild (docs/method.md §7), behind one mapping.

``open_features(path)`` returns a :class:`FeatureStore`: a read-only mapping video name → float32
array ``[T, 2D]`` (RGB channels ``[0, D)``, flow ``[D, 2D)``), loaded lazily on access.

============  ====================================================================================
layout        on disk
============  ====================================================================================
``npy``       a directory of ``<video>.npy``, each ``[T, 2D]``; memory-mapped (``mmap_mode='r'``)
``npz``       a directory of ``<video>-rgb.npz`` / ``<video>-flow.npz`` pairs, key ``feature`` of shape
              ``[T, D]`` or ``[crops, T, D]`` (mean over crops); optional key ``frame_cnt`` = the
              video's frames − 1 (the RGB stream drops the last frame). Pairs may sit in subject
              folders, as the authors' tools write them: ``s15/15_0101disgustingteeth-rgb.npz`` is
              video ``s15_0101`` (:func:`video_id`)
``pickle``    one pickled object array ``[N]`` of ``[T_i, 2D]`` (W-TALC / CO2-Net
              ``*-I3D-JOINTFeatures.npy``) plus a names file (``.npy`` array or ``.txt``, one per line).
              This layout needs ``allow_pickle``: only open files you trust. Loaded whole on first use.
============  ====================================================================================

Errors name the file: a missing video (:class:`MissingVideoError`, a ``KeyError``), a width that is
not ``2D`` (``ValueError``), ``T < 1``, non-finite values, unreadable or truncated files.
"""
from __future__ import annotations

import logging
import re
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np

__all__ = ["FeatureStore", "MissingVideoError", "open_features", "video_id"]

log = logging.getLogger(__name__)
_LAYOUTS = ("npy", "npz", "pickle")
_SUBJECT_FOLDER = re.compile(r"s\d+")
_CODED_VIDEO = re.compile(r"\d+_(\d{4})")
_CASME3_SUBJECT = re.compile(r"spNO\.\d+")
_NAME_FILES = ("{stem}-names.npy", "{stem}-names.txt", "{stem}_names.npy", "{stem}_names.txt",
               "videoname.npy", "videonames.npy", "names.npy", "names.txt", "videoname.txt")


def _real_dtype(dtype: np.dtype) -> bool:
    """Integer or floating point; complex (its imaginary part would be dropped), bool, strings and
    objects are not features."""
    return dtype != np.bool_ and (np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating))


class MissingVideoError(KeyError):
    """A video asked for is not in the feature store. A ``KeyError`` (so ``in`` and ``.get`` work)
    whose message reads normally."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "missing video"


class FeatureStore(Mapping):
    """Read-only mapping video name → ``np.ndarray`` float32 ``[T, 2D]`` over one feature source.

    Attributes:
        path: the directory (``npy``, ``npz``) or the pickled array file (``pickle``).
        layout: ``"npy"``, ``"npz"`` or ``"pickle"``.
    """

    def __init__(self, path: Path, layout: str, feature_dim: int | None, names: list[str],
                 files: Mapping[str, tuple[Path, ...]], incomplete: dict[str, str] | None = None,
                 arrays: list[np.ndarray] | None = None, ignored: dict[str, str] | None = None):
        self.path = path
        self.layout = layout
        self._dim = feature_dim
        self._names = names
        self._files = files
        self._incomplete = incomplete or {}
        self._ignored = ignored or {}
        self._arrays = arrays
        self._index = {n: i for i, n in enumerate(names)}

    # -- mapping protocol ---------------------------------------------------------------------
    def __getitem__(self, video: str) -> np.ndarray:
        if video not in self._files:
            raise MissingVideoError(self._missing_message(video))
        x = self._load(video)
        self._check(video, x)
        return x

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __contains__(self, video: object) -> bool:
        return video in self._files

    def __repr__(self) -> str:
        return f"FeatureStore({str(self.path)!r}, layout={self.layout!r}, videos={len(self)}, D={self._dim})"

    # -- extras --------------------------------------------------------------------------------
    @property
    def feature_dim(self) -> int:
        """D, the width of one stream (the arrays are ``2D`` wide): given, or read from the first video."""
        if self._dim is None:
            if not self._names:
                raise ValueError(f"mcwes.data.open_features: {self.path} holds no videos, so D is unknown")
            self._dim = self._width(self._names[0]) // 2
        return self._dim

    @property
    def incomplete(self) -> dict[str, str]:
        """Videos left out because a file of their pair is missing: name → what is missing."""
        return dict(self._incomplete)

    @property
    def ignored(self) -> dict[str, str]:
        """Entries of the folder that are not features of this layout (subfolders, other files,
        ``.npz`` files outside ``-rgb``/``-flow`` pairs): name → why. Hidden files are not listed."""
        return dict(self._ignored)

    @property
    def report(self) -> list[str]:
        """One line per entry left out (ignored entries and incomplete pairs); also emitted as warnings."""
        return ([f"{self.path / name}: ignored ({why})" for name, why in sorted(self._ignored.items())]
                + [f"video {v!r} left out: {why}" for v, why in sorted(self._incomplete.items())])

    def length(self, video: str) -> int:
        """T of one video, cheaply (from the ``.npy`` header where the layout allows)."""
        if self.layout == "npy" and video in self._files:
            return int(self._open_npy(self._files[video][0]).shape[0])
        return int(self[video].shape[0])

    def frame_count(self, video: str) -> int | None:
        """The video's number of frames, from ``frame_cnt`` in npz pairs (which stores frames − 1: the
        RGB stream drops the last frame so both streams have frames − 1), else None."""
        if self.layout != "npz" or video not in self._files:
            return None
        with self._open_npz(self._files[video][1]) as z:
            return int(np.asarray(z["frame_cnt"]).reshape(-1)[0]) + 1 if "frame_cnt" in z.files else None

    # -- loading -------------------------------------------------------------------------------
    def _missing_message(self, video: str) -> str:
        if video in self._incomplete:
            return f"mcwes.data: video {video!r}: {self._incomplete[video]} (in {self.path})"
        near = [n for n in self._names if video.lower() in n.lower() or n.lower() in video.lower()][:5]
        hint = f"; similar names: {near}" if near else ""
        return f"mcwes.data: no features for video {video!r} in {self.path} ({len(self)} videos{hint})"

    def _load(self, video: str) -> np.ndarray:
        if self.layout == "npy":
            x = self._open_npy(self._files[video][0])
        elif self.layout == "npz":
            x = self._load_pair(video)
        else:
            assert self._arrays is not None  # the npz-array layout always has them
            x = np.asarray(self._arrays[self._index[video]])
            if x.dtype == object:
                raise ValueError(f"mcwes.data: {self.path.name}: entry for {video!r} is not a numeric array")
        if not _real_dtype(x.dtype):
            raise ValueError(f"mcwes.data: {self._source(video)}: expected real numbers (integer or floating "
                             f"point) for {video!r}, got dtype {x.dtype}")
        if x.dtype != np.float32:
            x = x.astype(np.float32)
        return x

    def _source(self, video: str) -> str:
        return ", ".join(p.name for p in self._files.get(video, (self.path,)))

    def _check(self, video: str, x: np.ndarray) -> None:
        src = self._source(video)
        if x.ndim != 2:
            raise ValueError(f"mcwes.data: {src}: expected features of shape [T, 2D], got {tuple(x.shape)}")
        if x.shape[0] < 1:
            raise ValueError(f"mcwes.data: {src}: expected at least 1 snippet (T >= 1), got T = {x.shape[0]}")
        if x.shape[1] % 2 or x.shape[1] == 0:
            raise ValueError(f"mcwes.data: {src}: expected an even width 2D (RGB then flow), got {x.shape[1]}")
        if x.shape[1] != 2 * self.feature_dim:
            raise ValueError(f"mcwes.data: {src}: expected width 2D = {2 * self.feature_dim} "
                             f"(D = {self.feature_dim}), got {x.shape[1]}")
        if not np.isfinite(x).all():
            raise ValueError(f"mcwes.data: {src}: features contain NaN or inf")

    def _width(self, video: str) -> int:
        if self.layout == "npy":
            shape = self._open_npy(self._files[video][0]).shape
            return int(shape[-1]) if len(shape) else 0
        return int(self._load(video).shape[-1])

    @staticmethod
    def _open_npy(path: Path) -> np.ndarray:
        try:
            x = np.load(path, mmap_mode="r", allow_pickle=False)
        except Exception as exc:  # truncated header/body, not an .npy, unreadable
            raise ValueError(f"mcwes.data: cannot read {path} (truncated or not an .npy file?): {exc}") from exc
        if not _real_dtype(x.dtype):
            raise ValueError(f"mcwes.data: {path}: expected real numbers (integer or floating point), "
                             f"got dtype {x.dtype}")
        return x

    @staticmethod
    def _open_npz(path: Path):
        try:
            return np.load(path, allow_pickle=False)
        except Exception as exc:
            raise ValueError(f"mcwes.data: cannot read {path} (truncated or not an .npz file?): {exc}") from exc

    def _load_stream(self, path: Path) -> np.ndarray:
        try:
            with self._open_npz(path) as z:
                if "feature" not in z.files:
                    raise ValueError(f"mcwes.data: {path}: expected key 'feature', found {z.files}")
                x = np.asarray(z["feature"])
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise ValueError(f"mcwes.data: cannot read {path} (truncated?): {exc}") from exc
        if x.ndim == 3:
            x = x.mean(axis=0, dtype=np.float64).astype(np.float32) if x.shape[0] > 1 else x[0]
        if x.ndim != 2:
            raise ValueError(f"mcwes.data: {path}: expected 'feature' of shape [T, D] or [crops, T, D], "
                             f"got {tuple(x.shape)}")
        if self._dim is not None and x.shape[1] != self._dim:
            raise ValueError(f"mcwes.data: {path}: expected D = {self._dim} channels, got {x.shape[1]}")
        return x

    def _load_pair(self, video: str) -> np.ndarray:
        rgb_path, flow_path = self._files[video]
        rgb, flow = self._load_stream(rgb_path), self._load_stream(flow_path)
        if rgb.shape[1] != flow.shape[1]:
            raise ValueError(f"mcwes.data: {rgb_path.name} has D = {rgb.shape[1]} but {flow_path.name} "
                             f"has D = {flow.shape[1]}")
        if rgb.shape[0] != flow.shape[0]:
            t = min(rgb.shape[0], flow.shape[0])
            log.warning("%s: rgb has T=%d, flow T=%d; both cut to %d", video, rgb.shape[0], flow.shape[0], t)
            rgb, flow = rgb[:t], flow[:t]
        return np.concatenate([rgb, flow], axis=1)


def open_features(path: str | Path, layout: str = "auto", feature_dim: int | None = None, *,
                  names: str | Path | None = None) -> FeatureStore:
    """Open a feature source as a lazy mapping video name → float32 ``[T, 2D]`` (see module doc).

    Args:
        path: a directory (``npy`` or ``npz`` layouts) or a pickled object-array ``.npy`` file.
        layout: ``"npy"``, ``"npz"``, ``"pickle"`` or ``"auto"`` (a file → ``pickle``; a directory
            with ``*-rgb.npz`` → ``npz``; else ``npy``).
        feature_dim: D (one stream); every video is checked against it on access. None: taken from
            the first video (sorted by name).
        names: the names file of the ``pickle`` layout; None: looked for beside the array
            (``<stem>-names.npy|txt``, ``videoname.npy``, ``names.txt``, ...).
    """
    path = Path(path)
    if feature_dim is not None and (not isinstance(feature_dim, int) or feature_dim < 1):
        raise ValueError(f"mcwes.data.open_features: expected feature_dim to be a positive int, got {feature_dim!r}")
    if not path.exists():
        raise FileNotFoundError(f"mcwes.data.open_features: {path} does not exist")
    if layout == "auto":
        layout = _detect_layout(path)
    if layout not in _LAYOUTS:
        raise ValueError(f"mcwes.data.open_features: expected layout to be one of {('auto',) + _LAYOUTS}, "
                         f"got {layout!r}")
    if layout == "pickle":
        return _open_pickle(path, feature_dim, names)
    if not path.is_dir():
        raise ValueError(f"mcwes.data.open_features: layout {layout!r} expects a directory, got file {path}")
    return _open_npy_dir(path, feature_dim) if layout == "npy" else _open_npz_dir(path, feature_dim)


def video_id(subject: str, stem: str) -> str:
    """The video id of features named ``stem`` in the folder ``subject`` ("" for none): a CAS(ME)^2-style
    ``s15`` / ``15_0101disgustingteeth`` is ``s15_0101`` (subject + 4-digit code), a CAS(ME)^3-style
    ``spNO.1`` / ``a`` is ``spNO.1_a``; else ``stem``. These are the ids the annotation readers use."""
    m = _CODED_VIDEO.match(stem)
    if subject and _SUBJECT_FOLDER.fullmatch(subject) and m:
        return f"{subject}_{m.group(1)}"
    if _CASME3_SUBJECT.fullmatch(subject):
        return f"{subject}_{stem}"
    return stem


def _npz_files(path: Path, stream: str) -> list[Path]:
    return sorted(path.glob(f"*-{stream}.npz")) + sorted(path.glob(f"*/*-{stream}.npz"))


def _detect_layout(path: Path) -> str:
    if path.is_file():
        return "pickle"
    if _npz_files(path, "rgb") or _npz_files(path, "flow"):
        return "npz"
    return "npy"


def _why_ignored(entry: Path, layout: str) -> str:
    if entry.is_dir():
        return "a folder: open_features reads the files directly in the folder, not subfolders"
    if entry.suffix == ".npz":
        return ("an .npz file that is not one of a <video>-rgb.npz / <video>-flow.npz pair"
                if layout == "npz" else "an .npz file: the npz layout needs <video>-rgb.npz / <video>-flow.npz pairs")
    return f"not a feature file of the {layout} layout ({'<video>.npy' if layout == 'npy' else '<video>-rgb.npz / -flow.npz'})"


def _report_ignored(path: Path, layout: str, used: set[Path], store: FeatureStore) -> FeatureStore:
    """Record (and warn about) every non-hidden entry of ``path`` that holds none of the ``used``
    files; an empty store from a folder that holds something is an error."""
    from ..checks import warn

    top = {p.relative_to(path).parts[0] for p in used}  # a folder whose files are read counts as used
    ignored = {e.name: _why_ignored(e, layout) for e in sorted(path.iterdir())
               if e.name not in top and not e.name.startswith(".")}
    store._ignored = ignored
    if not store and (ignored or store.incomplete):
        listing = "; ".join(store.report[:5]) + (f"; … ({len(store.report)} in all)" if len(store.report) > 5 else "")
        raise ValueError(f"mcwes.data.open_features: {path} holds no videos of the {layout} layout: {listing}")
    if ignored:
        names = sorted(ignored)
        warn(f"mcwes.data.open_features: {path}: {len(names)} entries ignored (not {layout} features): "
             f"{names[:5]}{' …' if len(names) > 5 else ''}; see FeatureStore.report")
    return store


def _open_npy_dir(path: Path, feature_dim: int | None) -> FeatureStore:
    files = {p.stem: (p,) for p in sorted(path.glob("*.npy"))}
    store = FeatureStore(path, "npy", feature_dim, sorted(files), files)
    return _report_ignored(path, "npy", {p for (p,) in files.values()}, store)


def _stream_files(path: Path, stream: str) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for p in _npz_files(path, stream):
        stem = p.name[: -len(f"-{stream}.npz")]
        v = video_id(p.parent.name if p.parent != path else "", stem)
        if v in out:
            raise ValueError(f"mcwes.data.open_features: {out[v]} and {p} are both video {v!r}")
        out[v] = p
    return out


def _open_npz_dir(path: Path, feature_dim: int | None) -> FeatureStore:
    rgb, flow = _stream_files(path, "rgb"), _stream_files(path, "flow")
    files = {v: (rgb[v], flow[v]) for v in rgb.keys() & flow.keys()}
    incomplete = {v: f"{_flow_name(rgb[v])} is missing (found {rgb[v].name})" for v in rgb.keys() - flow.keys()}
    incomplete.update({v: f"{_rgb_name(flow[v])} is missing (found {flow[v].name})" for v in flow.keys() - rgb.keys()})
    if incomplete:
        from ..checks import warn

        warn(f"mcwes.data.open_features: {path}: {len(incomplete)} videos lack one stream and are left out: "
             f"{sorted(incomplete)[:5]}{' …' if len(incomplete) > 5 else ''}")
    store = FeatureStore(path, "npz", feature_dim, sorted(files), files, incomplete)
    return _report_ignored(path, "npz", set(rgb.values()) | set(flow.values()), store)


def _flow_name(rgb: Path) -> str:
    return rgb.name[: -len("-rgb.npz")] + "-flow.npz"


def _rgb_name(flow: Path) -> str:
    return flow.name[: -len("-flow.npz")] + "-rgb.npz"


def _find_names_file(path: Path) -> Path:
    stem = path.stem.replace("-I3D-JOINTFeatures", "")
    candidates = [path.parent / f.format(stem=stem) for f in _NAME_FILES]
    candidates += [path.parent / f"{stem}-Annotations" / "videoname.npy"]
    for c in candidates:
        if c.is_file():
            return c
    raise FileNotFoundError(f"mcwes.data.open_features: no names file for {path.name}; pass names= "
                            f"(looked for {[c.name for c in candidates]})")


def _read_names(path: Path) -> list[str]:
    try:
        if path.suffix == ".txt":
            return [line.strip() for line in path.read_text().splitlines() if line.strip()]
        arr = np.load(path, allow_pickle=True)
    except Exception as exc:
        raise ValueError(f"mcwes.data.open_features: cannot read names file {path}: {exc}") from exc
    return [v.decode() if isinstance(v, bytes) else str(v) for v in np.asarray(arr).reshape(-1)]


def _open_pickle(path: Path, feature_dim: int | None, names: str | Path | None) -> FeatureStore:
    names_path = Path(names) if names is not None else _find_names_file(path)
    video_names = _read_names(names_path)
    try:
        arr = np.load(path, allow_pickle=True, encoding="bytes")
    except Exception as exc:
        raise ValueError(f"mcwes.data.open_features: cannot read {path} (truncated or not a pickled "
                         f"array?): {exc}") from exc
    arrays = list(arr) if arr.dtype == object or arr.ndim == 3 else None
    if arrays is None:
        raise ValueError(f"mcwes.data.open_features: {path}: expected an object array [N] of [T_i, 2D] "
                         f"(or [N, T, 2D]), got dtype {arr.dtype} shape {arr.shape}")
    if len(arrays) != len(video_names):
        raise ValueError(f"mcwes.data.open_features: {path.name} holds {len(arrays)} videos but "
                         f"{names_path.name} lists {len(video_names)} names")
    if len(set(video_names)) != len(video_names):
        dup = sorted({n for n in video_names if video_names.count(n) > 1})
        raise ValueError(f"mcwes.data.open_features: {names_path.name}: duplicate video names {dup[:5]}")
    files = {v: (path,) for v in video_names}
    return FeatureStore(path, "pickle", feature_dim, list(video_names), files, arrays=arrays)
