"""``extract``: many videos → a feature folder that :func:`mcwes.data.open_features` reads, with a
manifest of every setting; and ``spot_video``: one video → proposals in its own frame numbers."""
from __future__ import annotations

import json
import logging
import os
import platform
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Callable, Union

import numpy as np
import torch

from .._atomic import atomic_write, atomic_write_json
from ..data.features import video_id
from .frames import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from .i3d import I3dNet, fuse_i3d, load_i3d, resolve_weights, sha256_file
from .options import ExtractOptions
from .pipeline import VideoFeatures, extract_video

if TYPE_CHECKING:
    from ..model import MCWES

__all__ = ["VideoInput", "extract", "find_videos", "spot_video"]

log = logging.getLogger(__name__)
MANIFEST = "manifest.json"
# Options that do not change the features beyond float rounding (they may differ between a run and its
# resumption); the manifest records them under "execution".
_NOT_SEMANTIC = ("batch_size", "device", "fast_i3d")


@dataclass(frozen=True)
class VideoInput:
    """One video to extract: ``path`` (file or frame folder), its ``subject`` folder (or ""), ``stem``
    and ``video`` id (what the feature readers will call it)."""

    path: Path
    subject: str
    stem: str
    video: str


def _is_frame_folder(path: Path) -> bool:
    return path.is_dir() and any(p.suffix.lower() in IMAGE_SUFFIXES for p in path.iterdir() if p.is_file())


def find_videos(inputs: Sequence[str | os.PathLike]) -> list[VideoInput]:
    """Videos named by ``inputs``: video files, frame folders, or folders searched recursively for
    both. Found under a folder, a video's parent folder is its subject and names it the way the
    annotation readers do: ``s15/15_0101disgustingteeth`` → ``s15_0101``, ``spNO.1/a/color`` →
    ``spNO.1_a`` (:func:`mcwes.data.features.video_id`); ``depth`` folders are skipped."""
    found: list[VideoInput] = []
    for item in inputs:
        root = Path(item)
        if not root.exists():
            raise FileNotFoundError(f"mcwes.extract: {root} does not exist")
        if root.is_file() or _is_frame_folder(root):
            found.append(VideoInput(root, "", root.stem if root.is_file() else root.name,
                                    video_id("", root.stem if root.is_file() else root.name)))
            continue
        hits = []
        for dirpath, dirnames, filenames in os.walk(root):
            d = Path(dirpath)
            if d != root and d.name.lower() == "depth":  # CAS(ME)^3's depth maps beside color/: not a video
                dirnames.clear()
                continue
            if d != root and _is_frame_folder(d):
                hits.append(d)
                dirnames.clear()
                continue
            dirnames.sort()
            hits += [d / f for f in sorted(filenames) if Path(f).suffix.lower() in VIDEO_SUFFIXES]
        if not hits:
            entries = sorted(p.name for p in root.iterdir())[:8]
            raise ValueError(f"mcwes.extract: {root}: found no video files ({', '.join(VIDEO_SUFFIXES)}) and no "
                             f"folders of frame images under it (entries: {entries})")
        for h in sorted(hits):
            video = h.parent if h.is_dir() and h.name.lower() == "color" else h  # CAS(ME)^3: spNO.1/a/color
            subject = video.parent.name if video.parent != root and root in video.parent.parents else ""
            stem = video.stem if video.is_file() else video.name
            found.append(VideoInput(h, subject, stem, video_id(subject, stem)))
    ids: dict[str, Path] = {}
    for v in found:
        if v.video in ids:
            raise ValueError(f"mcwes.extract: two inputs would both be video {v.video!r}: {ids[v.video]} and {v.path}")
        ids[v.video] = v.path
    return found


def _versions() -> dict[str, str | None]:
    from .._version import __version__  # noqa: PLC0415

    out: dict[str, str | None] = {"mcwes": __version__, "torch": torch.__version__, "numpy": np.__version__,
                                  "python": platform.python_version()}
    for mod, key in (("cv2", "opencv"), ("av", "pyav"), ("PIL", "pillow"), ("dlib", "dlib")):
        try:
            out[key] = getattr(__import__(mod), "__version__", None)
        except ImportError:
            out[key] = None
    return out


