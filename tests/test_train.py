"""Training: sampler, resampling, Trainer (reproducibility, resume, learning), checkpoints, `mcwes train`."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, strategies as st

import mcwes
from mcwes import checkpoint
from mcwes.cli import main as cli_main
from mcwes.commands import train as train_cmd
from mcwes.config import Config
from mcwes.losses import suppressed_tcam, video_logits
from mcwes.train import PairBatchSampler, Trainer, VideoItem, resample_indices

D = 8


def _config(**train) -> Config:
    base = {"iterations": 4, "lr": 3e-3}
    base.update(train)
    return Config.preset(
        "casme2",
        model={"feature_dim": D, "attention_hidden": 16, "attention_dropout": 0.1, "fusion_dropout": 0.1,
               "classifier_dropout": 0.1},
        data={"train_snippets": 24},
        train=base,
    )


def _synthetic(n: int, seed: int, T: int = 40, d: int = D) -> list[VideoItem]:
    """Noise videos with planted bumps: MaE = a long bump in channels 0–3 of both streams,
    ME = a short bump in channels 4–7; labels say which bumps a video holds."""
    rng = np.random.default_rng(seed)
    kinds = [(1, 0), (0, 1), (1, 1)]
    items = []
    for i in range(n):
        y = kinds[int(rng.integers(3))]
        x = rng.normal(size=(T, 2 * d)).astype(np.float32)
        if y[0]:
            s = int(rng.integers(0, T - 10))
            x[s : s + 10, 0:4] += 3.0
            x[s : s + 10, d : d + 4] += 3.0
        if y[1]:
            s = int(rng.integers(0, T - 3))
            x[s : s + 3, 4:8] += 3.0
            x[s : s + 3, d + 4 : d + 8] += 3.0
        items.append(VideoItem(x, list(y), subject=f"s{i % 4}", video=f"v{i}"))
    return items


ITEMS = _synthetic(16, seed=0)


# ---- resampling and sampling ----

@given(length=st.integers(1, 300), n=st.integers(1, 300), seed=st.integers(0, 2**32 - 1))
def test_resample_indices_one_per_bin(length, n, seed):
    idx = resample_indices(length, n, np.random.default_rng(seed))
    assert idx.shape == (n,) and idx.dtype == np.int64
    assert idx.min() >= 0 and idx.max() < length
    assert np.all(np.diff(idx) >= 0)
    i = np.arange(n)
    # index i lies in bin [i·T/n, (i+1)·T/n)
    assert np.all(idx >= np.floor(i * length / n)) and np.all(idx < np.ceil((i + 1) * length / n))
    if length == n:
        assert np.array_equal(idx, i)


def test_resample_indices_covers_long_bins_uniformly():
    rng = np.random.default_rng(0)
    draws = np.stack([resample_indices(40, 4, rng) for _ in range(4000)])
    counts = np.bincount(draws[:, 1] - 10, minlength=10)  # bin 1 = snippets 10..19
    assert counts.min() > 300 and counts.max() < 500


@given(labels=st.lists(st.sampled_from([(0, 0), (1, 0), (0, 1), (1, 1)]), min_size=1, max_size=30),
       n_pairs=st.integers(0, 5), seed=st.integers(0, 2**32 - 1))
def test_sampler_pairs_always_share_a_label(labels, n_pairs, seed):
    y = np.array(labels)
    shares = (y @ y.T) > 0
    np.fill_diagonal(shares, False)
    if n_pairs > 0 and not shares.any():
        with pytest.raises(ValueError, match="share a positive label"):
            PairBatchSampler(y, 10, n_pairs, np.random.default_rng(seed))
        return
    sampler = PairBatchSampler(y, 10, n_pairs, np.random.default_rng(seed))
    for _ in range(5):
        videos, pairs = sampler.sample()
        assert len(videos) == 10 and all(0 <= v < len(labels) for v in videos)
        assert pairs == [(2 * p, 2 * p + 1) for p in range(n_pairs)]
        for i, j in pairs:
            assert videos[i] != videos[j]
            assert (y[videos[i]] & y[videos[j]]).any()


def test_sampler_random_part_has_no_repeats_when_possible():
    y = np.array([(1, 0)] * 20)
    videos, _ = PairBatchSampler(y, 10, 3, np.random.default_rng(1)).sample()
    assert len(set(videos[6:])) == 4


# ---- bad input ----

def test_bad_training_items_raise():
    cfg = _config()
    with pytest.raises(ValueError, match="at least one video"):
        Trainer(cfg, [], progress=False)
    with pytest.raises(ValueError, match=r"features of video bad to have shape \[T >= 1, 2D = 16\]"):
        Trainer(cfg, ITEMS[:3] + [VideoItem(np.zeros((5, 2 * D + 2)), [1, 0], "s0", "bad")], progress=False)
    with pytest.raises(ValueError, match="features of video empty"):
        Trainer(cfg, ITEMS[:3] + [VideoItem(np.zeros((0, 2 * D)), [1, 0], "s0", "empty")], progress=False)
    with pytest.raises(ValueError, match="labels of video short to be 2 values"):
        Trainer(cfg, ITEMS[:3] + [VideoItem(np.ones((5, 2 * D)), [1], "s0", "short")], progress=False)
    with pytest.raises(ValueError, match="labels of video odd"):
        Trainer(cfg, ITEMS[:3] + [VideoItem(np.ones((5, 2 * D)), [2, 0], "s0", "odd")], progress=False)
    with pytest.raises(ValueError, match="finite"):
        nan = np.ones((5, 2 * D))
        nan[2, 3] = np.nan
        Trainer(cfg, ITEMS[:3] + [VideoItem(nan, [1, 0], "s0", "nan")], progress=False)


def test_pairless_dataset_raises_unless_pairs_are_off():
    items = [VideoItem(np.ones((6, 2 * D), np.float32) * i, y, "s0", f"v{i}") for i, y in enumerate([[1, 0], [0, 1], [0, 0]])]
    with pytest.raises(ValueError, match="n_pairs = 0"):
        Trainer(_config(), items, progress=False)
    Trainer(_config(n_pairs=0), items, progress=False).step()


# ---- the Trainer ----

def _weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_seeded_training_is_reproducible():
    a = Trainer(_config(), ITEMS, progress=False, kernels=False)
    b = Trainer(_config(), ITEMS, progress=False, kernels=False)
    logs_a = [a.step() for _ in range(3)]
    logs_b = [b.step() for _ in range(3)]
    assert logs_a == logs_b
    for k, v in _weights(a.model).items():
        assert torch.equal(v, _weights(b.model)[k])
    c = Trainer(_config(seed=1), ITEMS, progress=False, kernels=False)
    assert [c.step() for _ in range(3)] != logs_a


def test_fit_writes_metrics_config_and_checkpoint(tmp_path):
    trainer = Trainer(_config(iterations=3), ITEMS, out_dir=tmp_path, progress=False, kernels=False)
    model = trainer.fit()
    assert not model.training and trainer.iteration == 3
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in lines] == [1, 2, 3]
    assert set(lines[0]) == {"iteration", "total", "attention_mean", "attention_spread", *mcwes.config.LOSS_NAMES}
    assert Config.from_yaml(tmp_path / "config.yaml") == trainer.config
    loaded, cfg, state = mcwes.load_checkpoint(tmp_path / "checkpoint.pt")
    assert cfg == trainer.config and state["iteration"] == 3


def test_resume_continues_exactly(tmp_path):
    straight = Trainer(_config(iterations=4), ITEMS, progress=False, kernels=False)
    straight.fit()
    first = Trainer(_config(iterations=4), ITEMS, out_dir=tmp_path, progress=False, kernels=False)
    first.fit(2)
    torch.manual_seed(12345)  # unrelated RNG use between the runs must not matter
    resumed = Trainer.resume(tmp_path / "checkpoint.pt", ITEMS, progress=False, kernels=False)
    assert resumed.iteration == 2
    resumed.fit()
    assert resumed.iteration == 4
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in lines] == [1, 2, 3, 4]  # resume continues the log in the checkpoint's folder
    for k, v in _weights(straight.model).items():
        torch.testing.assert_close(_weights(resumed.model)[k], v, rtol=0, atol=0)


def test_metrics_log_is_one_line_per_iteration_of_this_run(tmp_path):
    # A fold restarted after its job was killed (a fresh Trainer in the same folder) starts a new log;
    # a resumed one drops what was logged past its checkpoint (and a line cut short by the kill).
    Trainer(_config(iterations=3), ITEMS, out_dir=tmp_path, progress=False, kernels=False).fit()
    Trainer(_config(iterations=2), ITEMS, out_dir=tmp_path, progress=False, kernels=False).fit()
    log = tmp_path / "metrics.jsonl"
    assert [json.loads(line)["iteration"] for line in log.read_text().splitlines()] == [1, 2]
    first = Trainer(_config(iterations=5), ITEMS, out_dir=tmp_path, progress=False, kernels=False)
    first.fit(2)
    first.step()  # logged after the checkpoint at 2, then "killed"
    with open(log, "a") as fh:
        fh.write('{"iteration": 4, "tot')
    resumed = Trainer.resume(tmp_path / "checkpoint.pt", ITEMS, progress=False, kernels=False)
    resumed.fit()
    assert [json.loads(line)["iteration"] for line in log.read_text().splitlines()] == [1, 2, 3, 4, 5]


def _video_accuracy(model, items) -> float:
    """Video-level label accuracy from the suppressed T-CAM's class probabilities (p_c >= 0.25 → present)."""
    model.eval()
    with torch.no_grad():
        x = torch.stack([torch.as_tensor(it.features) for it in items])
        out = model(x)
        p = torch.softmax(video_logits(suppressed_tcam(out.S, out.A), out.lengths, (7, 9, 5)), dim=1)[:, :2]
    y = torch.tensor([it.labels for it in items])
    return float(((p >= 0.25).long() == y).float().mean())


