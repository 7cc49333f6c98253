"""mcwes.spot / load: inputs of every form, batch = one by one, frames inside the video, bad input."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import mcwes
from mcwes import Config, MCWES, inference

D = 8


@pytest.fixture(scope="module")
def model() -> MCWES:
    torch.manual_seed(0)
    return MCWES(Config.preset("casme2", model={"feature_dim": D}, spot={"score_threshold": 0.0})).eval()


@pytest.fixture(autouse=True)
def _no_default(monkeypatch):
    monkeypatch.delenv(inference.CHECKPOINT_ENV, raising=False)
    inference.set_default_model(None)
    yield
    inference.set_default_model(None)


def videos(lengths, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((T, 2 * D)).astype(np.float32) for T in lengths]


def key(props):
    return [(p.video, p.onset, p.offset, round(p.score, 4), p.label, p.model_label) for p in props]


def test_single_video_numpy_and_torch_agree(model):
    (v,) = videos([60])
    a = mcwes.spot(v, model)
    b = mcwes.spot(torch.from_numpy(v), model)
    assert isinstance(a, list) and key(a) == key(b)
    assert a, "a random model with score threshold 0 still yields proposals"
    for p in a:
        assert p.model_label in ("MaE", "ME") and p.label in ("MaE", "ME")
        assert p.label == ("ME" if p.offset - p.onset + 1 <= 15 else "MaE")


def test_batch_equals_one_by_one(model):
    vs = videos([40, 73, 1, 25], seed=1)
    batched = mcwes.spot(vs, model, names=["a", "b", "c", "d"])
    singles = [mcwes.spot(v, model, names=n) for v, n in zip(vs, "abcd")]
    assert [key(b) for b in batched] == [key(s) for s in singles]
    padded = torch.zeros(4, 73, 2 * D)
    for i, v in enumerate(vs):
        padded[i, : len(v)] = torch.from_numpy(v)
    from_padded = mcwes.spot(padded, model, lengths=[40, 73, 1, 25], names=list("abcd"))
    assert [key(b) for b in from_padded] == [key(s) for s in singles]


def test_spot_videos_chunks_and_pools_in_order(model, tmp_path):
    vs = videos([40, 73, 1, 25, 33], seed=2)
    names = list("abcde")
    pooled = inference.spot_videos(vs, model, names=names, n_frames=[320, 590, 8, 200, 264], batch_size=2)
    singles = [mcwes.spot(v, model, names=n, n_frames=f) for v, n, f in zip(vs, names, [320, 590, 8, 200, 264])]
    assert key(pooled) == [k for s in singles for k in key(s)]
    with pytest.raises(ValueError, match="mcwes.spot_videos: expected batch_size"):
        inference.spot_videos(vs, model, names=names, batch_size=0)
    with pytest.raises(ValueError, match="mcwes.spot_videos: expected one name"):
        inference.spot_videos(vs, model, names=names[:2])
    from mcwes.plot import plot_videos

    written = plot_videos(tmp_path, list(zip(names, vs)), model, pooled, fps=30.0, snippet_frames=8, batch_size=3)
    assert [p.name for p in written] == [f"{n}.png" for n in names] and all(p.stat().st_size > 0 for p in written)


def test_frames_never_exceed_the_video(model):
    vs = videos([30, 50], seed=2)
    n_frames = [30 * 8 - 5, 50 * 8 - 1]
    for props, n in zip(mcwes.spot(vs, model, n_frames=n_frames), n_frames):
        for p in props:
            assert 0 <= p.onset <= p.offset <= n - 1
            assert p.onset % 8 == 0


def test_overrides_and_multi_threshold(model):
    (v,) = videos([80], seed=3)
    strict = mcwes.spot(v, model, score_threshold=5.0)
    assert all(p.score >= 5.0 for p in strict)
    multi = mcwes.spot(v, model, postprocess="multi_threshold")
    assert all(p.score >= 0.0 for p in multi)
    with pytest.raises(ValueError, match="unknown options"):
        mcwes.spot(v, model, not_an_option=1)


def test_empty_video_gives_no_proposals(model):
    assert mcwes.spot(np.zeros((0, 2 * D), np.float32), model) == []


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda m: mcwes.spot(np.zeros((10, 2 * D + 1), np.float32), m), "expected features with 16 channels"),
        (lambda m: mcwes.spot([], m), "expected at least one video, got an empty list"),
        (lambda m: mcwes.spot(np.full((10, 2 * D), np.nan, np.float32), m), "expected finite features"),
        (lambda m: mcwes.spot(np.zeros((10, 2 * D), np.float32), m, fps=0), "expected fps to be a finite number > 0"),
        (lambda m: mcwes.spot(np.zeros((10, 2 * D), np.float32), m, snippet_frames=0), "expected snippet_frames"),
        (lambda m: mcwes.spot(torch.zeros(2, 5, 2 * D), m, lengths=[5, 6]), r"expected lengths to lie in \[0, 5\]"),
        (lambda m: mcwes.spot(np.zeros((3, 4, 5, 6)), m), "expected features of shape"),
        (lambda m: mcwes.spot(np.zeros((10, 2 * D), np.float32), m, n_frames=[5]), "expected n_frames of video 0"),
    ],
)
def test_bad_input(model, call, message):
    with pytest.raises(ValueError, match=message):
        call(model)


def test_no_model_says_how_to_get_one():
    with pytest.raises(ValueError, match="mcwes.load.*MCWES_CHECKPOINT.*mcwes train"):
        mcwes.spot(np.zeros((10, 2 * D), np.float32))


def test_load_and_environment_set_the_default(model, tmp_path, monkeypatch):
    path = mcwes.save_checkpoint(tmp_path / "ck.pt", model, model.config)
    (v,) = videos([50], seed=4)
    expected = key(mcwes.spot(v, model))
    mcwes.load(path)
    assert key(mcwes.spot(v)) == expected
    inference.set_default_model(None)
    monkeypatch.setenv(inference.CHECKPOINT_ENV, str(path))
    assert key(mcwes.spot(v)) == expected
    assert key(mcwes.spot(v, str(path))) == expected
