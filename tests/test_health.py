"""The training-health report (mcwes.health) and the MIL probe (mcwes.probe)."""
from __future__ import annotations

import json
import types

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import mcwes
from mcwes import health
from mcwes.probe import fit_probe


def _auc_pairs(pos, neg):
    """Twin of health.auc: the share of (positive, negative) pairs ordered right, ties half."""
    pos, neg = np.asarray(pos, float), np.asarray(neg, float)
    return float(((pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])).mean())


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-3, 3), min_size=1, max_size=12), st.lists(st.integers(-3, 3), min_size=1, max_size=12))
def test_auc_equals_pair_count(pos, neg):
    assert health.auc(pos, neg) == pytest.approx(_auc_pairs(pos, neg))


def test_auc_empty_is_nan():
    assert np.isnan(health.auc([], [1.0]))
    assert np.isnan(health.auc([1.0], []))


def test_snippet_labels_cover_overlapping_snippets():
    # g = 8: frames 10..20 touch snippets 1 and 2; the ME at frames 40..44 snippet 5
    lab = health.snippet_labels(8, [[10, 20], [40, 44]], [0, 1], 8)
    assert lab.tolist() == [2, 0, 0, 2, 2, 1, 2, 2]


def test_attention_auc_per_class_and_shape_check():
    att = [np.array([0.9, 0.1, 0.8, 0.2])]
    lab = [np.array([0, 2, 1, 2])]
    assert health.attention_auc(att, lab) == {"MaE": 1.0, "ME": 1.0}
    with pytest.raises(ValueError, match="one label per snippet"):
        health.attention_auc(att, [np.array([0, 2])])


def test_attention_summary_flags_collapse():
    report = health.HealthReport(attention={"train": health.attention_summary([np.full(50, 0.01)])})
    assert report.attention["train"]["saturated_low"] == 1.0
    warnings = health._warnings(report)
    assert any("collapsed towards 0" in w for w in warnings)
    assert any("flat within videos" in w for w in warnings)


def test_feature_summary_within_video_share():
    rng = np.random.default_rng(0)
    constant = [np.tile(rng.standard_normal(6), (20, 1)) for _ in range(5)]
    assert health.feature_summary(constant)["within_video_share"] == pytest.approx(0.0, abs=1e-12)
    iid = [rng.standard_normal((200, 6)) for _ in range(5)]
    assert health.feature_summary(iid)["within_video_share"] > 0.9
    with pytest.raises(ValueError, match="at least one non-empty"):
        health.feature_summary([np.zeros((0, 6))])


def test_loss_summary_first_and_last_tenth():
    records = [{"iteration": i + 1, "dc1": 2.0 - i / 10, "attention_mean": 0.5} for i in range(10)]
    s = health.loss_summary(records)
    assert set(s) == {"dc1"}
    assert s["dc1"]["first"] == pytest.approx(2.0) and s["dc1"]["last"] == pytest.approx(1.1)
    assert s["dc1"]["change"] == pytest.approx(-0.45)
    flat = [{"iteration": i, "dc1": 1.1, "total": 3.0} for i in range(10)]
    assert any("hardly moved" in w for w in health._warnings(health.HealthReport(losses=health.loss_summary(flat))))


def _planted(n_videos=24, T=60, width=8, seed=0):
    """Videos whose positive ones hold a run of snippets along one direction."""
    rng = np.random.default_rng(seed)
    direction = rng.standard_normal(width)
    direction /= np.linalg.norm(direction)
    items = []
    for v in range(n_videos):
        x = rng.standard_normal((T, width)).astype(np.float32)
        positive = v % 2 == 0
        intervals = np.zeros((0, 2), dtype=np.int64)
        if positive:
            s = int(rng.integers(5, T - 15))
            x[s: s + 8] += 3.0 * direction
            intervals = np.array([[s * 8, (s + 8) * 8 - 1]])
        items.append(types.SimpleNamespace(features=x, labels=np.array([float(positive), 0.0]), intervals=intervals,
                                           interval_labels=np.zeros(len(intervals), dtype=np.int64)))
    return items