def test_training_learns_planted_expressions():
    # The plain path keeps this quick while the compiled cscm/duration kernels are stand-ins;
    # test_model/test_losses show both paths compute the same thing.
    train, held_out = _synthetic(30, seed=1), _synthetic(30, seed=2)
    trainer = Trainer(_config(iterations=200), train, progress=False, kernels=False)
    before = _video_accuracy(trainer.model, held_out)
    first = [trainer.step()["total"] for _ in range(10)]
    trainer.fit()
    last = [trainer.step()["total"] for _ in range(10)]
    after = _video_accuracy(trainer.model, held_out)
    assert np.mean(last) < 0.8 * np.mean(first)
    assert after >= 0.8 and after > before + 0.1


# ---- checkpoints ----

def test_checkpoint_round_trip(tmp_path):
    cfg = _config()
    torch.manual_seed(0)
    model = mcwes.MCWES(cfg).eval()
    path = mcwes.save_checkpoint(tmp_path / "sub" / "m.pt", model, cfg, iteration=7, extra={"note": "x"})
    loaded, cfg2, state = mcwes.load_checkpoint(path)
    assert cfg2 == cfg and state["iteration"] == 7 and state["extra"] == {"note": "x"}
    assert state["mcwes_version"] == mcwes.__version__ and state["format_version"] == checkpoint.FORMAT_VERSION
    assert state["optimizer"] is None and not loaded.training
    x = torch.randn(2, 9, 2 * D)
    torch.testing.assert_close(loaded(x, [9, 4]).S, model(x, [9, 4]).S, rtol=0, atol=0)
    assert [p.name for p in tmp_path.joinpath("sub").iterdir()] == ["m.pt"]


