"""Feature readers: the three on-disk layouts, laziness, and errors that name the file."""
from __future__ import annotations

import numpy as np
import pytest

from mcwes.data import MissingVideoError, open_features


def _feat(rng, t, d):
    return rng.standard_normal((t, 2 * d)).astype(np.float32)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_npy_dir_is_memory_mapped_and_exact(tmp_path, rng):
    x = {"s15_0101": _feat(rng, 7, 4), "s15_0102": _feat(rng, 1, 4)}
    for k, v in x.items():
        np.save(tmp_path / f"{k}.npy", v)
    store = open_features(tmp_path)
    assert store.layout == "npy" and sorted(store) == sorted(x) and len(store) == 2
    got = store["s15_0101"]
    assert isinstance(got, np.memmap) and got.dtype == np.float32
    np.testing.assert_array_equal(got, x["s15_0101"])
    assert store.length("s15_0102") == 1 and store.feature_dim == 4
    assert "nope" not in store and store.get("nope") is None


def test_npy_float64_is_converted(tmp_path, rng):
    np.save(tmp_path / "v.npy", _feat(rng, 3, 2).astype(np.float64))
    assert open_features(tmp_path)["v"].dtype == np.float32


def test_npz_pairs_with_crops_are_averaged(tmp_path, rng):
    rgb = rng.standard_normal((10, 5, 3)).astype(np.float32)  # (crops, T, D)
    flow = rng.standard_normal((10, 5, 3)).astype(np.float32)
    np.savez(tmp_path / "006_1-rgb.npz", feature=rgb, frame_cnt=np.int64(40), video_name="006_1")
    np.savez(tmp_path / "006_1-flow.npz", feature=flow, frame_cnt=np.int64(40), video_name="006_1")
    flat = rng.standard_normal((4, 3)).astype(np.float32)  # [T, D]
    np.savez(tmp_path / "006_2-rgb.npz", feature=flat)
    np.savez(tmp_path / "006_2-flow.npz", feature=flat + 1)
    store = open_features(tmp_path, feature_dim=3)
    assert store.layout == "npz" and list(store) == ["006_1", "006_2"]
    want = np.concatenate([rgb.mean(0), flow.mean(0)], axis=1)
    np.testing.assert_allclose(store["006_1"], want, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(store["006_2"], np.concatenate([flat, flat + 1], axis=1))
    assert store.frame_count("006_1") == 41 and store.frame_count("006_2") is None


def test_npz_missing_stream_is_listed_and_named(tmp_path, rng):
    np.savez(tmp_path / "a-rgb.npz", feature=_feat(rng, 3, 2)[:, :2])
    np.savez(tmp_path / "b-rgb.npz", feature=_feat(rng, 3, 2)[:, :2])
    np.savez(tmp_path / "b-flow.npz", feature=_feat(rng, 3, 2)[:, :2])
    store = open_features(tmp_path)
    assert list(store) == ["b"] and "a" in store.incomplete
    with pytest.raises(MissingVideoError, match="a-flow.npz is missing"):
        store["a"]


def test_pickled_object_array_with_names_file(tmp_path, rng):
    feats = [_feat(rng, 5, 3), _feat(rng, 2, 3), _feat(rng, 9, 3)]
    arr = np.empty(3, dtype=object)
    arr[:] = feats
    np.save(tmp_path / "CASME2-I3D-JOINTFeatures.npy", arr, allow_pickle=True)
    np.save(tmp_path / "CASME2-names.npy", np.array([b"v1", b"v2", b"v3"]))
    store = open_features(tmp_path / "CASME2-I3D-JOINTFeatures.npy")
    assert store.layout == "pickle" and list(store) == ["v1", "v2", "v3"]
    for name, f in zip(store, feats):
        np.testing.assert_array_equal(store[name], f)
    (tmp_path / "n.txt").write_text("a\nb\n")
    with pytest.raises(ValueError, match="holds 3 videos but n.txt lists 2"):
        open_features(tmp_path / "CASME2-I3D-JOINTFeatures.npy", names=tmp_path / "n.txt")


def test_missing_video_error_names_the_video_and_the_place(tmp_path, rng):
    np.save(tmp_path / "s15_0101.npy", _feat(rng, 3, 2))
    store = open_features(tmp_path)
    with pytest.raises(KeyError) as info:
        store["s15_0102"]
    assert "s15_0102" in str(info.value) and str(tmp_path) in str(info.value)


def test_wrong_width_names_the_file(tmp_path, rng):
    np.save(tmp_path / "a.npy", _feat(rng, 3, 4))
    np.save(tmp_path / "b.npy", _feat(rng, 3, 5))
    with pytest.raises(ValueError, match=r"b\.npy.*width 2D = 8.*got 10"):
        open_features(tmp_path)["b"]
    with pytest.raises(ValueError, match=r"a\.npy.*width 2D = 2048"):
        open_features(tmp_path, feature_dim=1024)["a"]
    np.save(tmp_path / "c.npy", np.zeros((3, 5), np.float32) + 1)
    with pytest.raises(ValueError, match=r"c\.npy.*even width"):
        open_features(tmp_path, feature_dim=4)["c"]


def test_too_short_and_bad_shapes_name_the_file(tmp_path):
    np.save(tmp_path / "empty.npy", np.zeros((0, 8), np.float32))
    np.save(tmp_path / "flat.npy", np.ones(8, np.float32))
    store = open_features(tmp_path, feature_dim=4)
    with pytest.raises(ValueError, match=r"empty\.npy.*T >= 1"):
        store["empty"]
    with pytest.raises(ValueError, match=r"flat\.npy.*\[T, 2D\]"):
        store["flat"]


def test_non_finite_values_name_the_file(tmp_path, rng):
    x = _feat(rng, 4, 2)
    x[2, 1] = np.nan
    np.save(tmp_path / "nan.npy", x)
    with pytest.raises(ValueError, match=r"nan\.npy.*NaN"):
        open_features(tmp_path)["nan"]


def test_truncated_npy_names_the_file(tmp_path, rng):
    np.save(tmp_path / "good.npy", _feat(rng, 50, 4))
    raw = (tmp_path / "good.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(raw[: len(raw) // 2])
    (tmp_path / "junk.npy").write_bytes(b"not numpy at all")
    store = open_features(tmp_path, feature_dim=4)
    with pytest.raises(ValueError, match=r"cut\.npy"):
        store["cut"]
    with pytest.raises(ValueError, match=r"junk\.npy"):
        store["junk"]


def test_truncated_npz_names_the_file(tmp_path, rng):
    np.savez(tmp_path / "v-rgb.npz", feature=_feat(rng, 20, 2)[:, :2])
    np.savez(tmp_path / "v-flow.npz", feature=_feat(rng, 20, 2)[:, :2])
    raw = (tmp_path / "v-flow.npz").read_bytes()
    (tmp_path / "v-flow.npz").write_bytes(raw[:60])
    with pytest.raises(ValueError, match=r"v-flow\.npz"):
        open_features(tmp_path, feature_dim=2)["v"]


def test_npz_without_feature_key(tmp_path, rng):
    np.savez(tmp_path / "v-rgb.npz", feats=_feat(rng, 2, 2))
    np.savez(tmp_path / "v-flow.npz", feats=_feat(rng, 2, 2))
    with pytest.raises(ValueError, match=r"v-rgb\.npz.*'feature'"):
        open_features(tmp_path)["v"]


def test_bad_arguments(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        open_features(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="layout"):
        open_features(tmp_path, layout="hdf5")
    with pytest.raises(ValueError, match="feature_dim"):
        open_features(tmp_path, feature_dim=0)