def test_probe_localises_planted_expressions():
    items = _planted()
    probe = fit_probe(items, steps=150, snippets=60, seed=0)
    scores = probe.scores([it.features for it in items], cls=0)
    labels = [health.snippet_labels(len(s), it.intervals, it.interval_labels, 8) for s, it in zip(scores, items)]
    assert health.attention_auc(scores, labels)["MaE"] > 0.95


def test_probe_rejects_bad_input():
    with pytest.raises(ValueError, match="at least one training video"):
        fit_probe([])
    bad = [types.SimpleNamespace(features=np.zeros((5, 4), np.float32), labels=[1, 0]),
           types.SimpleNamespace(features=np.zeros((5, 6), np.float32), labels=[0, 0])]
    with pytest.raises(ValueError, match=r"\[T >= 1, 4\]"):
        fit_probe(bad)


def test_diagnose_reports_and_is_json(tmp_path):
    items = [types.SimpleNamespace(features=np.random.default_rng(i).standard_normal((30, 16)).astype(np.float32),
                                   labels=np.array([1.0, 0.0]), intervals=np.array([[8, 40]]),
                                   interval_labels=np.array([0])) for i in range(3)]
    torch.manual_seed(0)
    model = mcwes.MCWES(mcwes.config.ModelConfig(feature_dim=8, attention_hidden=8)).eval()
    with torch.no_grad():  # attention forced to ~0: the report must say it collapsed
        model.att_rgb.conv3.bias.fill_(-20.0)
        model.att_flow.conv3.bias.fill_(-20.0)
    records = [{"iteration": i, "dc1": 1.1, "total": 2.0} for i in range(20)]
    report = mcwes.diagnose(model, items, items[:1], records=records, probe=True)
    assert set(report.auc) == {"train", "test"} and set(report.probe_auc) == {"train", "test"}
    assert report.attention["train"]["mean"] < 0.01
    assert not report.healthy
    assert any("collapsed towards 0" in w for w in report.warnings)
    assert any("hardly moved" in w for w in report.warnings)
    json.dumps(report.to_dict(), allow_nan=False)
    assert "WARNING" in report.text()


def test_trainer_records_attention_shape():
    rng = np.random.default_rng(0)
    items = [mcwes.train.VideoItem(rng.standard_normal((20, 16)).astype(np.float32), [v % 2, 0], f"s{v}", f"v{v}")
             for v in range(6)]
    cfg = mcwes.Config.preset("casme2", model={"feature_dim": 8, "attention_hidden": 8}, data={"train_snippets": 16},
                              train={"iterations": 3, "batch_size": 4, "n_pairs": 1})
    trainer = mcwes.Trainer(cfg, items, progress=False)
    trainer.fit()
    assert len(trainer.history) == 3
    assert all(0 <= r["attention_mean"] <= 1 and r["attention_spread"] >= 0 for r in trainer.history)


def test_bad_device_and_overflowing_lengths_are_named():
    with pytest.raises(ValueError, match="mcwes.Trainer: expected device"):
        mcwes.train.resolve_device("bogus")
    model = mcwes.MCWES(mcwes.config.ModelConfig(feature_dim=4, attention_hidden=4))
    with pytest.raises(ValueError, match="mcwes.MCWES: expected lengths"):
        model(torch.zeros(1, 3, 8), [2**64])


def test_evaluate_knows_expression_free_videos():
    """Predictions for a listed video without intervals are false positives, not a naming mismatch."""
    import warnings

    preds = [mcwes.Proposal("a", 0, 40, 1.0, "MaE", "MaE"), mcwes.Proposal("neutral", 0, 40, 0.5, "MaE", "MaE")]
    gt = [("a", 0, 40, "MaE")]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = mcwes.evaluate(preds, gt, fps=30, videos=["a", "neutral"])
    assert r.report == [] and r.counts["overall"].fp == 1
    with pytest.warns(UserWarning, match="not in the ground truth"):
        assert mcwes.evaluate(preds, gt, fps=30).report