def output_files(out: Path, v: VideoInput, layout: str) -> list[Path]:
    if layout == "npy":
        return [out / f"{v.video}.npy"]
    folder = out / v.subject if v.subject else out
    return [folder / f"{v.stem}-rgb.npz", folder / f"{v.stem}-flow.npz"]


def _write(out: Path, v: VideoInput, r: VideoFeatures, layout: str) -> list[Path]:
    files = output_files(out, v, layout)
    if layout == "npy":
        atomic_write(files[0], lambda f: np.save(f, r.features))
        return files
    d = r.features.shape[1] // 2

    def npz(part: np.ndarray) -> Callable[[IO[bytes]], None]:
        def write(f: IO[bytes]) -> None:
            np.savez(f, feature=part[None], frame_cnt=np.int64(r.frame_cnt), video_name=np.str_(v.stem))
        return write

    for path, part in zip(files, (r.features[:, :d], r.features[:, d:])):
        atomic_write(path, npz(part))
    return files


def _load_nets(options: ExtractOptions, rgb_weights, flow_weights):
    device = options.device or ("cuda" if torch.cuda.is_available() else "cpu")
    paths = {m: resolve_weights(m, p) for m, p in (("rgb", rgb_weights), ("flow", flow_weights))}
    loaded = {m: load_i3d(p, m, device=device) for m, p in paths.items()}
    nets: dict[str, I3dNet] = {m: fuse_i3d(net) if options.fast_i3d else net for m, net in loaded.items()}
    return nets["rgb"], nets["flow"], paths


def extract(inputs: Sequence[str | os.PathLike] | str | os.PathLike, out: str | os.PathLike,
            options: ExtractOptions | None = None, *, rgb_weights: str | os.PathLike | None = None,
            flow_weights: str | os.PathLike | None = None, overwrite: bool = False,
            progress: bool = True, only: Collection[str] | None = None,
            manifest_name: str = MANIFEST) -> dict[str, Any]:
    """Extract every video of ``inputs`` into ``out`` (see docs/extraction.md); return the manifest.

    Videos whose output files exist and are listed in ``out/manifest.json`` are skipped, so an
    interrupted run resumes where it stopped; a re-run with different settings or weights is an error
    unless ``overwrite`` (which re-extracts everything). ``only``: just these video ids of ``inputs``
    (a shard of :func:`mcwes.launch.extract`); ``manifest_name``: the manifest's path under ``out``."""
    options = options or ExtractOptions()
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    videos = find_videos(inputs)
    if only is not None:
        keep = set(only)
        unknown = sorted(keep - {v.video for v in videos})
        if unknown:
            raise ValueError(f"mcwes.extract: expected only= to name videos of the inputs, got unknown {unknown}")
        videos = [v for v in videos if v.video in keep]
    out = Path(out)
    rgb_net, flow_net, paths = _load_nets(options, rgb_weights, flow_weights)
    settings = {k: v for k, v in options.to_dict().items() if k not in _NOT_SEMANTIC}
    weights = {m: {"path": str(p), "sha256": sha256_file(p)} for m, p in paths.items()}
    manifest_path = out / manifest_name
    manifest = _previous(manifest_path, settings, weights, overwrite)
    execution = {k: v for k, v in options.to_dict().items() if k in _NOT_SEMANTIC}
    execution["device"] = str(next(rgb_net.parameters()).device)
    execution["torch_threads"] = torch.get_num_threads()
    manifest.update(settings=settings, weights=weights, versions=_versions(), device=execution["device"],
                    execution=execution)
    done = manifest.setdefault("videos", {})
    for v in videos:
        if not overwrite and v.video in done and all(p.is_file() for p in output_files(out, v, options.layout)):
            log.info("mcwes.extract: %s: already extracted, skipped", v.video)
            continue
        t0 = time.perf_counter()
        r = extract_video(v.path, options, rgb_net, flow_net, progress=progress, name=v.video)
        files = _write(out, v, r, options.layout)
        done[v.video] = {
            "source": str(v.path), "files": [str(p.relative_to(out)) for p in files],
            "T": int(r.features.shape[0]), "n_frames": r.n_frames, "n_source_frames": r.n_source_frames,
            "fps": r.fps, "crop_box": list(r.box) if r.box else None, "gaps": [list(g) for g in r.gaps],
            "flow_backend": r.flow_backend, "seconds": {k: round(s, 3) for k, s in r.seconds.items()},
            "cpu_seconds": {k: round(s, 3) for k, s in r.cpu_seconds.items()},
            "total_seconds": round(time.perf_counter() - t0, 3)}
        if r.gaps:
            done[v.video]["warning"] = f"{len(r.gaps)} missing frames filled with the previous frame"
        atomic_write_json(manifest_path, manifest)
    if not manifest_path.exists():
        atomic_write_json(manifest_path, manifest)
    return manifest


