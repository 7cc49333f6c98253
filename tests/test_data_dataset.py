"""SpottingDataset: joining features and annotations, labels, LOSO, ground truth, batching."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from mcwes.data import COLUMNS, SpottingDataset, collate, open_features


def _feats(lengths, d=3, seed=0):
    rng = np.random.default_rng(seed)
    return {v: rng.standard_normal((t, 2 * d)).astype(np.float32) for v, t in lengths.items()}


ANN = pd.DataFrame([
    ("a1", "A", 0, 10, "MaE"), ("a1", "A", 30, 34, "ME"),
    ("a2", "A", 5, 40, "MaE"),
    ("b1", "B", 2, 6, "ME"),
    ("c1", "C", 8, 60, "MaE"),
], columns=list(COLUMNS))
LENGTHS = {"a1": 10, "a2": 12, "b1": 4, "c1": 9}


@pytest.fixture
def ds():
    return SpottingDataset(_feats(LENGTHS), ANN, fps=30, snippet_frames=8)


def test_items_labels_and_intervals(ds):
    assert len(ds) == 4 and ds.videos == ["a1", "a2", "b1", "c1"]
    it = ds["a1"]
    assert it.subject == "A" and it.length == 10 and it.features.dtype == torch.float32
    np.testing.assert_array_equal(it.features.numpy(), _feats(LENGTHS)["a1"])
    assert it.labels.tolist() == [1.0, 1.0]
    assert it.intervals.tolist() == [[0, 10], [30, 34]] and it.interval_labels.tolist() == [0, 1]
    assert ds["b1"].labels.tolist() == [0.0, 1.0] and ds[3].labels.tolist() == [1.0, 0.0]
    np.testing.assert_array_equal(ds.labels(), [[1, 1], [1, 0], [0, 1], [1, 0]])
    assert ds.n_frames("a1") == 80  # T * g when nothing better is known
    it.features.zero_()
    assert ds["a1"].features.abs().sum() > 0  # items are copies
    with pytest.raises(KeyError, match="zz"):
        ds["zz"]
    with pytest.raises(IndexError):
        ds[4]


def test_frame_counts_and_gt_fitting():
    ann = pd.concat([ANN, pd.DataFrame([("d1", "D", 10, 40, "MaE"), ("d1", "D", 100, 120, "ME")],
                                       columns=list(COLUMNS))], ignore_index=True)
    feats = _feats({**LENGTHS, "d1": 2})
    est = SpottingDataset(feats, ann, fps=30, snippet_frames=8)
    assert est.n_frames("d1") == 121 and any("d1" in m and "estimated" in m for m in est.issues)
    videos = pd.DataFrame({"video": list(LENGTHS) + ["d1"], "subject": ["A", "A", "B", "C", "D"],
                           "n_frames": [80, 96, 32, 72, 30]})
    known = SpottingDataset(feats, ann, fps=30, snippet_frames=8, videos=videos)
    gt = known.ground_truth()
    assert gt[gt["video"] == "d1"][["onset", "offset"]].values.tolist() == [[10, 29]]  # clipped; other dropped
    assert sum("d1" in m for m in known.issues) == 2 and known.n_frames("d1") == 30


def test_video_table_adds_expression_free_videos_and_subjects():
    feats = _feats({**LENGTHS, "e1": 5})
    plain = SpottingDataset(feats, ANN, fps=30, snippet_frames=8)
    assert plain.unmatched_features == ["e1"] and "e1" not in plain.videos
    videos = pd.DataFrame({"video": list(LENGTHS) + ["e1"], "subject": ["A", "A", "B", "C", "B"]})
    ds = SpottingDataset(feats, ANN, fps=30, snippet_frames=8, videos=videos)
    assert "e1" in ds.videos and ds["e1"].labels.tolist() == [0.0, 0.0] and ds["e1"].intervals.shape == (0, 2)
    assert ds.unmatched_features == [] and ds.subset("B").videos == ["b1", "e1"]
    bad = videos.assign(subject=["A", "X", "B", "C", "B"])
    with pytest.raises(ValueError, match="'a2' has subject 'A' in the annotations but 'X'"):
        SpottingDataset(feats, ANN, fps=30, snippet_frames=8, videos=bad)


def test_unmatched_videos_are_listed_or_fatal_when_strict():
    feats = _feats({"a1": 10, "b1": 4, "x9": 3})
    ds = SpottingDataset(feats, ANN, fps=30, snippet_frames=8)
    assert ds.missing_features == ["a2", "c1"] and ds.unmatched_features == ["x9"]
    assert ds.videos == ["a1", "b1"]
    with pytest.raises(ValueError, match=r"2 videos with annotations but no features: \['a2', 'c1'\]"):
        SpottingDataset(feats, ANN, fps=30, snippet_frames=8, strict=True)
    with pytest.raises(ValueError, match=r"features but no annotation row: \['x9'\]"):
        SpottingDataset(feats, ANN[ANN["video"].isin(["a1", "b1"])], fps=30, snippet_frames=8, strict=True)


def test_loso_folds_partition_subjects(ds):
    folds = list(ds.loso_folds())
    assert [f.subject for f in folds] == ["A", "B", "C"] == ds.subjects()
    for f in folds:
        assert f.test.subjects() == [f.subject] and f.subject not in f.train.subjects()
        assert sorted(f.train.videos + f.test.videos) == ds.videos
        assert set(f.test.ground_truth()["subject"]) == {f.subject}
    pooled = pd.concat([f.test.ground_truth() for f in folds], ignore_index=True)
    pd.testing.assert_frame_equal(pooled, ds.ground_truth())
    train, test = ds.split(["A", "C"])
    assert train.videos == ["b1"] and test.videos == ["a1", "a2", "c1"]
    with pytest.raises(ValueError, match="unknown subjects"):
        ds.subset(["Q"])


def test_collate_pads_with_zeros(ds):
    b = collate([ds[0], ds["b1"]])
    assert b.features.shape == (2, 10, 6) and b.lengths.tolist() == [10, 4]
    assert b.features[1, 4:].abs().sum() == 0 and torch.equal(b.features[1, :4], ds["b1"].features)
    assert b.labels.tolist() == [[1, 1], [0, 1]] and b.videos == ["a1", "b1"] and b.n_frames.tolist() == [80, 32]


def test_from_paths_with_a_preset(tmp_path):
    for v, x in _feats(LENGTHS, d=2).items():
        np.save(tmp_path / f"{v}.npy", x)
    csv = tmp_path / "gt.csv"
    ANN.assign(onset=ANN["onset"] + 1, offset=ANN["offset"] + 1).to_csv(csv, index=False)
    ds = SpottingDataset(tmp_path, csv, preset="samm_lv", feature_dim=2)
    assert ds.fps == 200 and ds.snippet_frames == 32 and len(ds) == 4
    pd.testing.assert_frame_equal(ds.ground_truth(), ANN.sort_values(["video", "onset"]).reset_index(drop=True),
                                  check_dtype=False)
    assert isinstance(ds.features, type(open_features(tmp_path)))
    with pytest.raises(ValueError, match=r"expected width 2D = 8"):
        SpottingDataset(tmp_path, csv, preset="samm_lv", feature_dim=4)[0]


def test_bad_arguments():
    feats = _feats(LENGTHS)
    with pytest.raises(ValueError, match="fps"):
        SpottingDataset(feats, ANN, snippet_frames=8)
    with pytest.raises(ValueError, match="preset"):
        SpottingDataset(feats, ANN, preset="ck+")
    with pytest.raises(ValueError, match="missing"):
        SpottingDataset(feats, ANN.drop(columns="type"), fps=30, snippet_frames=8)
    with pytest.raises(ValueError, match="type"):
        SpottingDataset(feats, ANN.assign(type="micro"), fps=30, snippet_frames=8)
    with pytest.raises(ValueError, match="onset <= offset"):
        SpottingDataset(feats, ANN.assign(offset=0), fps=30, snippet_frames=8)
