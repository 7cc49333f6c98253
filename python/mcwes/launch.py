"""Scale-out: run units of work (LOSO folds, extraction shards, ablation cells) as jobs through submitit,
on this machine or on Slurm.

One execution layer for everything that splits into independent units:

* ``launcher="local"``: submitit's ``LocalExecutor``, one process per unit on this machine, at most
  ``jobs`` at a time (submitit's local executor starts every job it is given at once, so the units are
  fed to it ``jobs`` at a time here), ``gpus_per_job`` GPUs each (disjoint ``CUDA_VISIBLE_DEVICES``
  per running job when there are GPUs).
* ``launcher="slurm"``: submitit's ``AutoExecutor`` on Slurm, one job array for all units, at most
  ``jobs`` running at a time (``--array=0-N%jobs``), with the partition, time limit, memory, account
  and GPUs per job given here or in a YAML file (:meth:`LaunchOptions.from_yaml`).

:func:`loso` is leave-one-subject-out through it: every fold not yet done is a job that calls the
sequential code's fold runner (``mcwes.crossval``), so a fold writes exactly what a sequential run writes
(``checkpoint.pt``, ``metrics.jsonl``, ``predictions.csv``, ``metrics.json``, ``health.json``, and the
done marker ``fold.json`` last); then the predictions of every fold are pooled and evaluated once in
this process. Folds already done are not submitted again; a failed fold is reported with its job's log
files and can be retried alone (``folds=[subject]`` / ``--folds``). Same seeds give exactly the
predictions and metrics of :func:`mcwes.loso`. :func:`extract` is :func:`mcwes.extract` in shards of
videos (each with its own manifest; :func:`merge_extraction` writes the run's), and :mod:`mcwes.ablate`
runs ablation cells × seeds through :func:`run_units`. Slurm jobs are followed with ``squeue`` (no
accounting database needed). docs/scale-out.md has the recipe and the measurements.

submitit is an optional dependency (``pip install "mcwes[cluster]"``); ``import mcwes`` does not import it.
"""
from __future__ import annotations

import json
import logging
import os
import subprocess
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Optional, Union

from ._atomic import atomic_write_json
from .config import Config

__all__ = ["LaunchOptions", "UnitFailed", "Unit", "run_units", "loso", "extract", "merge_extraction", "LAUNCHERS"]

log = logging.getLogger(__name__)

LAUNCHERS = ("local", "slurm")


@dataclass
class LaunchOptions:
    """How units are run. Every field can come from a YAML file (same names) or the command line.

    Attributes:
        launcher: ``"local"`` (processes on this machine) or ``"slurm"`` (a job array).
        jobs: how many units run at the same time (local: processes; Slurm: the array's ``%`` limit).
        gpus_per_job: GPUs given to each job (0: CPU only).
        cpus_per_job: CPU cores per job; locally also the torch threads of each job (default: the
            machine's cores divided by ``jobs``; on Slurm: 1 unless given).
        time_min: the time limit of each job in minutes.
        partition, mem_gb, account: Slurm's ``--partition``, ``--mem``, ``--account`` (unset: the cluster's
            defaults).
        slurm_extra: further ``sbatch`` options, e.g. ``{"qos": "high", "constraint": "a100"}``.
        log_dir: where submitit keeps each job's pickles and logs (default: ``<out>/jobs``).
    """

    launcher: str = "local"
    jobs: int = 1
    gpus_per_job: int = 0
    cpus_per_job: Optional[int] = None
    time_min: int = 24 * 60
    partition: Optional[str] = None
    mem_gb: Optional[float] = None
    account: Optional[str] = None
    slurm_extra: dict[str, Any] = field(default_factory=dict)
    log_dir: Optional[str] = None

    def __post_init__(self) -> None:
        if self.launcher not in LAUNCHERS:
            raise ValueError(f"mcwes.launch: expected launcher to be one of {LAUNCHERS}, got {self.launcher!r}")
        for name, low in (("jobs", 1), ("gpus_per_job", 0), ("time_min", 1)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"mcwes.launch: expected {name} to be an integer >= {low}, got {value!r}")
        if self.cpus_per_job is not None and (not isinstance(self.cpus_per_job, int) or self.cpus_per_job < 1):
            raise ValueError(f"mcwes.launch: expected cpus_per_job to be an integer >= 1, got {self.cpus_per_job!r}")
        if self.mem_gb is not None and not float(self.mem_gb) > 0:
            raise ValueError(f"mcwes.launch: expected mem_gb > 0, got {self.mem_gb!r}")
        if not isinstance(self.slurm_extra, dict):
            raise ValueError(f"mcwes.launch: expected slurm_extra to be a mapping, got {type(self.slurm_extra).__name__}")

    @classmethod
    def from_yaml(cls, path: Union[str, Path], **overrides: Any) -> "LaunchOptions":
        """Options from a YAML mapping (the field names above), then ``overrides`` that are not None."""
        import yaml

        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except OSError as exc:
            raise FileNotFoundError(f"mcwes.launch: cannot read the launcher file {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise ValueError(f"mcwes.launch: expected {path} to hold a mapping, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"mcwes.launch: {path}: expected keys among {sorted(known)}, got unknown {unknown}")
        data.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Unit:
    """One independent piece of work: ``fn(*args)`` run in a job; ``name`` identifies it in reports."""

    name: str
    fn: Callable[..., Any]
    args: tuple = ()