def _previous(path: Path, settings: dict, weights: dict, overwrite: bool) -> dict[str, Any]:
    if overwrite or not path.exists():
        return {}
    try:
        old = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"mcwes.extract: cannot read the manifest {path} of a previous run: {exc}; "
                         f"remove it or pass overwrite=True (--overwrite)") from exc
    old_w = {m: w.get("sha256") for m, w in old.get("weights", {}).items()}
    changed = sorted(k for k in settings.keys() | old.get("settings", {}).keys()
                     if settings.get(k) != old.get("settings", {}).get(k))
    if changed or old_w != {m: w["sha256"] for m, w in weights.items()}:
        what = f"settings {changed}" if changed else "I3D weights"
        raise ValueError(f"mcwes.extract: {path.parent} holds features made with other {what}; use another "
                         f"--out folder or pass overwrite=True (--overwrite) to re-extract everything")
    return old


def spot_video(path: str | os.PathLike, model: Union["MCWES", str, os.PathLike, None] = None, *,
               preset: str = "casme2", options: ExtractOptions | None = None,
               rgb_weights: str | os.PathLike | None = None, flow_weights: str | os.PathLike | None = None,
               progress: bool = False, **extract_options: Any):
    """Spot expressions in one video file or frame folder: extract its features (``options``, or the
    ``preset`` with ``extract_options`` as overrides, see :class:`ExtractOptions`), run
    :func:`mcwes.spot` with ``model``, and return the proposals with onset/offset in the source's own
    frame numbers (0-based, before any resampling). The snippet spacing given to ``spot`` is the
    window stride.

    Returns ``(proposals, features)``: :class:`~mcwes.proposals.Proposals` and the :class:`VideoFeatures`."""
    from ..inference import spot  # noqa: PLC0415
    from ..proposals import Proposal, Proposals  # noqa: PLC0415

    if options is None:
        options = ExtractOptions.preset(preset, **extract_options)
    elif extract_options:
        raise TypeError(f"mcwes.spot_video: pass options= or extract options, not both (got {sorted(extract_options)})")
    v = find_videos([path])
    if len(v) != 1:
        raise ValueError(f"mcwes.spot_video: expected one video, {path} holds {len(v)}; use mcwes.extract")
    rgb_net, flow_net, _ = _load_nets(options, rgb_weights, flow_weights)
    r = extract_video(v[0].path, options, rgb_net, flow_net, progress=progress, name=v[0].video)
    f = r.frame_cnt  # frames covered by the streams
    found = spot(r.features, model, fps=r.fps, snippet_frames=options.stride, n_frames=f, names=v[0].video)
    assert isinstance(found, Proposals)  # one video in, one list of proposals out
    idx = r.source_index
    mapped = Proposals()
    for p in found:
        end = idx[p.offset + 1] - 1 if p.offset + 1 < len(idx) else r.n_source_frames - 1
        mapped.append(Proposal(p.video, int(idx[p.onset]), int(end), p.score, p.label, p.model_label))
    return mapped, r
