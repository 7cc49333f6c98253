"""Flow: backends, clipping, the authors' uint8 JPEG round trip, and flow on the synthetic face."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

import mcwes
from mcwes.extract import TVL1Params
from mcwes.extract import synthetic as S
from mcwes.extract.flow import flow_to_i3d, make_flow_fn, resolve_backend


@pytest.mark.parametrize("c", [-20.0, -15.0, -7.3, -0.04, 0.0, 0.06, 3.3, 14.9, 15.0, 40.0])
def test_jpeg_round_trip_quantises_as_the_authors(c):
    bound = 15.0
    flow = np.full((2, 12, 12), c, np.float32)
    flow[1] = -c
    got = flow_to_i3d(flow, bound, 12, jpeg=True)
    for ch, value in enumerate((c, -c)):
        q = min(max(round((value + bound) * 255 / (2 * bound)), 0), 255)  # a flat image survives JPEG exactly
        np.testing.assert_allclose(got[ch], q * 2 / 255 - 1, rtol=0, atol=1e-6)


def test_float_flow_is_clipped_and_scaled_and_resized():
    rng = np.random.default_rng(0)
    flow = (rng.standard_normal((2, 20, 30)) * 12).astype(np.float32)
    same = flow_to_i3d(flow[:, :20, :20], 15.0, 20, jpeg=False)
    np.testing.assert_allclose(same, np.clip(flow[:, :20, :20], -15, 15) / 15, rtol=0, atol=1e-6)
    out = flow_to_i3d(flow, 15.0, 16, jpeg=False)
    assert out.shape == (2, 16, 16) and out.dtype == np.float32 and np.abs(out).max() <= 1.0
    jpeg = flow_to_i3d(flow[:, :20, :20], 15.0, 20, jpeg=True)
    assert np.abs(jpeg - same).mean() < 0.03  # quantisation + JPEG q95: small


def test_opencv_flow_follows_the_planted_movement():
    v = S.synthetic_video(20, 48, drift=0.0, blinks=[], seed=1)
    m = v.movements[0]
    gray = v.frames.mean(axis=3).round().astype(np.uint8)
    fn = make_flow_fn("opencv", TVL1Params())
    before = fn(gray[:2], gray[1:3])  # static frames
    assert np.abs(before).max() < 0.05
    t = m.onset + 1
    f = fn(gray[t : t + 1], gray[t + 1 : t + 2])[0]
    mag = np.hypot(f[0], f[1])
    cy, cx = int(m.center[1] * 48), int(m.center[0] * 48)
    near = mag[cy - 3 : cy + 4, cx - 3 : cx + 4].mean()
    far = mag[:12, :].mean()
    assert near > 0.2 and near > 5 * far
    # direction: the bump moves along (dx, dy) = direction
    assert f[0, cy - 3 : cy + 4, cx - 3 : cx + 4].mean() > 0 and f[1, cy - 3 : cy + 4, cx - 3 : cx + 4].mean() < 0


def test_backend_choice(monkeypatch):
    if not hasattr(mcwes.ops, "tvl1_flow"):
        assert resolve_backend("auto") == "opencv"
        with pytest.raises(ValueError, match=r'flow_backend="mcwes" needs mcwes\.ops\.tvl1_flow'):
            make_flow_fn("mcwes", TVL1Params())
    calls = []
    cv = make_flow_fn("opencv", TVL1Params())

    def fake_tvl1_flow(prev, nxt, **kw):  # the op's contract: float32 [N, H, W] in, [N, 2, H, W] out
        calls.append(kw)
        assert prev.dtype == torch.float32 and prev.shape == nxt.shape and prev.ndim == 3
        return torch.from_numpy(cv(prev.numpy().astype(np.uint8), nxt.numpy().astype(np.uint8)))

    monkeypatch.setattr(mcwes.ops, "tvl1_flow", fake_tvl1_flow, raising=False)
    assert resolve_backend("auto") == "mcwes"
    rng = np.random.default_rng(2)
    a = rng.integers(0, 256, (3, 16, 16), dtype=np.uint8)
    b = np.roll(a, 1, axis=2)
    got = make_flow_fn("mcwes", TVL1Params())(a, b)
    np.testing.assert_array_equal(got, cv(a, b))
    assert calls == [dataclasses.asdict(TVL1Params())]