def test_truncated_and_foreign_files_raise(tmp_path):
    cfg = _config()
    path = mcwes.save_checkpoint(tmp_path / "m.pt", mcwes.MCWES(cfg), cfg)
    data = path.read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"cut\.pt is not a readable checkpoint"):
        mcwes.load_checkpoint(tmp_path / "cut.pt")
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(ValueError, match=r"text\.pt is not a readable checkpoint"):
        mcwes.load_checkpoint(tmp_path / "text.pt")
    torch.save({"state_dict": {}}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match=r"other\.pt is not an mcwes checkpoint"):
        mcwes.load_checkpoint(tmp_path / "other.pt")
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        mcwes.load_checkpoint(tmp_path / "missing.pt")


def test_mismatching_contents_raise(tmp_path):
    cfg = _config()
    path = mcwes.save_checkpoint(tmp_path / "m.pt", mcwes.MCWES(cfg), cfg)
    payload = torch.load(path, weights_only=True)
    payload["format_version"] = checkpoint.FORMAT_VERSION + 1
    torch.save(payload, tmp_path / "future.pt")
    with pytest.raises(ValueError, match=r"future\.pt has checkpoint format version"):
        mcwes.load_checkpoint(tmp_path / "future.pt")
    payload = torch.load(path, weights_only=True)
    payload["config"]["model"]["feature_dim"] = D + 1
    torch.save(payload, tmp_path / "shape.pt")
    with pytest.raises(ValueError, match=r"shape\.pt holds weight .* of shape"):
        mcwes.load_checkpoint(tmp_path / "shape.pt")
    payload = torch.load(path, weights_only=True)
    payload["config"]["train"]["lr"] = -1
    torch.save(payload, tmp_path / "cfg.pt")
    with pytest.raises(ValueError, match=r"cfg\.pt holds an invalid config: .*train\.lr"):
        mcwes.load_checkpoint(tmp_path / "cfg.pt")


