"""Scale-out through submitit: real jobs through its local executor (no mocks) on a tiny synthetic set.

A LOSO run through the launcher must give exactly the sequential run's predictions and metrics; done
folds are not run again; a failed fold is reported with its log file and can be retried alone.
"""
from __future__ import annotations

import json
import operator
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from mcwes import cli, launch
from mcwes.commands.train import fit_feature_dim, open_dataset
from mcwes.config import Config

pytest.importorskip("submitit")

from extract_cases import weights  # noqa: E402, F401 (a fixture)

D = 4
ITERATIONS = "3"
# Bitwise equality with the sequential run needs the same torch thread count in every job (the order of
# torch's parallel reductions depends on it).
THREADS = str(torch.get_num_threads())


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("launch")
    assert cli.main(["synth", "--preset", "casme2", "--out", str(root / "data"), "--subjects", "2", "--feature-dim",
                     str(D), "--frames", "300", "400", "--seed", "5"]) == 0
    features, xlsx = root / "data" / "features", next((root / "data").glob("*.xlsx"))
    sequential = root / "sequential"
    assert cli.main(["train", "--features", str(features), "--annotations", str(xlsx), "--out", str(sequential),
                     "--iterations", ITERATIONS, "--loso", "--no-progress"]) == 0
    return features, xlsx, sequential


def _fold_metrics(run):
    metrics = json.loads((run / "metrics.json").read_text())
    return metrics["pooled"], {s: {k: v for k, v in m.items() if k not in ("seconds", "reused")}
                               for s, m in metrics["folds"].items()}


def test_local_launcher_gives_the_sequential_loso_exactly(data, tmp_path, capsys):
    features, xlsx, sequential = data
    run = tmp_path / "launched"
    args = ["train", "--features", str(features), "--annotations", str(xlsx), "--out", str(run),
            "--iterations", ITERATIONS, "--loso", "--no-progress", "--launcher", "local", "--jobs", "2",
            "--cpus-per-job", THREADS]
    assert cli.main(args) == 0
    assert "F1-ME(p)" in capsys.readouterr().out
    folds = sorted(p.name for p in (sequential / "folds").iterdir())
    assert len(folds) == 2
    assert (run / "predictions.csv").read_text() == (sequential / "predictions.csv").read_text()
    assert len((run / "predictions.csv").read_text().splitlines()) > 1
    assert _fold_metrics(run) == _fold_metrics(sequential)
    for s in folds:
        for name in ("checkpoint.pt", "predictions.csv", "metrics.json", "health.json", "fold.json"):
            assert (run / "folds" / s / name).exists()
        assert (run / "folds" / s / "predictions.csv").read_text() == (sequential / "folds" / s / "predictions.csv").read_text()
    jobs = sorted(j for j in (run / "jobs").iterdir() if j.name.isdigit())
    assert len(jobs) == 2 and all(any(j.glob("*_log.err")) for j in jobs)
    # A re-run submits nothing (every fold has its done marker) and pools the same predictions.
    assert cli.main(args) == 0
    assert sorted(j for j in (run / "jobs").iterdir() if j.name.isdigit()) == jobs
    assert (run / "predictions.csv").read_text() == (sequential / "predictions.csv").read_text()
    assert all(m["reused"] for m in json.loads((run / "metrics.json").read_text())["folds"].values())


def test_failed_fold_is_reported_with_its_log_and_retried_alone(data, tmp_path):
    features, xlsx, sequential = data
    folds = sorted(p.name for p in (sequential / "folds").iterdir())
    run = tmp_path / "broken"
    shutil.copytree(sequential / "folds" / folds[1], run / "folds" / folds[1])  # a fold done earlier
    (run / "folds" / folds[0]).mkdir(parents=True)
    (run / "folds" / folds[0] / "checkpoint.pt").write_bytes(b"not a checkpoint")  # left by a crashed job
    config = Config.preset("casme2", train={"iterations": int(ITERATIONS)})
    config = fit_feature_dim(config, [open_dataset(features, xlsx, config)[0]])
    options = launch.LaunchOptions(launcher="local", jobs=2, cpus_per_job=int(THREADS))
    with pytest.raises(launch.UnitFailed) as info:
        launch.loso(features, xlsx, config, run, options)
    failure = info.value
    assert list(failure.failures) == [folds[0]]  # the done fold was not submitted
    _, _, err = failure.failures[folds[0]]
    assert err.exists() and "checkpoint" in err.read_text().lower()
    assert str(err) in str(failure) and f"--folds {folds[0]}" in str(failure)
    assert not (run / "folds" / folds[0] / "fold.json").exists()
    # Retry the failed fold alone, then pool both: the sequential run's predictions.
    (run / "folds" / folds[0] / "checkpoint.pt").unlink()
    launch.loso(features, xlsx, config, run, options, folds=[folds[0]])
    assert (run / "folds" / folds[0] / "fold.json").exists()
    result = launch.loso(features, xlsx, config, run, options)
    assert (run / "predictions.csv").read_text() == (sequential / "predictions.csv").read_text()
    assert [f.reused for f in result.folds] == [True, True]


