"""mcwes's units of work as real jobs on a real single-node Slurm cluster (tools/slurm_up.sh installs and
starts it: Debian's slurmctld, slurmd, slurm-client and munge; root and apt needed, else every test here
skips with the reason): a job array of LOSO folds gives exactly the sequential run; extraction shards as
an array; a fold's job cancelled mid-training (scancel) is reported with its log, and the re-run redoes
that fold alone.

Tiny on purpose (2 subjects, D = 4, 30 iterations; three 10-frame videos): about a minute and a half
after the install on a quiet 2-core machine.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from mcwes import cli

pytest.importorskip("submitit")

from extract_cases import weights  # noqa: E402, F401 (a fixture)
from test_launch import extract_args, frame_folders, job_dirs  # noqa: E402

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
ITERATIONS = "30"  # long enough that a fold's job is still training when the test cancels it


@pytest.fixture(scope="module")
def slurm():
    """The cluster, started for this module when it was not up already (and then stopped after it)."""
    if shutil.which("apt-get") is None and shutil.which("sinfo") is None:
        pytest.skip("Slurm cannot run here: neither Slurm nor apt-get to install it")
    up = subprocess.run(["bash", str(ROOT / "tools" / "slurm_up.sh")], capture_output=True, text=True, timeout=900)
    if up.returncode == 3:
        pytest.skip(up.stderr.strip().splitlines()[-1])
    assert up.returncode == 0, f"tools/slurm_up.sh failed:\n{up.stdout}\n{up.stderr}"
    yield
    if "already up" not in up.stdout:
        subprocess.run(["bash", str(ROOT / "tools" / "slurm_down.sh")], capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def data(slurm, tmp_path_factory):
    """Two subjects' synthetic features and their sequential LOSO run (one torch thread, as every job)."""
    root = tmp_path_factory.mktemp("slurm")
    assert cli.main(["synth", "--preset", "casme2", "--out", str(root / "data"), "--subjects", "2", "--feature-dim", "4",
                     "--frames", "300", "400", "--seed", "5"]) == 0
    features, xlsx = root / "data" / "features", next((root / "data").glob("*.xlsx"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert cli.main(train_args(features, xlsx, root / "sequential", jobs=None)) == 0
    finally:
        torch.set_num_threads(threads)
    return features, xlsx, root / "sequential"


def train_args(features, xlsx, out, jobs="2"):
    """``mcwes train --loso`` through Slurm, ``jobs`` folds at a time (None: the sequential run)."""
    args = ["train", "--features", str(features), "--annotations", str(xlsx), "--out", str(out), "--iterations",
            ITERATIONS, "--loso", "--no-progress"]
    return args if jobs is None else [*args, "--launcher", "slurm", "--jobs", jobs, "--cpus-per-job", "1"]


def pooled(run):
    metrics = json.loads((run / "metrics.json").read_text())
    return metrics["pooled"], {s: {k: v for k, v in m.items() if k not in ("seconds", "reused")}
                               for s, m in metrics["folds"].items()}


def test_job_array_of_loso_folds_gives_the_sequential_run_exactly(data, tmp_path):
    features, xlsx, sequential = data
    run = tmp_path / "array"
    assert cli.main(train_args(features, xlsx, run)) == 0
    assert (run / "predictions.csv").read_text() == (sequential / "predictions.csv").read_text()
    assert len((run / "predictions.csv").read_text().splitlines()) > 1
    assert pooled(run) == pooled(sequential)
    # One array of two elements, at most two running at a time, each with its own Slurm log.
    jobs = job_dirs(run / "jobs")
    array = {j.split("_")[0] for j in jobs}
    assert len(array) == 1 and sorted(j for j in jobs if "_" in j) == [f"{next(iter(array))}_{i}" for i in (0, 1)]
    script = next((run / "jobs").glob("*/*_submission.sh")).read_text()
    assert "#SBATCH --array=0-1%2" in script and "#SBATCH --cpus-per-task=1" in script
    for j in jobs:
        if "_" in j:
            assert f"JobEnvironment(job_id={j}" in next((run / "jobs" / j).glob("*_log.out")).read_text() + \
                next((run / "jobs" / j).glob("*_log.err")).read_text()


def test_extraction_shards_as_a_job_array(slurm, tmp_path, weights):  # noqa: F811
    pytest.importorskip("cv2")
    from mcwes.extract import ExtractOptions, extract

    videos = frame_folders(tmp_path / "videos", ["a", "b", "c"])
    out = tmp_path / "launched"
    assert cli.main(extract_args(videos, out, weights, "--launcher", "slurm", "--jobs", "2", "--shard-size", "2")) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert list(manifest["videos"]) == ["a", "b", "c"]
    assert manifest["shards"] == ["shards/shard-00000.json", "shards/shard-00001.json"]
    assert sorted(json.loads((out / "shards" / "shard-00000.json").read_text())["videos"]) == ["a", "b"]
    assert "#SBATCH --array=0-1%2" in next((out / "jobs").glob("*/*_submission.sh")).read_text()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        extract(videos, tmp_path / "sequential", ExtractOptions.preset("casme2", image_size=32, flow_backend="opencv"),
                rgb_weights=weights["rgb"], flow_weights=weights["flow"], progress=False)
    finally:
        torch.set_num_threads(threads)
    for name in "abc":
        assert (out / f"{name}.npy").read_bytes() == (tmp_path / "sequential" / f"{name}.npy").read_bytes()


def _running_jobs():
    done = subprocess.run(["squeue", "--me", "--noheader", "--array", "--states=RUNNING", "--format=%i"],
                          capture_output=True, text=True, check=True, timeout=60)
    return done.stdout.split()


def test_cancelled_fold_is_reported_and_the_rerun_redoes_it_alone(data, tmp_path):
    features, xlsx, sequential = data
    folds = sorted(p.name for p in (sequential / "folds").iterdir())
    run = tmp_path / "killed"
    args = train_args(features, xlsx, run, jobs="1")  # one fold after the other
    launcher = subprocess.Popen([sys.executable, "-m", "mcwes", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        second = run / "folds" / folds[1] / "metrics.jsonl"
        deadline = time.monotonic() + 180
        while not (second.exists() and second.stat().st_size) and launcher.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert launcher.poll() is None and second.exists(), "the second fold's job never started training"
        running = _running_jobs()
        assert len(running) == 1 and running[0].endswith("_1"), running
        subprocess.run(["scancel", running[0]], check=True, timeout=60)
        _, err = launcher.communicate(timeout=180)
    finally:
        if launcher.poll() is None:
            launcher.kill()
    assert launcher.returncode == 1, err
    assert f"{folds[1]}: Slurm job {running[0]} ended (CANCELLED) without a result" in err
    assert "1 unit(s) failed" in err and f"--folds {folds[1]}" in err
    log_err = run / "jobs" / running[0] / f"{running[0]}_0_log.err"
    assert str(log_err) in err and "CANCELLED" in log_err.read_text()
    assert (run / "folds" / folds[0] / "fold.json").exists()
    assert not (run / "folds" / folds[1] / "fold.json").exists()
    lines = len(second.read_text().splitlines())
    assert 0 < lines < int(ITERATIONS), "the fold was not cancelled mid-training"
    # The same command again: the done fold is not submitted, the cancelled one is trained afresh.
    done_marker = (run / "folds" / folds[0] / "fold.json").stat().st_mtime_ns
    before = job_dirs(run / "jobs")
    assert cli.main(args) == 0
    new = sorted(set(job_dirs(run / "jobs")) - set(before))
    assert len(new) == 1, new  # one job, not an array
    assert f"fold {folds[1]}: training" in next((run / "jobs" / new[0]).glob("*_log.err")).read_text()
    assert (run / "folds" / folds[0] / "fold.json").stat().st_mtime_ns == done_marker
    assert (run / "predictions.csv").read_text() == (sequential / "predictions.csv").read_text()
    assert pooled(run) == pooled(sequential)


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("runuser") is None, reason="needs root to run it as another user")
def test_slurm_up_says_why_it_cannot_run_and_exits_3():
    done = subprocess.run(["runuser", "-u", "nobody", "--", "bash", str(ROOT / "tools" / "slurm_up.sh")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 3 and "Slurm cannot run here: needs root" in done.stderr