class UnitFailed(RuntimeError):
    """Some units failed; ``failures`` maps each unit's name to ``(error, stdout path, stderr path)``.
    The units that succeeded have written their outputs (and done markers) all the same."""

    def __init__(self, failures: dict[str, tuple[str, Path, Path]], hint: str = "") -> None:
        self.failures = failures
        lines = [f"{len(failures)} unit(s) failed:"]
        for name, (error, out, err) in failures.items():
            lines.append(f"  {name}: {error.strip().splitlines()[-1] if error.strip() else 'failed'}\n"
                         f"    log: {err} (stdout {out})")
        if hint:
            lines.append(hint)
        super().__init__("\n".join(lines))


def _submitit() -> Any:
    try:
        import submitit
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError("mcwes.launch: the launchers need submitit; install it with "
                           "pip install \"mcwes[cluster]\" (or pip install submitit)") from exc
    return submitit


def _executor(options: LaunchOptions, folder: Path, n_units: int) -> Any:
    submitit = _submitit()
    if options.launcher == "local":
        ex = submitit.LocalExecutor(folder=str(folder))
        ex.update_parameters(timeout_min=options.time_min, gpus_per_node=options.gpus_per_job)
        return ex
    ex = submitit.AutoExecutor(folder=str(folder), cluster="slurm")
    params: dict[str, Any] = {"timeout_min": options.time_min, "slurm_array_parallelism": min(options.jobs, n_units),
                              "nodes": 1, "tasks_per_node": 1, "cpus_per_task": options.cpus_per_job or 1,
                              "name": "mcwes"}
    if options.gpus_per_job:
        params["gpus_per_node"] = options.gpus_per_job
    if options.mem_gb is not None:
        params["mem_gb"] = options.mem_gb
    if options.partition:
        params["slurm_partition"] = options.partition
    if options.account:
        params["slurm_account"] = options.account
    params.update({k if k.startswith("slurm_") else f"slurm_{k}": v for k, v in options.slurm_extra.items()})
    ex.update_parameters(**params)
    return ex


def _in_job(threads: Optional[int], fn: Callable[..., Any], *args: Any) -> Any:
    """What each job runs: cap torch's threads (local jobs share the machine), then the unit."""
    if threads:
        import torch

        torch.set_num_threads(threads)
    return fn(*args)