def test_run_units_returns_results_and_names_failed_units_with_logs(tmp_path):
    units = [launch.Unit("sum", operator.add, (2, 3)), launch.Unit("broken", operator.truediv, (1, 0))]
    with pytest.raises(launch.UnitFailed, match="broken") as info:
        launch.run_units(units, launch.LaunchOptions(jobs=2, cpus_per_job=1), tmp_path)
    (error, out, err) = info.value.failures["broken"]
    assert "ZeroDivisionError" in error and "ZeroDivisionError" in err.read_text() and out.exists()
    assert set(info.value.failures) == {"broken"}
    assert launch.run_units(units[:1], launch.LaunchOptions(cpus_per_job=1), tmp_path) == {"sum": 5}
    with pytest.raises(ValueError, match="distinct unit names"):
        launch.run_units(units[:1] * 2, launch.LaunchOptions(), tmp_path)


def test_launch_options_validate_and_read_yaml(tmp_path):
    with pytest.raises(ValueError, match="launcher to be one of"):
        launch.LaunchOptions(launcher="pbs")
    with pytest.raises(ValueError, match="jobs to be an integer >= 1, got 0"):
        launch.LaunchOptions(jobs=0)
    with pytest.raises(ValueError, match="mem_gb > 0"):
        launch.LaunchOptions(mem_gb=-1)
    path = tmp_path / "slurm.yaml"
    path.write_text("launcher: slurm\npartition: gpu\ntime_min: 90\nmem_gb: 16\njobs: 8\nslurm_extra: {qos: high}\n")
    options = launch.LaunchOptions.from_yaml(path, jobs=4, account=None)
    assert (options.launcher, options.partition, options.time_min, options.jobs, options.account) == ("slurm", "gpu", 90, 4, None)
    assert options.slurm_extra == {"qos": "high"}
    path.write_text("launcher: slurm\nqueue: gpu\n")
    with pytest.raises(ValueError, match="unknown \\['queue'\\]"):
        launch.LaunchOptions.from_yaml(path)
    with pytest.raises(FileNotFoundError, match="cannot read the launcher file"):
        launch.LaunchOptions.from_yaml(tmp_path / "missing.yaml")


def test_command_line_rejects_launcher_options_without_a_launcher(data, tmp_path, capsys):
    features, xlsx, _ = data
    base = ["train", "--features", str(features), "--annotations", str(xlsx), "--out", str(tmp_path)]
    assert cli.main([*base, "--loso", "--jobs", "2"]) == 1
    assert "--jobs configure a launcher" in capsys.readouterr().err
    assert cli.main([*base, "--launcher", "local"]) == 1
    assert "expected --loso with --launcher" in capsys.readouterr().err


def test_import_mcwes_does_not_import_submitit():
    code = "import sys, mcwes, mcwes.launch, mcwes.cli; mcwes.cli.build_parser(); assert 'submitit' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_ablate_runs_cells_as_units_and_tabulates(data, tmp_path, capsys):
    features, xlsx, sequential = data
    out = tmp_path / "table6"
    args = ["ablate", "--table", "6", "--features", str(features), "--annotations", str(xlsx), "--out", str(out),
            "--seeds", "1", "--iterations", ITERATIONS, "--launcher", "local", "--jobs", "2", "--cpus-per-job", THREADS]
    assert cli.main(args) == 0
    text = capsys.readouterr().out
    assert "multi-top" in text and "multi-threshold" in text and "F1-ME(p)" in text
    table = json.loads((out / "table.json").read_text())
    assert [r["cell"] for r in table["summary"]] == ["multi-top", "multi-threshold"]
    # The multi-top cell (the preset's post-processing, seed 0) is the sequential LOSO run.
    pooled, _ = _fold_metrics(sequential)
    top = table["runs"]["multi-top"]["0"]
    assert top == {k: pooled[k] for k in top}
    assert (out / "multi_threshold" / "seed0" / "predictions.csv").read_text() != (sequential / "predictions.csv").read_text()
    assert len((out / "table.csv").read_text().splitlines()) == 3
    jobs = sorted((out / "jobs").iterdir())
    assert cli.main(args) == 0  # every unit done: nothing submitted again
    assert sorted((out / "jobs").iterdir()) == jobs


