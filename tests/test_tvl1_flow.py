"""tvl1_flow vs its float64 twin, vs OpenCV contrib's DualTVL1 (same algorithm) and vs ground truth on
synthetic warps; batching, strides, dtypes, threads, CUDA, bad input."""
from __future__ import annotations

import importlib
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

import mcwes
from conftest import requires_cuda
from mcwes import ops, reference
from mcwes._ext import CPU_ISAS, _C

tvl1_module = importlib.import_module("mcwes.ops.tvl1_flow")  # the module (mcwes.ops.tvl1_flow is the function)

cv2 = pytest.importorskip("cv2", reason="the test extra installs opencv-contrib-python-headless")

# ------------------------------------------------------------------------------------------------
# frames


def textured(h: int, w: int, seed: int) -> np.ndarray:
    """Smooth random texture on 0..255 (float64): a sum of random plane waves (periods 5–40 px)."""
    rng = np.random.default_rng(seed)
    return _waves(rng, 24)(np.mgrid[0:h, 0:w][1].astype(np.float64), np.mgrid[0:h, 0:w][0].astype(np.float64))


def _waves(rng: np.random.Generator, k: int):
    """An analytic texture f(x, y) on 0..255, to be evaluated anywhere (exact synthetic warps)."""
    freq = rng.uniform(2 * math.pi / 40, 2 * math.pi / 5, k)
    angle = rng.uniform(0, 2 * math.pi, k)
    phase = rng.uniform(0, 2 * math.pi, k)
    amp = rng.uniform(0.5, 1.0, k)
    scale = 127.0 / amp.sum() * 1.8

    def f(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        v = np.zeros_like(x)
        for fr, an, ph, a in zip(freq, angle, phase, amp):
            v += a * np.sin(fr * (np.cos(an) * x + np.sin(an) * y) + ph)
        return np.clip(127.5 + scale * v, 0.0, 255.0)

    return f


def frames(kind: str, h: int, w: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A (prev, next) float64 pair of the given content kind."""
    rng = np.random.default_rng(seed)
    if kind == "constant":
        c = float(rng.uniform(0, 255))
        return np.full((h, w), c), np.full((h, w), float(rng.uniform(0, 255)))
    if kind == "noise":
        return rng.uniform(0, 255, (h, w)), rng.uniform(0, 255, (h, w))
    f = _waves(rng, 12)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    dx, dy = rng.uniform(-1.5, 1.5, 2)
    return f(xx, yy), f(xx - dx, yy - dy)


def as_tensor(a: np.ndarray, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    if dtype == torch.uint8:
        return torch.from_numpy(np.clip(np.rint(a), 0, 255).astype(np.uint8))
    return torch.from_numpy(a.astype(np.float32))


def opencv_flow(prev_u8: np.ndarray, next_u8: np.ndarray) -> np.ndarray:
    # A fresh object per call: calc() lowers the object's own nscales for small frames and keeps it.
    return cv2.optflow.DualTVL1OpticalFlow_create().calc(prev_u8, next_u8, None).transpose(2, 0, 1)


# ------------------------------------------------------------------------------------------------
# the twin


@settings(max_examples=25)
@given(h=st.integers(1, 22), w=st.integers(1, 22), kind=st.sampled_from(["waves", "noise", "constant"]),
       seed=st.integers(0, 2**31), nscales=st.integers(1, 3), warps=st.integers(1, 2), inner=st.integers(1, 6),
       outer=st.integers(1, 3), median=st.sampled_from([0, 3, 5]), gamma=st.sampled_from([0.0, 0.05]),
       scale_step=st.sampled_from([0.5, 0.8]), uint8=st.booleans(), non_contig=st.booleans())
def test_matches_reference(h, w, kind, seed, nscales, warps, inner, outer, median, gamma, scale_step, uint8,
                           non_contig):
    a, b = frames(kind, h, w, seed)
    if uint8:
        a, b = np.rint(a), np.rint(b)
    a, b = a.astype(np.float32).astype(np.float64), b.astype(np.float32).astype(np.float64)
    dtype = torch.uint8 if uint8 else torch.float32
    ta, tb = as_tensor(a, dtype), as_tensor(b, dtype)
    if non_contig:  # transposed storage and a column stride of 2
        ta = as_tensor(np.repeat(a, 2, axis=1), dtype).t().contiguous().t()[:, ::2]
        tb = as_tensor(np.repeat(b, 2, axis=1), dtype).t().contiguous().t()[:, ::2]
        assert torch.equal(ta, as_tensor(a, dtype)) and (min(h, w) == 1 or not ta.is_contiguous())
    # epsilon = 0: the twin and the kernel run the same number of iterations (with epsilon > 0, float32
    # and float64 may stop one iteration apart on a borderline; see the next test).
    kw = dict(nscales=nscales, warps=warps, inner_iterations=inner, outer_iterations=outer,
              median_filtering=median, gamma=gamma, scale_step=scale_step, epsilon=0.0)
    got = ops.tvl1_flow(ta, tb, **kw)
    want = reference.tvl1_flow(a, b, **kw)
    assert got.shape == (2, h, w) and got.dtype == torch.float32
    np.testing.assert_allclose(got.double().numpy(), want, rtol=1e-3, atol=2e-3)


def test_default_parameters_match_reference():
    # Default parameters, stopping rule included: float32 and float64 may stop at different iterations
    # on a borderline, so the comparison is the statistical one used against OpenCV.
    a, b = frames("waves", 40, 36, 7)
    got = ops.tvl1_flow(as_tensor(a), as_tensor(b)).double().numpy()
    want = reference.tvl1_flow(a.astype(np.float32).astype(np.float64), b.astype(np.float32).astype(np.float64))
    diff = np.abs(got - want)[:, 2:-2, 2:-2]
    assert diff.mean() <= 0.02 and np.percentile(diff, 99) <= 0.1, (diff.mean(), np.percentile(diff, 99))


def test_reference_matches_opencv():
    # The twin is the specification: it follows OpenCV's DualTVL1 (checked here on its own).
    a, b = frames("waves", 48, 44, 3)
    a8, b8 = np.rint(a).astype(np.uint8), np.rint(b).astype(np.uint8)
    diff = np.abs(reference.tvl1_flow(a8.astype(np.float64), b8.astype(np.float64)) - opencv_flow(a8, b8))[:, 2:-2, 2:-2]
    assert diff.mean() <= 0.02 and np.percentile(diff, 99) <= 0.1, (diff.mean(), np.percentile(diff, 99))


# ------------------------------------------------------------------------------------------------
# every instruction-set copy of the row loops (scalar, AVX2 + FMA, AVX-512; those this CPU has)

SUPPORTED_ISAS = CPU_ISAS[: CPU_ISAS.index(_C.cpu_isa_supported()) + 1]


@pytest.mark.parametrize("isa", SUPPORTED_ISAS)
def test_every_instruction_set_matches_reference_and_threads_agree(isa):
    previous = mcwes.set_cpu_isa(isa)
    threads = torch.get_num_threads()
    try:
        assert mcwes.cpu_isa() == isa
        # Wide enough rows for full vectors plus tails; medians of every size, gamma on and off.
        for seed, (median, gamma) in enumerate([(5, 0.0), (3, 0.05), (7, 0.0)]):
            a, b = frames("waves", 41, 53, seed)
            a, b = a.astype(np.float32).astype(np.float64), b.astype(np.float32).astype(np.float64)
            kw = dict(nscales=2, warps=2, inner_iterations=5, outer_iterations=2, median_filtering=median,
                      gamma=gamma, epsilon=0.0)
            got = ops.tvl1_flow(as_tensor(a), as_tensor(b), **kw)
            np.testing.assert_allclose(got.double().numpy(), reference.tvl1_flow(a, b, **kw), rtol=1e-3, atol=2e-3)
        pairs = [frames("waves", 36, 45, s) for s in range(3)]
        prev = torch.stack([as_tensor(a) for a, _ in pairs])
        nxt = torch.stack([as_tensor(b) for _, b in pairs])
        torch.set_num_threads(1)
        one = ops.tvl1_flow(prev, nxt)
        torch.set_num_threads(2)
        assert torch.equal(ops.tvl1_flow(prev, nxt), one)
    finally:
        torch.set_num_threads(threads)
        mcwes.set_cpu_isa(previous)


# ------------------------------------------------------------------------------------------------
# batching, threads, strides, dtypes


@pytest.mark.parametrize("row_split", [0, 1])
def test_batched_equals_pair_by_pair_and_threads_agree(monkeypatch, row_split):
    monkeypatch.setattr(tvl1_module, "_ROW_SPLIT", row_split)
    pairs = [frames("waves", 29, 33, s) for s in range(3)]
    prev = torch.stack([as_tensor(a) for a, _ in pairs])
    nxt = torch.stack([as_tensor(b) for _, b in pairs])
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = [ops.tvl1_flow(prev[i], nxt[i]) for i in range(3)]
        torch.set_num_threads(2)
        batched = ops.tvl1_flow(prev, nxt)
        alone_2 = ops.tvl1_flow(prev[:1], nxt[:1])  # fewer pairs than threads: rows split when row_split = 1
    finally:
        torch.set_num_threads(threads)
    assert batched.shape == (3, 2, 29, 33)
    for i in range(3):
        assert torch.equal(batched[i], one[i])
    assert torch.equal(alone_2[0], one[0])


def test_uint8_equals_float32_of_the_same_values():
    a, b = frames("waves", 24, 20, 1)
    a, b = np.rint(a), np.rint(b)
    assert torch.equal(ops.tvl1_flow(as_tensor(a, torch.uint8), as_tensor(b, torch.uint8)),
                       ops.tvl1_flow(as_tensor(a), as_tensor(b)))


@pytest.mark.parametrize("shape", [(1, 1), (2, 7), (7, 2), (1, 30), (3, 3)])
def test_tiny_frames(shape):
    a, b = frames("noise", *shape, seed=5)
    got = ops.tvl1_flow(as_tensor(a), as_tensor(b), epsilon=0.0, warps=2, inner_iterations=4, outer_iterations=2)
    assert got.shape == (2, *shape) and bool(torch.isfinite(got).all())
    want = reference.tvl1_flow(a.astype(np.float32).astype(np.float64), b.astype(np.float32).astype(np.float64),
                               epsilon=0.0, warps=2, inner_iterations=4, outer_iterations=2)
    np.testing.assert_allclose(got.double().numpy(), want, rtol=1e-3, atol=2e-3)


def test_constant_frames_give_zero_flow():
    got = ops.tvl1_flow(torch.full((2, 20, 17), 80.0), torch.full((2, 20, 17), 120.0))
    assert torch.equal(got, torch.zeros(2, 2, 20, 17))


def test_empty_batch():
    got = ops.tvl1_flow(torch.zeros(0, 8, 9), torch.zeros(0, 8, 9))
    assert got.shape == (0, 2, 8, 9)


# ------------------------------------------------------------------------------------------------
# against OpenCV and ground truth


@pytest.mark.parametrize("seed", [0, 1])
def test_matches_opencv(seed):
    # Textured frames moved by a smooth, non-uniform field; both get the same uint8 frames.
    h, w = 96, 88
    f = _waves(np.random.default_rng(seed), 24)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    fx = 1.2 + 0.8 * np.sin(yy / 14.0 + seed)
    fy = -0.6 + 0.6 * np.cos(xx / 11.0)
    a8 = np.rint(f(xx, yy)).astype(np.uint8)
    b8 = np.rint(f(xx - fx, yy - fy)).astype(np.uint8)
    ours = ops.tvl1_flow(torch.from_numpy(a8), torch.from_numpy(b8)).numpy()
    diff = np.abs(ours - opencv_flow(a8, b8))[:, 2:-2, 2:-2]
    assert diff.mean() <= 0.02, diff.mean()
    assert np.percentile(diff, 99) <= 0.1, np.percentile(diff, 99)


def _inverse(forward, x: np.ndarray, y: np.ndarray, steps: int = 30):
    """Solve T(s) = (x, y) for s by fixed-point iteration (T = identity + a small displacement)."""
    sx, sy = x.copy(), y.copy()
    for _ in range(steps):
        tx, ty = forward(sx, sy)
        sx, sy = sx - (tx - x), sy - (ty - y)
    return sx, sy


def _motion(kind: str, h: int, w: int):
    cx, cy = (w - 1) / 2, (h - 1) / 2
    if kind == "translation":
        return lambda x, y: (x + 1.7, y - 0.8)
    if kind == "rotation":
        t = math.radians(2.0)
        return lambda x, y: (cx + math.cos(t) * (x - cx) - math.sin(t) * (y - cy),
                             cy + math.sin(t) * (x - cx) + math.cos(t) * (y - cy))
    if kind == "zoom":
        return lambda x, y: (cx + 1.03 * (x - cx), cy + 1.03 * (y - cy))
    # a local Gaussian bump, like a facial movement: up to 1.5 px, sigma 9 px
    def bump(x, y):
        g = 1.5 * np.exp(-((x - cx - 6) ** 2 + (y - cy + 4) ** 2) / (2 * 9.0**2))
        return x + 0.6 * g, y - 0.8 * g
    return bump


@pytest.mark.parametrize("kind", ["translation", "rotation", "zoom", "bump"])
def test_ground_truth_no_worse_than_opencv(kind):
    h, w = 80, 80
    f = _waves(np.random.default_rng(11), 24)
    T = _motion(kind, h, w)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    sx, sy = _inverse(T, xx, yy)  # next(x) = prev(T⁻¹(x))
    a8 = np.rint(f(xx, yy)).astype(np.uint8)
    b8 = np.rint(f(sx, sy)).astype(np.uint8)
    tx, ty = T(xx, yy)
    truth = np.stack([tx - xx, ty - yy])  # flow from prev to next at prev's pixels
    ours = ops.tvl1_flow(torch.from_numpy(a8), torch.from_numpy(b8)).numpy()
    theirs = opencv_flow(a8, b8)
    m = 4  # correspondences near the frame edge leave it; both methods are scored on the same pixels

    def epe(flow):
        return float(np.sqrt(((flow - truth) ** 2).sum(0))[m:-m, m:-m].mean())

    assert epe(ours) <= epe(theirs) + 0.01, (epe(ours), epe(theirs))
    assert epe(ours) < 0.25  # and the flow is right, not merely as wrong as OpenCV's


# ------------------------------------------------------------------------------------------------
# CUDA


@requires_cuda
def test_cuda_matches_cpu():
    pairs = [frames("waves", 70, 64, s) for s in range(3)]
    prev = torch.stack([as_tensor(a) for a, _ in pairs])
    nxt = torch.stack([as_tensor(b) for _, b in pairs])
    exact = dict(epsilon=0.0, warps=2, inner_iterations=10, outer_iterations=3)
    cpu = ops.tvl1_flow(prev, nxt, **exact)
    gpu = ops.tvl1_flow(prev.cuda(), nxt.cuda(), **exact)
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-3, atol=1e-3)
    # default parameters: the stopping rule may flip on a borderline (atomics sum in any order)
    diff = (ops.tvl1_flow(prev.cuda(), nxt.cuda()).cpu() - ops.tvl1_flow(prev, nxt)).abs()[..., 2:-2, 2:-2]
    assert float(diff.mean()) <= 0.02
    one = ops.tvl1_flow(prev[0].cuda(), nxt[0].cuda())
    assert one.shape == (2, 70, 64)


@requires_cuda
def test_cuda_device_mismatch():
    with pytest.raises(ValueError, match="next"):
        ops.tvl1_flow(torch.zeros(8, 8).cuda(), torch.zeros(8, 8))


# ------------------------------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
@pytest.mark.parametrize("which", ["prev", "next"])
def test_non_finite_frames_are_rejected(bad, which):
    a, b = torch.rand(2, 9, 10) * 255, torch.rand(2, 9, 10) * 255
    (a if which == "prev" else b)[1, 3, 4] = bad
    with pytest.raises(ValueError, match=rf"mcwes.tvl1_flow: expected {which} to hold finite values"):
        ops.tvl1_flow(a, b)


@pytest.mark.parametrize("a_shape,b_shape,match", [
    ((9, 10), (9, 11), "next"), ((2, 9, 10), (3, 9, 10), "next"), ((10,), (10,), "prev"),
    ((1, 2, 9, 10), (1, 2, 9, 10), "prev"), ((2, 0, 10), (2, 0, 10), "prev"), ((9, 0), (9, 0), "prev"),
])
def test_bad_shapes(a_shape, b_shape, match):
    with pytest.raises(ValueError, match=rf"mcwes.tvl1_flow: expected {match}"):
        ops.tvl1_flow(torch.zeros(a_shape), torch.zeros(b_shape))


@pytest.mark.parametrize("a_dtype,b_dtype,match", [
    (torch.float64, torch.float64, "prev"), (torch.int32, torch.int32, "prev"), (torch.float32, torch.uint8, "next to have the"),
    (torch.bool, torch.bool, "prev"), (torch.float16, torch.float16, "prev"),
])
def test_bad_dtypes(a_dtype, b_dtype, match):
    with pytest.raises(TypeError, match=rf"mcwes.tvl1_flow: expected {match}"):
        ops.tvl1_flow(torch.zeros(5, 6, dtype=a_dtype), torch.zeros(5, 6, dtype=b_dtype))


def test_not_a_tensor():
    with pytest.raises(TypeError, match="expected prev to be a torch.Tensor"):
        ops.tvl1_flow(np.zeros((4, 4), np.float32), torch.zeros(4, 4))


@pytest.mark.parametrize("kw,match,exc", [
    (dict(tau=0.0), "tau", ValueError), (dict(lambda_=-1.0), "lambda_", ValueError),
    (dict(theta=float("nan")), "theta", ValueError), (dict(epsilon=-0.1), "epsilon", ValueError),
    (dict(gamma=-1.0), "gamma", ValueError), (dict(scale_step=1.0), "scale_step", ValueError),
    (dict(scale_step=0.0), "scale_step", ValueError), (dict(nscales=0), "nscales", ValueError),
    (dict(warps=0), "warps", ValueError), (dict(inner_iterations=0), "inner_iterations", ValueError),
    (dict(outer_iterations=-2), "outer_iterations", ValueError), (dict(median_filtering=4), "median_filtering", ValueError),
    (dict(median_filtering=9), "median_filtering", ValueError), (dict(nscales=2.5), "nscales", TypeError),
    (dict(warps=True), "warps", TypeError), (dict(tau="0.25"), "tau", TypeError),
])
def test_bad_parameters(kw, match, exc):
    with pytest.raises(exc, match=rf"mcwes.tvl1_flow: expected {match}"):
        ops.tvl1_flow(torch.zeros(6, 6), torch.zeros(6, 6), **kw)


def test_kernel_checks_views_itself():
    # The compiled entry point validates what reaches it, whatever the Python layer let through.
    from mcwes._ext import _C
    from mcwes.ops import _util

    a, b = torch.zeros(1, 6, 6), torch.zeros(1, 6, 7)
    out = torch.empty(1, 2, 6, 6)
    with pytest.raises(ValueError, match="mcwes.tvl1_flow: expected next.shape"):
        _C.tvl1_flow_fwd_cpu(_util.view(a), _util.view(b), _util.view(out), 0.25, 0.15, 0.3, 5, 5, 0.01, 30, 10, 0.8,
                             0.0, 5, -1, 1)
    with pytest.raises(ValueError, match="mcwes.tvl1_flow: expected scale_step"):
        _C.tvl1_flow_fwd_cpu(_util.view(a), _util.view(a), _util.view(out), 0.25, 0.15, 0.3, 5, 5, 0.01, 30, 10, 1.5,
                             0.0, 5, -1, 1)
