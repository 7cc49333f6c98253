"""LOSO, the command line end to end, and the demo, on tiny synthetic sets in the real file formats."""
from __future__ import annotations

import json

import pytest

import mcwes
from mcwes import Config, cli
from mcwes.data import load_dataset, synthetic

D = 8


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = synthetic.synthesize("casme2", tmp_path_factory.mktemp("synth"), seed=3, feature_dim=D, subjects=3,
                                frames_range=(300, 500))
    return load_dataset(root)


def tiny_config() -> Config:
    return Config.preset("casme2", model={"feature_dim": D}, data={"train_snippets": 32},
                         train={"iterations": 4, "batch_size": 4, "n_pairs": 1}, spot={"score_threshold": 0.0})


def test_loso_pools_folds_and_resumes(dataset, tmp_path):
    subjects = dataset.subjects()[:2]
    first = mcwes.loso(dataset, tiny_config(), tmp_path, folds=subjects, progress=False)
    assert [f.subject for f in first.folds] == subjects and not any(f.reused for f in first.folds)
    assert len(first.predictions) == sum(len(f.predictions) for f in first.folds)
    test_videos = set(dataset.subset(subjects=subjects).videos)
    assert {p.video for p in first.predictions} <= test_videos
    for s in subjects:
        for name in ("checkpoint.pt", "predictions.csv", "metrics.json", "fold.json"):
            assert (tmp_path / "folds" / s / name).exists()
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert set(metrics["folds"]) == set(subjects)
    # An interrupted run: the second fold never finished. Only that fold is trained again.
    (tmp_path / "folds" / subjects[1] / "fold.json").unlink()
    second = mcwes.loso(dataset, tiny_config(), tmp_path, folds=subjects, progress=False)
    assert [f.reused for f in second.folds] == [True, False]
    assert second.evaluation.counts["overall"] == first.evaluation.counts["overall"]


def test_loso_rejects_unknown_folds_and_mismatched_config(dataset, tmp_path):
    with pytest.raises(ValueError, match="expected folds among the dataset's subjects"):
        mcwes.loso(dataset, tiny_config(), tmp_path, folds=["nobody"])
    with pytest.raises(ValueError, match="the dataset has fps 30"):
        mcwes.loso(dataset, tiny_config().replace(data={"fps": 200.0}), tmp_path)


def test_command_line_end_to_end(tmp_path, capsys):
    data = tmp_path / "data"
    assert cli.main(["synth", "--preset", "casme2", "--out", str(data), "--subjects", "2", "--feature-dim", str(D),
                     "--frames", "300", "400"]) == 0
    xlsx = next(data.glob("*.xlsx"))
    run = tmp_path / "run"
    assert cli.main(["train", "--features", str(data / "features"), "--annotations", str(xlsx), "--out", str(run),
                     "--iterations", "3", "--loso", "--folds", "s15", "--no-progress"]) == 0
    assert "F1-ME(p)" in capsys.readouterr().out
    preds = tmp_path / "preds.csv"
    features = sorted((data / "features").glob("s15_*.npy"))
    assert cli.main(["spot", "--checkpoint", str(run / "folds" / "s15" / "checkpoint.pt"), *map(str, features),
                     "--out", str(preds), "--plot", str(tmp_path / "plots"), "--annotations", str(xlsx)]) == 0
    assert preds.exists() and len(list((tmp_path / "plots").glob("*.png"))) == len(features)
    out_json = tmp_path / "metrics.json"
    assert cli.main(["evaluate", "--predictions", str(preds), "--annotations", str(xlsx), "--out", str(out_json)]) == 0
    assert "F1-score" in capsys.readouterr().out and json.loads(out_json.read_text())


def test_command_line_reports_bad_input(tmp_path, capsys):
    assert cli.main(["spot", "--checkpoint", str(tmp_path / "missing.pt"), str(tmp_path)]) == 1
    assert "error" in capsys.readouterr().err


def test_demo_runs_end_to_end(tmp_path):
    from mcwes.demo import DemoRecipe, run_demo

    recipe = DemoRecipe(seed=1, feature_dim=D, subjects=3, frames_range=(300, 500), folds=1, iterations=3,
                        train_snippets=32)
    result = run_demo(tmp_path, recipe=recipe, progress=False)
    assert len(result.folds) == 1
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert {"mcwes", "energy_baseline", "recipe", "seconds"} <= set(metrics)
    test_videos = load_dataset(tmp_path / "data").subset(subjects=result.folds).videos
    assert test_videos and sorted(p.stem for p in (tmp_path / "plots").glob("*.png")) == sorted(test_videos)
    assert "MC-WES" in result.table() and "energy baseline" in result.table()
