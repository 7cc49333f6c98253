"""Synthetic benchmark: determinism, statistics per preset, round trip through the real loaders."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from mcwes.cli import main as cli_main
from mcwes.data import energy_baseline, energy_scores, load_dataset, synthetic

QUICK = dict(feature_dim=16, frames_range=(600, 1500))


@pytest.fixture(scope="module")
def casme2():
    return synthetic.generate("casme2", seed=3, subjects=5, **QUICK)


def test_deterministic_for_a_seed_and_order_independent():
    a = synthetic.generate("casme2", seed=11, subjects=3, **QUICK)
    b = synthetic.generate("casme2", seed=11, subjects=3, **QUICK)
    pd.testing.assert_frame_equal(a.events, b.events)
    last = a.plans[-1].video
    np.testing.assert_array_equal(b.features(last), a.features(last))  # rendered first vs. alone
    for (va, xa), (vb, xb) in zip(a.iter_features(), b.iter_features()):
        assert va == vb and np.array_equal(xa, xb)
    c = synthetic.generate("casme2", seed=12, subjects=3, **QUICK)
    assert not a.events.equals(c.events)
    assert not np.array_equal(a.features(a.plans[0].video), c.features(c.plans[0].video))


@pytest.mark.parametrize("preset", ["casme2", "samm_lv", "casme3"])
def test_counts_per_subject_match_the_preset_table(preset):
    p = synthetic.PRESETS[preset]
    synth = synthetic.generate(preset, seed=0, subjects=4, feature_dim=8)
    ann, videos = synth.annotations, synth.videos
    for subject, n_videos, n_me, n_mae in p.subjects[:4]:
        assert (videos["subject"] == subject).sum() == n_videos
        mine = ann[ann["subject"] == subject]
        assert (mine["type"] == "ME").sum() == n_me and (mine["type"] == "MaE").sum() == n_mae
    assert synth.fps == p.fps and synth.snippet_frames == p.snippet_frames


def test_preset_totals_are_the_published_ones():
    def totals(p):
        return tuple(sum(r[i] for r in synthetic.PRESETS[p].subjects) for i in (1, 2, 3))
    assert totals("casme2") == (98, 57, 300) and len(synthetic.PRESETS["casme2"].subjects) == 22
    assert totals("samm_lv") == (147, 159, 343) and len(synthetic.PRESETS["samm_lv"].subjects) == 30
    assert totals("casme3") == (956, 860, 3346) and len(synthetic.PRESETS["casme3"].subjects) == 98
    assert (synthetic.PRESETS["samm_lv"].fps, synthetic.PRESETS["samm_lv"].snippet_frames) == (200, 32)


def test_casme2_keeps_its_three_videos_without_expressions():
    synth = synthetic.generate("casme2", seed=1, feature_dim=4, subjects=["s15", "s19", "s23", "s16"])
    annotated = set(synth.annotations["video"])
    empty = sorted(set(synth.videos["video"]) - annotated)
    assert empty == ["s15_0508", "s19_0502", "s23_0503"]


def test_neutral_videos_add_expression_free_videos_and_load(tmp_path):
    params = synthetic.SynthParams(neutral_videos=2)
    synth = synthetic.generate("casme2", seed=2, subjects=["s15", "s16"], params=params, **QUICK)
    plain = synthetic.generate("casme2", seed=2, subjects=["s15", "s16"], **QUICK)
    neutral = sorted(set(synth.videos["video"]) - set(plain.videos["video"]))
    assert neutral == ["s15_n1", "s15_n2", "s16_n1", "s16_n2"]
    assert not set(neutral) & set(synth.annotations["video"])
    assert {e.kind for p in synth.plans if p.video in neutral for e in p.events} <= {"blink", "head"}
    pd.testing.assert_frame_equal(synth.annotations, plain.annotations)  # the real videos keep their expressions
    ds = load_dataset(synthetic.write(synth, tmp_path / "set"))
    labels = {item.video: np.asarray(item.labels).tolist() for item in ds}
    assert all(labels[v] == [0, 0] for v in neutral) and len(labels) == len(synth)
    with pytest.raises(ValueError, match="neutral_videos"):
        synthetic.SynthParams(neutral_videos=-1)


@pytest.mark.parametrize("preset", ["casme2", "samm_lv"])
def test_durations_and_lengths_in_range(preset):
    p = synthetic.PRESETS[preset]
    synth = synthetic.generate(preset, seed=5, subjects=6, feature_dim=4)
    ann = synth.annotations
    dur = ann["offset"] - ann["onset"] + 1
    me_max = math.floor(0.5 * p.fps)
    assert dur[ann["type"] == "ME"].between(p.me_frames[0], me_max).all()
    assert dur[ann["type"] == "MaE"].between(me_max + 1, p.mae_max).all()
    n = synth.videos.set_index("video")["n_frames"]
    assert (n >= p.frames_range[0]).all()
    assert (ann["offset"] < ann["video"].map(n)).all() and (ann["onset"] >= 0).all()
    ev = synth.events
    for video, grp in ev.groupby("video"):
        grp = grp.sort_values("onset")
        assert (grp["onset"].to_numpy()[1:] > grp["offset"].to_numpy()[:-1]).all(), video  # no overlaps
        assert ((grp["apex"] >= grp["onset"]) & (grp["apex"] <= grp["offset"])).all()


def test_feature_shapes_and_dims(casme2):
    g = casme2.snippet_frames
    for plan in casme2.plans[:4]:
        x = casme2.features(plan.video)
        assert x.dtype == np.float32 and x.shape == (math.ceil(plan.n_frames / g), 32)
        assert np.isfinite(x).all()


def test_expressions_raise_energy_but_so_do_distractors(casme2):
    """The planted events stand out in energy (so the task is not noise) and the distractors stand out
    as much (so thresholding energy cannot tell them apart)."""
    g = casme2.snippet_frames
    peak = {"MaE": [], "ME": [], "blink": [], "head": [], "bg": []}
    for plan in casme2.plans:
        z = energy_scores(casme2.features(plan.video))
        busy = np.zeros(len(z), bool)
        for e in plan.events:
            seg = z[e.onset // g: e.offset // g + 1]
            peak[e.kind].append(seg.max())
            busy[max(0, e.onset // g - 1): e.offset // g + 2] = True
        peak["bg"].extend(z[~busy])
    med = {k: np.median(v) for k, v in peak.items()}
    assert med["MaE"] > med["bg"] + 1 and med["ME"] > med["bg"] + 0.5
    assert med["blink"] > med["bg"] + 0.5 and med["head"] > med["bg"] + 0.5


def test_class_directions_separate_expressions_from_distractors(casme2):
    """A linear read-out exists: along the subject's mean ME direction, ME snippets score above blinks."""
    from mcwes.data.synthetic import _GlobalBasis
    basis = _GlobalBasis(casme2.seed, casme2.feature_dim, casme2.params)
    me_dir, blink_dir = basis.directions["ME"].mean(0), basis.directions["blink"].mean(0)
    g, me, blink = casme2.snippet_frames, [], []
    for plan in casme2.plans:
        x = casme2.features(plan.video)
        x = x - np.median(x, axis=0)
        for e in plan.events:
            seg = x[e.onset // g: e.offset // g + 1]
            if e.kind == "ME":
                me.append((seg @ me_dir).max() - (seg @ blink_dir).max())
            elif e.kind == "blink":
                blink.append((seg @ me_dir).max() - (seg @ blink_dir).max())
    assert len(me) >= 5 and len(blink) >= 5
    assert np.median(me) > np.percentile(blink, 90)


def test_write_then_read_round_trips_exactly(tmp_path, casme2):
    for layout in ("npy", "npz"):
        out = synthetic.write(casme2, tmp_path / layout, layout=layout)
        ds = load_dataset(out, strict=True)
        assert ds.fps == 30 and ds.snippet_frames == 8 and len(ds) == len(casme2)
        pd.testing.assert_frame_equal(ds.ground_truth(), casme2.annotations, check_dtype=False)
        assert not ds.annotation_report.entries and not ds.issues
        for plan in casme2.plans:
            item = ds[plan.video]
            np.testing.assert_array_equal(item.features.numpy(), casme2.features(plan.video))
            assert item.n_frames == plan.n_frames


@pytest.mark.parametrize("preset", ["samm_lv", "casme3"])
def test_other_presets_round_trip(tmp_path, preset):
    synth = synthetic.generate(preset, seed=2, subjects=2, feature_dim=4, frames_range=(800, 1200))
    ds = load_dataset(synthetic.write(synth, tmp_path, layout="npz"), strict=True)
    pd.testing.assert_frame_equal(ds.ground_truth(), synth.annotations, check_dtype=False)
    assert ds.subjects() == sorted(set(synth.videos["subject"]))
    v = synth.plans[0].video
    np.testing.assert_array_equal(ds[v].features.numpy(), synth.features(v))


def test_energy_baseline_is_fooled_by_distractors(casme2):
    """Most of what energy thresholding proposes is not an expression (the benchmark is not trivial)."""
    from mcwes.data import SpottingDataset
    ds = SpottingDataset(dict(casme2.iter_features()), casme2.annotations, fps=casme2.fps,
                         snippet_frames=casme2.snippet_frames, videos=casme2.videos)
    props = energy_baseline(ds, threshold=1.0)
    ev = casme2.events
    hit_kind = []
    for video, on, off in ((q.video, q.onset, q.offset) for q in props):
        e = ev[(ev["video"] == video) & (ev["onset"] <= off) & (ev["offset"] >= on)]
        hit_kind.append(e["kind"].iloc[0] if len(e) else "none")
    kinds = pd.Series(hit_kind).value_counts()
    expressions = kinds.get("MaE", 0) + kinds.get("ME", 0)
    assert expressions > 0 and expressions < 0.5 * len(props)
    assert kinds.get("blink", 0) + kinds.get("head", 0) > expressions / 2


def test_feature_scale_multiplies_the_features_and_nothing_else():
    """The scale is one overall factor: the plan is the same and every value is scaled (up to float32
    rounding), and at the default the features have a real-I3D-like spread (not the unit noise)."""
    unit = synthetic.generate("casme2", seed=5, subjects=2, params=synthetic.SynthParams(feature_scale=1.0), **QUICK)
    small = synthetic.generate("casme2", seed=5, subjects=2, **QUICK)
    pd.testing.assert_frame_equal(unit.events, small.events)
    c = synthetic.SynthParams().feature_scale
    for plan in unit.plans[:3]:
        x1, xc = unit.features(plan.video), small.features(plan.video)
        np.testing.assert_allclose(xc, c * x1, rtol=1e-6, atol=1e-6)
        assert 0.1 < float(np.median(xc.std(axis=0))) < 0.6
    with pytest.raises(ValueError, match="feature_scale"):
        synthetic.SynthParams(feature_scale=0.0)


def test_me_directions_share_the_mae_directions():
    """ME and MaE are the same facial movements (the ME mostly in flow): the ME direction's cosine with
    its MaE direction seen at the ME stream weights is sqrt(share); at 0 they are unrelated. The plan
    (events, lengths) does not depend on the share."""
    def cosines(share):
        synth = synthetic.generate("casme2", seed=4, subjects=2, params=synthetic.SynthParams(me_shared_with_mae=share),
                                   **{**QUICK, "feature_dim": 256})
        basis, d = synth._global, synth.feature_dim
        mae, me = basis.directions["MaE"], basis.directions["ME"]
        wr, wf = synthetic._STREAMS["ME"]
        seen = synthetic._unit(np.concatenate([wr * synthetic._unit(mae[:, :d]), wf * synthetic._unit(mae[:, d:])], axis=1))
        return synth, np.einsum("ij,ij->i", seen, me)

    independent, c0 = cosines(0.0)
    shared, c85 = cosines(0.85)
    assert np.all(np.abs(c0) < 0.3)
    np.testing.assert_allclose(c85, np.sqrt(0.85), atol=0.06)
    pd.testing.assert_frame_equal(independent.events, shared.events)
    for bad in (-0.1, 1.5, "x"):
        with pytest.raises(ValueError, match="me_shared_with_mae"):
            synthetic.SynthParams(me_shared_with_mae=bad)


def test_bad_arguments():
    with pytest.raises(ValueError, match="preset"):
        synthetic.generate("casme4")
    with pytest.raises(ValueError, match="subjects"):
        synthetic.generate("casme2", subjects=0)
    with pytest.raises(ValueError, match="unknown casme2 subjects"):
        synthetic.generate("casme2", subjects=["s99"])
    with pytest.raises(ValueError, match="frames_range"):
        synthetic.generate("casme2", frames_range=(10, 5))
    with pytest.raises(ValueError, match="feature_dim"):
        synthetic.generate("casme2", feature_dim=0)


def test_cli_synth(tmp_path, capsys):
    rc = cli_main(["synth", "--preset", "samm_lv", "--out", str(tmp_path / "s"), "--feature-dim", "4",
                   "--subjects", "2", "--frames", "600", "900", "--layout", "npz", "--seed", "4"])
    assert rc == 0 and "12 videos" in capsys.readouterr().out
    ds = load_dataset(tmp_path / "s", strict=True)
    assert len(ds) == 12 and ds.fps == 200 and ds.snippet_frames == 32
    assert cli_main(["synth", "--out", str(tmp_path / "x"), "--subjects", "99"]) == 1