def test_ablation_summary_is_mean_and_sample_std():
    from mcwes.ablate import COLUMNS, AblationResult, table_cells

    runs = {"a": {0: {k: 0.2 for k, _ in COLUMNS}, 1: {k: 0.4 for k, _ in COLUMNS}}}
    result = AblationResult(6, ["a"], [0, 1], runs)
    mean, std = result.summary()["a"]["f1"]
    assert mean == pytest.approx(0.3) and std == pytest.approx(0.1414213562)
    assert "0.300 ± 0.141" in result.text()
    assert [c for c, _ in table_cells(3)][-1] == "h=[7,9,5]" and len(table_cells(5)) == 8
    with pytest.raises(ValueError, match="table to be one of"):
        table_cells(2)


# ------------------------------------------------------------------------------ extraction shards


def frame_folders(root, names, frames=10, size=24, seed=0):
    """Tiny videos as folders of PNG frames (random pixels: I3D and the flow do not care)."""
    import cv2

    rng = np.random.default_rng(seed)
    for name in names:
        (root / name).mkdir(parents=True)
        for i in range(frames):
            cv2.imwrite(str(root / name / f"img{i + 1}.png"), rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
    return root


def extract_args(videos, out, weights, *more):  # noqa: F811
    return ["extract", str(videos), "--out", str(out), "--image-size", "32", "--flow-backend", "opencv",
            "--rgb-weights", str(weights["rgb"]), "--flow-weights", str(weights["flow"]), "--cpus-per-job", "1", *more]


def job_dirs(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.split("_")[0].isdigit())


def test_extraction_shards_resume_and_match_the_sequential_run(tmp_path, weights, capsys):  # noqa: F811
    pytest.importorskip("cv2")
    from mcwes.extract import ExtractOptions, extract

    videos = frame_folders(tmp_path / "videos", ["a", "b", "c"])
    bad = videos / "c" / "img5.png"
    good = bad.read_bytes()
    bad.write_bytes(b"not a png")  # shard 1 (video c) fails; shard 0 (a, b) is done and kept
    out = tmp_path / "launched"
    args = extract_args(videos, out, weights, "--launcher", "local", "--jobs", "2", "--shard-size", "2")
    assert cli.main(args) == 1
    err = capsys.readouterr().err
    assert "shard-00001" in err and "shard-00000" not in err and "_log.err" in err and "run the same command again" in err
    assert sorted(json.loads((out / "manifest.json").read_text())["videos"]) == ["a", "b"]
    assert sorted(p.name for p in (out / "shards").iterdir()) == ["shard-00000.json"]
    first = {n: (out / f"{n}.npy").stat().st_mtime_ns for n in "ab"}
    jobs = job_dirs(out / "jobs")
    assert len(jobs) == 2
    # The video repaired, the same command redoes the failed shard alone, then merges.
    bad.write_bytes(good)
    assert cli.main(args) == 0
    assert len(job_dirs(out / "jobs")) == 3 and {n: (out / f"{n}.npy").stat().st_mtime_ns for n in "ab"} == first
    manifest = json.loads((out / "manifest.json").read_text())
    assert list(manifest["videos"]) == ["a", "b", "c"] and manifest["shards"] == ["shards/shard-00000.json",
                                                                                "shards/shard-00001.json"]
    assert manifest["settings"]["image_size"] == 32 and manifest["weights"]["rgb"]["sha256"]
    # The features are exactly those of the sequential extraction (one torch thread in both).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        sequential = extract(videos, tmp_path / "sequential", ExtractOptions.preset("casme2", image_size=32,
                                                                                     flow_backend="opencv"),
                             rgb_weights=weights["rgb"], flow_weights=weights["flow"], progress=False)
    finally:
        torch.set_num_threads(threads)
    for name in "abc":
        assert (out / f"{name}.npy").read_bytes() == (tmp_path / "sequential" / f"{name}.npy").read_bytes()
        assert manifest["videos"][name]["T"] == sequential["videos"][name]["T"]
    assert manifest["settings"] == sequential["settings"]
    # Everything done: nothing is submitted. Other settings into the same folder: refused before submitting.
    assert cli.main(args) == 0
    assert len(job_dirs(out / "jobs")) == 3
    assert cli.main([*args, "--window", "4", "--stride", "4"]) == 1
    assert "holds features made with other settings" in capsys.readouterr().err
    assert len(job_dirs(out / "jobs")) == 3
    assert cli.main(extract_args(videos, tmp_path / "x", weights, "--shard-size", "2")) == 1
    assert "expected --launcher local|slurm" in capsys.readouterr().err
