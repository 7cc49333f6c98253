"""LOSO, the command line end to end, and the demo, on tiny synthetic sets in the real file formats."""
from __future__ import annotations

import json

import pytest
import torch

import mcwes
from mcwes import Config, cli
from mcwes.data import load_dataset, synthetic
from mcwes.crossval import split as loso_split

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


def test_split_trains_one_model_on_the_other_subjects(dataset, tmp_path):
    held_out = dataset.subjects()[:2]
    result = loso_split(dataset, tiny_config(), tmp_path, folds=held_out, progress=False)
    assert [f.subject for f in result.folds] == ["+".join(held_out)]
    assert {p.video for p in result.predictions} <= set(dataset.subset(subjects=held_out).videos)
    for name in ("checkpoint.pt", "predictions.csv", "metrics.json", "fold.json"):
        assert (tmp_path / "model" / name).exists()
    model, _, _ = mcwes.load_checkpoint(tmp_path / "model" / "checkpoint.pt")
    # Trained on the one remaining subject only: the same run as a Trainer on that subject's videos.
    train = dataset.subset(subjects=[s for s in dataset.subjects() if s not in held_out])
    again = mcwes.Trainer(tiny_config(), list(train), progress=False).fit()
    for a, b in zip(model.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)
    total_gt = len(dataset.subset(subjects=held_out).ground_truth())
    o = result.evaluation.counts["overall"]
    assert o.tp + o.fn == total_gt
    with pytest.raises(ValueError, match="mcwes.split: expected some subjects left for training"):
        loso_split(dataset, tiny_config(), tmp_path / "all", folds=dataset.subjects())


def test_loso_rejects_unknown_folds_and_mismatched_config(dataset, tmp_path):
    with pytest.raises(ValueError, match="expected folds among the dataset's subjects"):
        mcwes.loso(dataset, tiny_config(), tmp_path, folds=["nobody"])
    with pytest.raises(ValueError, match="the dataset has fps 30"):
        mcwes.loso(dataset, tiny_config().replace(data={"fps": 200.0}), tmp_path)


def _synth_and_train(tmp_path, subjects, *train_args):
    """``mcwes synth`` a small casme2 set, then ``mcwes train`` on it; returns (data folder, xlsx, run folder)."""
    data = tmp_path / "data"
    assert cli.main(["synth", "--preset", "casme2", "--out", str(data), "--subjects", str(subjects), "--feature-dim",
                     str(D), "--frames", "300", "400"]) == 0
    xlsx = next(data.glob("*.xlsx"))
    run = tmp_path / "run"
    assert cli.main(["train", "--features", str(data / "features"), "--annotations", str(xlsx), "--out", str(run),
                     "--iterations", "3", "--no-progress", *train_args]) == 0
    return data, xlsx, run


def test_command_line_end_to_end(tmp_path, capsys):
    data, xlsx, run = _synth_and_train(tmp_path, 2, "--loso", "--folds", "s15")
    assert "F1-ME(p)" in capsys.readouterr().out
    health = json.loads((run / "folds" / "s15" / "health.json").read_text())
    assert set(health["auc"]) == {"train", "test"} and health["losses"]["dc1"]["first"] > 0
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
    assert len(result.folds) == 1 and (tmp_path / "loso" / "folds" / result.folds[0] / "checkpoint.pt").exists()
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert {"mcwes", "energy_baseline", "recipe", "seconds"} <= set(metrics)
    test_videos = load_dataset(tmp_path / "data").subset(subjects=result.folds).videos
    assert test_videos and sorted(p.stem for p in (tmp_path / "plots").glob("*.png")) == sorted(test_videos)
    assert "MC-WES" in result.table() and "energy baseline" in result.table()


def test_demo_split_mode_with_neutral_videos(tmp_path):
    from mcwes.demo import DemoRecipe, run_demo

    recipe = DemoRecipe(seed=2, feature_dim=D, subjects=3, frames_range=(300, 500), folds=2, iterations=3,
                        train_snippets=32, mode="split", neutral_videos=1, attention_hidden=16)
    result = run_demo(tmp_path, recipe=recipe, progress=False, plots=False)
    assert len(result.folds) == 2 and result.mode == "split"
    assert (tmp_path / "split" / "model" / "checkpoint.pt").exists()
    videos = load_dataset(tmp_path / "data").videos
    assert sum(v.endswith("_n1") for v in videos) == 3
    model, _, _ = mcwes.load_checkpoint(tmp_path / "split" / "model" / "checkpoint.pt")
    assert model.model_config.attention_hidden == 16
    with pytest.raises(ValueError, match="recipe.mode"):
        run_demo(tmp_path / "bad", recipe=DemoRecipe(mode="lso"), progress=False)


def test_train_command_writes_and_prints_the_health_report(tmp_path, capsys):
    _, _, run = _synth_and_train(tmp_path, 3, "--holdout", "s15", "--probe")
    err = capsys.readouterr().err
    assert "training health:" in err and "attention AUC vs background (test)" in err
    health = json.loads((run / "health.json").read_text())
    assert set(health["probe_auc"]) == {"train", "test"}
    assert health["features"]["channel_std_median"] > 0