def test_failed_write_leaves_no_partial_file(tmp_path, monkeypatch):
    cfg = _config()
    model = mcwes.MCWES(cfg)
    good = mcwes.save_checkpoint(tmp_path / "m.pt", model, cfg, iteration=1)
    before = good.read_bytes()

    def broken_save(obj, fh, *a, **k):
        fh.write(b"partial bytes")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint.torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        mcwes.save_checkpoint(tmp_path / "m.pt", model, cfg, iteration=2)
    with pytest.raises(OSError):
        mcwes.save_checkpoint(tmp_path / "new.pt", model, cfg)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]
    assert good.read_bytes() == before


# ---- the command ----

def test_train_command_with_items(tmp_path, monkeypatch, capsys):
    seen = {}

    def fake_loader(features_dir, annotations_file, config, videos_file=None):
        seen["args"] = (Path(features_dir), Path(annotations_file), config.train.iterations, videos_file)
        return ITEMS

    monkeypatch.setattr(train_cmd, "load_training_items", fake_loader)
    features, annotations = tmp_path / "F", tmp_path / "A.csv"  # the command checks that they exist
    features.mkdir()
    annotations.write_text("video,subject,onset,offset,type\n")
    rc = cli_main(["train", "--preset", "casme2", "--features", str(features), "--annotations", str(annotations),
                   "--out", str(tmp_path), "--iterations", "2", "--seed", "3", "--device", "cpu", "--holdout", "s1",
                   "--no-progress"])
    assert rc == 0
    assert seen["args"] == (features, annotations, 2, None)
    _, cfg, state = mcwes.load_checkpoint(tmp_path / "checkpoint.pt")
    assert state["iteration"] == 2 and cfg.train.seed == 3 and cfg.preset_name == "casme2" and cfg.model.feature_dim == D
    assert capsys.readouterr().out.strip() == str(tmp_path / "checkpoint.pt")


def test_train_command_holdout_selects_a_fold(capsys, monkeypatch, tmp_path):
    fold = train_cmd.select_fold(ITEMS, "s2")
    assert fold and all(it.subject != "s2" for it in fold) and len(fold) == len(ITEMS) - sum(it.subject == "s2" for it in ITEMS)
    with pytest.raises(ValueError, match="--holdout to name a subject"):
        train_cmd.select_fold(ITEMS, "nobody")
    monkeypatch.setattr(train_cmd, "load_training_items", lambda *a: ITEMS)
    (tmp_path / "A").write_text("video,subject,onset,offset,type\n")
    assert cli_main(["train", "--features", str(tmp_path), "--annotations", str(tmp_path / "A"),
                     "--out", str(tmp_path / "o"), "--holdout", "nobody"]) == 1
    assert "--holdout" in capsys.readouterr().err


def test_train_command_real_loader_is_wired(tmp_path):
    pytest.importorskip("mcwes.data")
    assert callable(train_cmd.load_training_items)
    with pytest.raises((FileNotFoundError, ValueError)):
        train_cmd.load_training_items(tmp_path / "none", tmp_path / "none.csv", _config())