def run_units(units: Sequence[Unit], options: LaunchOptions, folder: Union[str, Path], *,
              poll_s: float = 0.2, hint: str = "") -> dict[str, Any]:
    """Run every unit as a job and wait for all of them; returns ``{name: result}``.

    Raises :class:`UnitFailed` after every unit has finished when any failed, naming each failed unit
    with its job's stderr/stdout files (``hint`` is appended to the message).
    """
    names = [u.name for u in units]
    if len(set(names)) != len(names):
        raise ValueError(f"mcwes.launch.run_units: expected distinct unit names, got {names}")
    if not units:
        return {}
    folder = Path(folder)
    ex = _executor(options, folder / "%j", len(units))
    threads = options.cpus_per_job
    if threads is None:  # locally the jobs share the machine; on Slurm a job has the cores it asked for
        threads = max(1, (os.cpu_count() or 1) // options.jobs) if options.launcher == "local" else 1
    jobs: dict[str, Any] = {}
    lost: dict[str, str] = {}
    if options.launcher == "slurm":
        with ex.batch():
            submitted = [ex.submit(_in_job, threads, u.fn, *u.args) for u in units]
        jobs = dict(zip(names, submitted))
        for name, job in jobs.items():
            log.info("unit %s: Slurm job %s (log %s)", name, job.job_id, job.paths.stderr)
        lost = _wait_slurm(jobs, max(poll_s, 1.0))
    else:
        _run_local(ex, units, options, threads, jobs, poll_s)
    results: dict[str, Any] = {}
    failures: dict[str, tuple[str, Path, Path]] = {}
    for name, job in jobs.items():
        if name in lost:
            failures[name] = (lost[name], Path(job.paths.stdout), Path(job.paths.stderr))
            continue
        error = job.exception()
        if error is None:
            results[name] = job.result()
        else:
            failures[name] = (str(error), Path(job.paths.stdout), Path(job.paths.stderr))
    if failures:
        raise UnitFailed(failures, hint)
    return results


def _run_local(ex: Any, units: Sequence[Unit], options: LaunchOptions, threads: Optional[int], jobs: dict[str, Any],
               poll_s: float) -> None:
    """Feed the local executor ``options.jobs`` units at a time, each running job on its own GPUs."""
    pending = list(units)
    running: dict[int, Any] = {}  # slot -> job
    g = options.gpus_per_job
    while pending or running:
        for slot in [s for s, job in running.items() if job.done()]:
            del running[slot]
        free = [s for s in range(options.jobs) if s not in running]
        while pending and free:
            slot = free.pop(0)
            unit = pending.pop(0)
            if g:
                ex.update_parameters(visible_gpus=tuple(range(slot * g, (slot + 1) * g)))
            job = ex.submit(_in_job, threads, unit.fn, *unit.args)
            running[slot] = jobs[unit.name] = job
            log.info("unit %s: local job %s (log %s)", unit.name, job.job_id, job.paths.stderr)
        if running:
            time.sleep(poll_s)


# Slurm job states of a job that may still write its result (squeue --states=all names the others:
# COMPLETED, FAILED, CANCELLED, TIMEOUT, OUT_OF_MEMORY, NODE_FAIL, PREEMPTED, BOOT_FAIL, DEADLINE).
_SLURM_ACTIVE = {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "STOPPED", "REQUEUED", "REQUEUE_FED",
                 "REQUEUE_HOLD", "RESIZING", "SIGNALING", "STAGE_OUT", "RESV_DEL_HOLD", "SPECIAL_EXIT"}


def _squeue_states() -> Optional[dict[str, str]]:
    """``{job id: state}`` of this user's jobs that slurmctld still holds (array elements one by one, ended
    jobs for ``MinJobAge``, 300 s by default); None when squeue cannot answer (the controller is busy)."""
    command = ["squeue", "--me", "--noheader", "--array", "--states=all", "--format=%i|%T"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("mcwes.launch: %s failed (%s); asking again", " ".join(command), exc)
        return None
    states = {}
    for line in done.stdout.splitlines():
        job_id, _, state = line.strip().partition("|")
        states[job_id] = state
    return states


def _wait_slurm(jobs: dict[str, Any], poll_s: float) -> dict[str, str]:
    """Wait until every Slurm job has written its result or has left the queue without one; return
    ``{unit: why}`` for the latter (cancelled, killed, out of time or memory).

    submitit follows its jobs through ``sacct``, which needs Slurm's accounting database; many clusters
    (and the test cluster of tools/slurm_up.sh) run without one, and there a job killed before writing its
    result would be waited for forever. ``squeue`` answers on every Slurm. A job that has ended but has no
    result yet is given a grace time for the shared file system to show it (60 s after COMPLETED or
    FAILED, whose Python wrote a result or a traceback; 5 s after CANCELLED and the like)."""
    pending = dict(jobs)
    ended: dict[str, tuple[float, str]] = {}  # unit -> (when it was first seen ended, its state)
    lost: dict[str, str] = {}
    while True:
        for name in [n for n, job in pending.items() if job.paths.result_pickle.exists()]:
            del pending[name]
        if not pending:
            return lost
        states = _squeue_states()
        if states is not None:  # None: squeue did not answer, nothing is concluded this round
            _conclude(pending, states, ended, lost)
        if pending:
            time.sleep(poll_s)


def _conclude(pending: dict[str, Any], states: dict[str, str], ended: dict[str, tuple[float, str]],
              lost: dict[str, str]) -> None:
    """Move the pending jobs that have been out of the queue longer than their grace time to ``lost``."""
    now = time.monotonic()
    for name, job in list(pending.items()):
        state = states.get(str(job.job_id), "ENDED").split()[0]  # an ended job purged from slurmctld: not listed
        if state in _SLURM_ACTIVE:
            ended.pop(name, None)
            continue
        since, _ = ended.setdefault(name, (now, state))
        if now - since >= (60.0 if state in ("COMPLETED", "FAILED", "ENDED") else 5.0):
            lost[name] = (f"Slurm job {job.job_id} ended ({state}) without a result: cancelled, killed, or out "
                          "of time or memory (see its log)")
            del pending[name]


# ---------------------------------------------------------------------------------------------- LOSO


def _fold_unit(features: str, annotations: str, config: Config, directory: str, subject: str,
               device: Optional[str], kernels: Optional[bool], probe: bool) -> Any:
    """One LOSO fold in a job: open the dataset from its files, run the sequential code's fold."""
    from .commands.train import open_dataset
    from .crossval import _run_fold

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    dataset = open_dataset(Path(features), Path(annotations), config)
    return _run_fold(dataset, config, Path(directory), [subject], device, False, kernels, probe)


def loso(features: Union[str, Path], annotations: Union[str, Path], config: Config, out_dir: Union[str, Path],
         options: Optional[LaunchOptions] = None, *, folds: Optional[Sequence[str]] = None,
         device: Optional[str] = None, kernels: Optional[bool] = None, probe: bool = False) -> Any:
    """Leave-one-subject-out with one job per fold (:func:`mcwes.loso` through a launcher).

    Args:
        features, annotations: the dataset's files (each job opens them itself, so nothing big is
            pickled; on a cluster they must be on a shared file system).
        config: the run's configuration (``model.feature_dim`` must match the features).
        out_dir: as for :func:`mcwes.loso`: ``folds/<subject>/``, the pooled ``predictions.csv`` and
            ``metrics.json``; job logs under ``options.log_dir`` (default ``out_dir/jobs``).
        options: the launcher (default: local, one job at a time).
        folds: the subjects to hold out (default: all); done folds (``fold.json``) are not run again.

    Returns the :class:`mcwes.LosoResult`; raises :class:`UnitFailed` (after the other folds finished)
    naming the failed folds, their log files, and how to retry them.
    """
    from .commands.train import open_dataset
    from .crossval import _check_folds, _pool, _run_fold

    options = options or LaunchOptions()
    out = Path(out_dir).resolve()
    dataset = open_dataset(Path(features), Path(annotations), config)
    chosen = _check_folds(dataset, config, folds)
    out.mkdir(parents=True, exist_ok=True)
    config.to_yaml(out / "config.yaml")
    fold_dir = {s: out / "folds" / s for s in chosen}
    todo = [s for s in chosen if not (fold_dir[s] / "fold.json").exists()]
    log.info("mcwes.launch.loso: %d fold(s), %d to run through the %s launcher (%d at a time)", len(chosen),
             len(todo), options.launcher, options.jobs)
    units = [Unit(s, _fold_unit, (str(Path(features).resolve()), str(Path(annotations).resolve()), config,
                                  str(fold_dir[s]), s, device, kernels, probe)) for s in todo]
    try:
        ran = run_units(units, options, options.log_dir or out / "jobs")
    except UnitFailed as exc:
        raise UnitFailed(exc.failures, "the other folds are done and kept; retry the failed ones alone with "
                                       f"--folds {','.join(exc.failures)} (Python: folds=[...])") from None
    results = [ran[s] if s in ran else _run_fold(dataset, config, fold_dir[s], [s], device, False, kernels, probe)
               for s in chosen]
    return _pool(config, dataset, chosen, results, out)


# ---------------------------------------------------------------------------------------- extraction

SHARDS = "shards"


def _shard_unit(inputs: list[str], out: str, extract_options: Any, rgb_weights: str, flow_weights: str,
                only: list[str], manifest_name: str, overwrite: bool) -> int:
    """One extraction shard in a job: :func:`mcwes.extract` of its videos, with its own manifest."""
    from .extract.run import extract as extract_videos

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    extract_videos(inputs, out, extract_options, rgb_weights=rgb_weights, flow_weights=flow_weights,
                   overwrite=overwrite, progress=False, only=only, manifest_name=manifest_name)
    return len(only)


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"mcwes.launch.extract: cannot read the manifest {path}: {exc}; remove it or pass "
                         "overwrite=True (--overwrite)") from exc


def _manifests(out: Path) -> list[Path]:
    from .extract.run import MANIFEST

    return [p for p in [out / MANIFEST] if p.exists()] + sorted((out / SHARDS).glob("shard-*.json"))


def merge_extraction(out: Union[str, Path], order: Sequence[str] = ()) -> dict[str, Any]:
    """The merge step of a sharded extraction: every shard's manifest (``out/shards/shard-*.json``) and an
    earlier ``out/manifest.json`` pooled into ``out/manifest.json`` (written atomically), videos in
    ``order`` first. Shards made with other settings or weights than the others are an error."""
    from .extract.run import MANIFEST

    out = Path(out)
    merged: dict[str, Any] = {}
    videos: dict[str, Any] = {}
    for path in _manifests(out):
        m = _read_manifest(path)
        if merged and (m.get("settings"), _hashes(m)) != (merged["settings"], _hashes(merged)):
            raise ValueError(f"mcwes.launch.extract: {path} was made with other settings or I3D weights than "
                             f"{_manifests(out)[0]}; extract into another folder or pass overwrite=True (--overwrite)")
        videos.update(m.get("videos", {}))
        merged.update({k: v for k, v in m.items() if k != "videos"})
    ranked = {v: i for i, v in enumerate(order)}
    merged["videos"] = dict(sorted(videos.items(), key=lambda kv: (ranked.get(kv[0], len(ranked)), kv[0])))
    merged["shards"] = [str(p.relative_to(out)) for p in _manifests(out) if p.parent.name == SHARDS]
    atomic_write_json(out / MANIFEST, merged)
    return merged


def _hashes(manifest: dict[str, Any]) -> dict[str, Any]:
    return {m: w.get("sha256") for m, w in manifest.get("weights", {}).items()}


def extract(inputs: Union[str, Path, Sequence[Union[str, Path]]], out: Union[str, Path], extract_options: Any = None,
            options: Optional[LaunchOptions] = None, *, shard_size: int = 1,
            rgb_weights: Union[str, Path, None] = None, flow_weights: Union[str, Path, None] = None,
            overwrite: bool = False) -> dict[str, Any]:
    """:func:`mcwes.extract` through a launcher: the videos of ``inputs`` (in :func:`find_videos`'s order) in
    shards of ``shard_size``, one job per shard.

    Shard k (videos k·shard_size … ) writes its features (each file atomically) and its own manifest
    ``out/shards/shard-<k>.json``, updated after every video, so a killed shard resumes at its first
    unfinished video. A video listed in any manifest under ``out`` whose files exist is done: a re-run
    submits only the shards that still have videos to do, with just those videos. The merge step
    (:func:`merge_extraction`) then writes ``out/manifest.json``; it also runs when some shards failed
    (:class:`UnitFailed` names them with their logs) so that the done ones are recorded.

    Settings or weights other than those of an earlier run into ``out`` are refused before anything is
    submitted, unless ``overwrite`` (every video is extracted again). Returns the merged manifest.
    """
    from .extract.i3d import resolve_weights, sha256_file
    from .extract.options import ExtractOptions
    from .extract.run import _NOT_SEMANTIC, _previous, find_videos, output_files

    if not isinstance(shard_size, int) or isinstance(shard_size, bool) or shard_size < 1:
        raise ValueError(f"mcwes.launch.extract: expected shard_size to be an integer >= 1, got {shard_size!r}")
    options = options or LaunchOptions()
    extract_options = extract_options or ExtractOptions()
    roots = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
    roots = [str(Path(r).resolve()) for r in roots]
    videos = find_videos(roots)
    out = Path(out).resolve()
    paths = {m: Path(resolve_weights(m, p)).resolve() for m, p in (("rgb", rgb_weights), ("flow", flow_weights))}
    settings = {k: v for k, v in extract_options.to_dict().items() if k not in _NOT_SEMANTIC}
    weights = {m: {"path": str(p), "sha256": sha256_file(p)} for m, p in paths.items()}
    done: dict[str, Any] = {}
    for path in _manifests(out):
        if overwrite:
            path.unlink()
        else:  # the same check as a sequential run's, on every manifest, before any job is submitted
            done.update(_previous(path, settings, weights, False).get("videos", {}))
    (out / SHARDS).mkdir(parents=True, exist_ok=True)
    layout = extract_options.layout
    units = []
    for k in range(0, len(videos), shard_size):
        todo = [v.video for v in videos[k:k + shard_size]
                if v.video not in done or not all(p.is_file() for p in output_files(out, v, layout))]
        if todo:
            name = f"shard-{k // shard_size:05d}"
            units.append(Unit(name, _shard_unit, (roots, str(out), extract_options, str(paths["rgb"]),
                                                  str(paths["flow"]), todo, f"{SHARDS}/{name}.json", overwrite)))
    log.info("mcwes.launch.extract: %d video(s) in %d shard(s) of %d, %d shard(s) to run through the %s launcher",
             len(videos), -(-len(videos) // shard_size), shard_size, len(units), options.launcher)
    try:
        run_units(units, options, options.log_dir or out / "jobs")
    except UnitFailed as exc:
        merge_extraction(out, [v.video for v in videos])
        raise UnitFailed(exc.failures, "the other shards are done and recorded in manifest.json; run the same "
                                       "command again to redo the failed ones (done videos are skipped)") from None
    return merge_extraction(out, [v.video for v in videos])


# ------------------------------------------------------------------------------------------ command line


def add_arguments(parser: Any) -> None:
    """The launcher options of a subcommand (``mcwes train --loso``, ``mcwes extract``, ``mcwes ablate``)."""
    g = parser.add_argument_group("scale-out (docs/scale-out.md; needs pip install \"mcwes[cluster]\")")
    g.add_argument("--launcher", choices=LAUNCHERS,
                   help="run the units (LOSO folds, extraction shards, ablation cells) as submitit jobs: local "
                        "processes or a Slurm job array")
    g.add_argument("--launcher-config", type=Path, metavar="YAML",
                   help="launcher options from a YAML file (keys: the option names below with _, e.g. "
                        "partition, time_min, mem_gb, account, slurm_extra); the command line overrides it")
    g.add_argument("--jobs", type=int, help="units running at the same time (default 1)")
    g.add_argument("--gpus-per-job", type=int, help="GPUs per job (default 0)")
    g.add_argument("--cpus-per-job", type=int, help="CPU cores (torch threads) per job (local default: cores / jobs)")
    g.add_argument("--partition", help="Slurm partition")
    g.add_argument("--time", dest="time_min", type=int, metavar="MINUTES", help="time limit per job (default 1440)")
    g.add_argument("--mem-gb", type=float, help="Slurm memory per job in GB")
    g.add_argument("--account", help="Slurm account")


_OPTION_ARGS = ("jobs", "gpus_per_job", "cpus_per_job", "partition", "time_min", "mem_gb", "account")


def options_from_args(args: Any, op: str) -> Optional[LaunchOptions]:
    """The :class:`LaunchOptions` of parsed arguments, or None when no launcher was asked for."""
    given = {k: getattr(args, k, None) for k in _OPTION_ARGS}
    if args.launcher is None and args.launcher_config is None:
        stray = [f"--{k.replace('_', '-')}" for k, v in given.items() if v is not None]
        if stray:
            raise ValueError(f"{op}: {', '.join(stray)} configure a launcher; expected --launcher local|slurm with them")
        return None
    overrides = {"launcher": args.launcher, **given}
    if args.launcher_config is not None:
        return LaunchOptions.from_yaml(args.launcher_config, **overrides)
    return LaunchOptions(**{k: v for k, v in overrides.items() if v is not None})
