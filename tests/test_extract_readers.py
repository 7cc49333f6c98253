"""Reading what the authors' extraction tools write: npz pairs in subject folders, ``frame_cnt`` =
frames − 1; an empty store from a folder that holds something is an error."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mcwes.data import SpottingDataset, open_features
from mcwes.data.features import video_id


def _pair(folder, stem, t, d, frames, rng):  # type: ignore[no-untyped-def]
    folder.mkdir(parents=True, exist_ok=True)
    parts = []
    for stream in ("rgb", "flow"):
        x = rng.standard_normal((1, t, d)).astype(np.float32)  # (crops, T, D), as their files
        np.savez(folder / f"{stem}-{stream}.npz", feature=x, frame_cnt=np.int64(frames - 1), video_name=stem)
        parts.append(x[0])
    return np.concatenate(parts, axis=1)


def test_authors_tree_opens_with_ids_and_frame_counts(tmp_path):
    rng = np.random.default_rng(0)
    a = _pair(tmp_path / "s15", "15_0101disgustingteeth", 5, 4, 44, rng)
    b = _pair(tmp_path / "s23", "23_0503funny", 3, 4, 30, rng)
    store = open_features(tmp_path)
    assert store.layout == "npz" and list(store) == ["s15_0101", "s23_0503"]
    np.testing.assert_array_equal(store["s15_0101"], a)
    np.testing.assert_array_equal(store["s23_0503"], b)
    assert store.frame_count("s15_0101") == 44 and store.frame_count("s23_0503") == 30
    gt = pd.DataFrame({"video": ["s15_0101", "s23_0503"], "subject": ["s15", "s23"], "onset": [30, 3],
                       "offset": [43, 9], "type": ["MaE", "ME"]})
    ds = SpottingDataset(store, gt, preset="casme2")
    assert not ds.issues  # the interval ending on the last frame (43 of 44) is kept whole
    assert ds["s15_0101"].intervals.tolist() == [[30, 43]] and ds.n_frames("s15_0101") == 44


def test_a_missing_stream_in_a_subject_folder_is_named(tmp_path):
    rng = np.random.default_rng(1)
    _pair(tmp_path / "s16", "16_0102", 2, 4, 20, rng)
    (tmp_path / "s16" / "16_0102-flow.npz").unlink()
    with pytest.raises(ValueError, match=r"holds no videos of the npz layout: video 's16_0102' left out: "
                                         r"16_0102-flow\.npz is missing"):
        open_features(tmp_path, layout="npz")


def test_video_ids():
    assert video_id("s15", "15_0101disgustingteeth") == "s15_0101"
    assert video_id("", "15_0101disgustingteeth") == "15_0101disgustingteeth"
    assert video_id("006", "006_1") == "006_1"  # SAMM-LV names stay as they are
    assert video_id("s15", "clip") == "clip"


@pytest.mark.parametrize("layout,want", [("npy", r"<video>\.npy files"), ("npz", r"<video>-rgb\.npz / <video>-flow\.npz pairs")])
def test_empty_store_from_a_non_empty_folder_is_an_error(tmp_path, layout, want):
    (tmp_path / "s15").mkdir()
    (tmp_path / "s15" / "15_0101.mat").write_bytes(b"x")
    (tmp_path / "README.txt").write_text("features")
    with pytest.raises(ValueError, match=rf"holds no videos of the {layout} layout: ") as info:
        open_features(tmp_path, layout=layout)
    assert "README.txt" in str(info.value) and "s15" in str(info.value)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert len(open_features(empty, layout=layout)) == 0  # a new, empty folder is still an empty store


def test_dataset_trees_give_the_annotation_ids(tmp_path):
    from PIL import Image

    from mcwes.extract import find_videos

    def frames(folder, names):  # type: ignore[no-untyped-def]
        folder.mkdir(parents=True)
        for n in names:
            Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(folder / n)

    casme2 = tmp_path / "longVideoFaceCropped"
    frames(casme2 / "s15" / "15_0101disgustingteeth", ["img1.jpg", "img2.jpg"])
    frames(casme2 / "s40" / "40_0401girlcrashing", ["img1.jpg"])
    casme3 = tmp_path / "part_A"
    frames(casme3 / "spNO.1" / "a" / "color", ["0.jpg", "1.jpg"])
    frames(casme3 / "spNO.1" / "a" / "depth", ["0.png"])
    frames(casme3 / "spNO.10" / "b" / "color", ["1.jpg"])
    samm = tmp_path / "SAMM"
    frames(samm / "006_1", ["006_1_0001.jpg"])
    (samm / "clip.mp4").write_bytes(b"")
    got = {v.video: (v.subject, v.stem) for v in find_videos([casme2, casme3, samm])}
    assert got == {"s15_0101": ("s15", "15_0101disgustingteeth"), "s40_0401": ("s40", "40_0401girlcrashing"),
                   "spNO.1_a": ("spNO.1", "a"), "spNO.10_b": ("spNO.10", "b"), "006_1": ("", "006_1"),
                   "clip": ("", "clip")}
    (tmp_path / "dup").mkdir()
    (tmp_path / "dup" / "clip.avi").write_bytes(b"")
    with pytest.raises(ValueError, match=r"two inputs would both be video 'clip'"):
        find_videos([samm, tmp_path / "dup"])
