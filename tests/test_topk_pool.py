"""topk_pool: the kernels against the float64 twin, gradients, torch.library integration, bad input."""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp

import mcwes
from mcwes import ops, reference
from conftest import assert_close, requires_cuda

DTYPES = [torch.float32, torch.float64]


@st.composite
def pooling_cases(draw, max_b=5, max_t=40, max_c=4):
    """x with ties and NaN/inf sometimes, lengths in [0, T], k per class or per (video, class)."""
    B = draw(st.integers(0, max_b))
    T = draw(st.integers(0, max_t))
    C = draw(st.integers(1, max_c))
    dtype = draw(st.sampled_from(DTYPES))
    # Few distinct values make ties common; sometimes NaN and inf.
    values = st.one_of(
        st.sampled_from([-1.5, 0.25, 2.0, 3.0]),
        st.floats(-1e3, 1e3, allow_nan=False, width=32),
        st.sampled_from([float("nan"), float("inf"), float("-inf")]) if draw(st.booleans()) else st.just(1.0),
    )
    x = draw(hnp.arrays("float64", (B, T, C), elements=values))
    lengths = draw(st.lists(st.integers(0, T), min_size=B, max_size=B))
    if draw(st.booleans()):
        k = draw(st.lists(st.integers(1, T + 3), min_size=C, max_size=C))
    else:
        k = draw(hnp.arrays("int64", (B, C), elements=st.integers(1, T + 3)))
    return torch.tensor(x, dtype=dtype), torch.as_tensor(k), torch.tensor(lengths, dtype=torch.int64)


@given(pooling_cases())
def test_matches_reference(case):
    x, k, lengths = case
    out = ops.topk_pool(x, k, lengths)
    assert out.shape == (x.shape[0], x.shape[2]) and out.dtype == x.dtype
    assert_close(out, reference.topk_pool(x, k, lengths), x.dtype)


@given(pooling_cases(max_b=4))
def test_batched_equals_per_video(case):
    x, k, lengths = case
    out = ops.topk_pool(x, k, lengths)
    for b in range(x.shape[0]):
        L = int(lengths[b])
        kb = k[b : b + 1] if k.dim() == 2 else k
        single = ops.topk_pool(x[b : b + 1, :L], kb, lengths[b : b + 1])
        torch.testing.assert_close(out[b : b + 1], single, equal_nan=True, rtol=0, atol=0)


def test_padding_values_never_read():
    x = torch.randn(3, 20, 3, dtype=torch.float64)
    lengths = torch.tensor([20, 7, 0])
    k = torch.tensor([3, 5, 20])
    base = ops.topk_pool(x, k, lengths)
    x2 = x.clone()
    x2[1, 7:] = float("nan")
    x2[2] = 1e30
    torch.testing.assert_close(ops.topk_pool(x2, k, lengths), base, rtol=0, atol=0)


def test_zero_length_video_pools_to_zero_with_zero_gradient():
    x = torch.randn(2, 5, 3, dtype=torch.float64, requires_grad=True)
    out = ops.topk_pool(x, [2, 2, 2], [5, 0])
    assert torch.equal(out[1], torch.zeros(3, dtype=torch.float64))
    (grad,) = torch.autograd.grad(out.sum(), x)
    assert torch.equal(grad[1], torch.zeros(5, 3, dtype=torch.float64))


def test_ties_pick_the_lower_index():
    x = torch.tensor([[[1.0], [5.0], [5.0], [5.0], [2.0]]], dtype=torch.float64, requires_grad=True)
    out = ops.topk_pool(x, [2])
    assert out.item() == 5.0
    (grad,) = torch.autograd.grad(out.sum(), x)
    assert grad.flatten().tolist() == [0.0, 0.5, 0.5, 0.0, 0.0]


def test_nan_ranks_first_and_propagates():
    x = torch.tensor([[[1.0], [float("nan")], [3.0]]])
    assert torch.isnan(ops.topk_pool(x, [1])).all()
    assert torch.isnan(reference.topk_pool(x, [1])).all()


@pytest.mark.parametrize("dtype", DTYPES)
def test_non_contiguous_inputs(dtype):
    base = torch.randn(6, 40, 8, dtype=dtype)
    x = base.transpose(0, 1)[:, ::2].transpose(0, 1)[..., 1::3]  # strided in every dimension
    assert not x.is_contiguous()
    k = torch.tensor([[4, 1, 7], [9, 40, 7], [2, 3, 7]]).t()  # non-contiguous [B, C]
    lengths = torch.tensor([40, 99, 1, 99, 17])[::2]  # non-contiguous: 40, 1, 17
    assert not k.is_contiguous() and not lengths.is_contiguous()
    assert_close(ops.topk_pool(x, k, lengths), reference.topk_pool(x, k, lengths), dtype)


@given(pooling_cases(max_b=3, max_t=12, max_c=3))
def test_gradient_equals_reference(case):
    x, k, lengths = case
    x = torch.nan_to_num(x.to(torch.float64), nan=0.5, posinf=7.0, neginf=-7.0).requires_grad_(True)
    g = torch.randn(x.shape[0], x.shape[2], dtype=torch.float64)
    (ours,) = torch.autograd.grad(ops.topk_pool(x, k, lengths), x, g, allow_unused=True)
    (ref,) = torch.autograd.grad(reference.topk_pool(x, k, lengths), x, g, allow_unused=True)
    ref = torch.zeros_like(x) if ref is None else ref
    ours = torch.zeros_like(x) if ours is None else ours
    assert_close(ours, ref, torch.float64)


def test_gradcheck(device):
    x = torch.randn(3, 9, 3, dtype=torch.float64, device=device, requires_grad=True)  # distinct: no tie at the cut
    lengths = torch.tensor([9, 4, 1], device=device)
    k = torch.tensor([[2, 3, 9], [1, 4, 2], [3, 1, 1]], device=device)
    assert torch.autograd.gradcheck(lambda t: ops.topk_pool(t, k, lengths), (x,))


def test_double_backward(device):
    """The backward is a broadcast multiply by the saved weights, so it is differentiable too."""
    x = torch.randn(2, 8, 3, dtype=torch.float64, device=device, requires_grad=True)
    lengths, k = torch.tensor([8, 5], device=device), torch.tensor([2, 3, 1], device=device)
    assert torch.autograd.gradgradcheck(lambda t: ops.topk_pool(t, k, lengths), (x,))


def test_opcheck(device):
    samples = [
        (torch.randn(2, 7, 3), torch.tensor([2, 3, 1]), torch.tensor([7, 3])),
        (torch.randn(3, 5, 2, dtype=torch.float64), torch.tensor([[1, 2]] * 3), torch.tensor([5, 0, 2])),
    ]
    for x, k, lengths in samples:
        x = x.to(device).requires_grad_(x.dtype == torch.float64)
        torch.library.opcheck(torch.ops.mcwes.topk_pool_fwd.default, (x, k.to(device), lengths.to(device)))


def test_torch_compile_fullgraph_matches_eager():
    x = torch.randn(4, 30, 3, requires_grad=True)
    lengths = torch.tensor([30, 12, 1, 0])
    k = ops.topk_k(lengths, (7, 9, 5))

    def f(t):
        return ops.topk_pool(t, k, lengths).sum()

    compiled = torch.compile(f, fullgraph=True)
    eager_out = f(x)
    (eager_grad,) = torch.autograd.grad(eager_out, x)
    comp_out = compiled(x)
    (comp_grad,) = torch.autograd.grad(comp_out, x)
    torch.testing.assert_close(comp_out, eager_out)
    torch.testing.assert_close(comp_grad, eager_grad)


@given(st.lists(st.integers(0, 3000), max_size=8), st.lists(st.floats(0.5, 20), min_size=1, max_size=4))
def test_topk_k_matches_reference(lengths, h):
    assert ops.topk_k(lengths, h).tolist() == (reference.topk_k(lengths, h) or [])


def test_topk_k_paper_values():
    assert ops.topk_k([250, 3, 0], (7, 9, 5)).tolist() == [[35, 27, 50], [1, 1, 1], [1, 1, 1]]


@pytest.mark.parametrize(
    "call, exc, message",
    [
        (lambda: ops.topk_pool(torch.randn(2, 3), [1]), ValueError, "expected x to have 3 dimensions"),
        (lambda: ops.topk_pool(torch.randn(2, 3, 2).half(), [1, 1]), TypeError, "expected x to have dtype float32 or float64"),
        (lambda: ops.topk_pool([[[1.0]]], [1]), TypeError, "expected x to be a torch.Tensor"),
        (lambda: ops.topk_pool(torch.randn(2, 3, 2), [1, 1, 1]), ValueError, r"expected k to have shape \[2\] or \[2, 2\]"),
        (lambda: ops.topk_pool(torch.randn(2, 3, 2), [0, 1]), ValueError, "expected every k to be >= 1"),
        (lambda: ops.topk_pool(torch.randn(2, 3, 2), [1.5, 1.0]), TypeError, "expected k to hold integers"),
        (lambda: ops.topk_pool(torch.randn(2, 3, 2), [1, 1], [3]), ValueError, r"expected lengths to have shape \[2\]"),
        (lambda: ops.topk_pool(torch.randn(2, 3, 2), [1, 1], [3, 4]), ValueError, r"expected lengths to lie in \[0, 3\]"),
        (lambda: ops.topk_pool(torch.randn(2, 3, 2), [1, 1], [-1, 2]), ValueError, r"expected lengths to lie in \[0, 3\]"),
        (lambda: ops.topk_k([5], (7, 0, 5)), ValueError, "expected h to hold finite ratios > 0"),
    ],
)
def test_bad_input_raises_with_the_op_name(call, exc, message):
    with pytest.raises(exc, match=r"mcwes\.topk_(pool|k): " + message):
        call()


def test_compiled_core_rejects_inconsistent_views():
    """The C++ entry points check shapes themselves: callers of mcwes._C cannot make them read out of bounds."""
    from mcwes._ext import _C
    from mcwes.ops._util import view

    x, k, lengths = torch.randn(2, 4, 3), torch.ones(3, dtype=torch.int64), torch.tensor([4, 4])
    out, weights = torch.empty(2, 3), torch.empty(2, 4, 3)
    wrong, as_bool = torch.empty(2, 5, 3), torch.empty(2, 4, 3, dtype=torch.bool)
    with pytest.raises(ValueError, match=r"mcwes.topk_pool: expected weights.shape\[1\] to be 4, got 5"):
        _C.topk_pool_fwd_cpu(view(x), view(k), view(lengths), view(out), view(wrong), 1)
    with pytest.raises(ValueError, match="expected weights to have dtype float32, got bool"):
        _C.topk_pool_fwd_cpu(view(x), view(k), view(lengths), view(out), view(as_bool), 1)
    with pytest.raises(ValueError, match="expected lengths to have dtype int64, got int32"):
        _C.topk_pool_fwd_cpu(view(x), view(k), view(lengths.int()), view(out), view(weights), 1)
    bad_lengths = torch.tensor([4, 9])  # named: a view does not keep its tensor alive
    with pytest.raises(ValueError, match=r"expected lengths to lie in \[0, 4\], got 9"):
        _C.topk_pool_fwd_cpu(view(x), view(k), view(bad_lengths), view(out), view(weights), 1)


def test_cuda_without_gpu_says_why(monkeypatch):
    from mcwes.ops import _util

    if mcwes.build_info()["gpu_usable"]:
        pytest.skip("a GPU is usable here")
    expected = "no usable GPU" if mcwes.build_info()["cuda"] else "has no CUDA kernels"
    with pytest.raises(RuntimeError, match=expected):
        _util.require_cuda("topk_pool")
    monkeypatch.setitem(_util._C.BUILD, "cuda", False)
    with pytest.raises(RuntimeError, match="mcwes.topk_pool: got CUDA tensors, but this build of mcwes has no CUDA kernels"):
        _util.require_cuda("topk_pool")


@requires_cuda
@given(pooling_cases())
def test_cuda_matches_cpu(case):
    x, k, lengths = case
    cpu = ops.topk_pool(x, k, lengths)
    gpu = ops.topk_pool(x.cuda(), k.cuda(), lengths.cuda())
    assert_close(gpu.cpu(), cpu, x.dtype)


@requires_cuda
def test_cuda_gradient_matches_cpu():
    x = torch.randn(5, 300, 3, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([300, 250, 1, 0, 77])
    k = ops.topk_k(lengths, (7, 9, 5))
    g = torch.randn(5, 3, dtype=torch.float64)
    (cpu,) = torch.autograd.grad(ops.topk_pool(x, k, lengths), x, g)
    xg = x.detach().cuda().requires_grad_(True)
    (gpu,) = torch.autograd.grad(ops.topk_pool(xg, k.cuda(), lengths.cuda()), xg, g.cuda())
    assert_close(gpu.cpu(), cpu, torch.float64)


@given(pooling_cases(max_b=3, max_t=15))
def test_eager_path_equals_registered_op(case):
    """Plain eager calls skip the dispatcher (ops._util.eager_fast_path); both paths must agree."""
    x, k, lengths = case
    x = torch.nan_to_num(x).requires_grad_(True)
    k_t = k.expand(x.shape[0], -1).contiguous() if k.dim() == 1 else k
    direct = ops.topk_pool(x, k_t, lengths)
    registered, _ = torch.ops.mcwes.topk_pool_fwd(x, k_t, lengths)
    torch.testing.assert_close(direct, registered, rtol=0, atol=0, equal_nan=True)
    if direct.numel():
        g = torch.randn_like(direct)
        (gd,) = torch.autograd.grad(direct, x, g)
        (gr,) = torch.autograd.grad(registered, x, g)
        torch.testing.assert_close(gd, gr, rtol=0, atol=0)


def test_fast_path_is_left_under_tracing_and_modes():
    from torch.utils._python_dispatch import TorchDispatchMode
    from mcwes.ops import _util

    x = torch.randn(2, 3, 1)
    assert _util.eager_fast_path(x)

    class Record(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.seen = getattr(self, "seen", []) + [str(func)]
            return func(*args, **(kwargs or {}))

    with Record() as mode:
        assert not _util.eager_fast_path(x)
        ops.topk_pool(x, [1])
    assert any("mcwes.topk_pool_fwd" in name for name in mode.seen)


KINDS = ["normal", "ties", "sorted", "reversed", "outliers", "adversarial", "organ_pipe", "few_values"]


@given(st.integers(768, 2500), st.sampled_from(KINDS), st.integers(0, 2**32 - 1))
def test_long_videos_match_reference(T, kind, seed):
    """Videos of >= 768 steps take the sampled-bound selection (a sample of the values bounds the
    k-th largest, then the selection runs on the values above it); its fallback must keep every case exact."""
    _check_selection(T, kind, seed)


@given(st.integers(33, 767), st.sampled_from(KINDS), st.integers(0, 2**32 - 1))
def test_selection_rounds_match_reference(T, kind, seed):
    """From 33 values on, the k-th largest is found by branch-free quickselect rounds (median-of-three
    pivots, ties counted, a round limit): sorted, tied and pivot-hostile inputs stay exact."""
    _check_selection(T, kind, seed)


def _check_selection(T, kind, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, T, 3, generator=g, dtype=torch.float64)
    if kind == "ties":
        x = torch.round(x * 2) / 2
    elif kind == "sorted":
        x = torch.sort(x, dim=1).values
    elif kind == "reversed":
        x = torch.sort(x, dim=1, descending=True).values
    elif kind == "outliers":
        x[:, ::97] += 100.0
    elif kind == "adversarial":  # large values exactly where the kernel samples: forces its fallback
        x = torch.rand(2, T, 3, generator=g, dtype=torch.float64)
        x[:, [i * T // 64 for i in range(64)]] += 10.0
    elif kind == "organ_pipe":  # rises then falls: the first, middle and last values are poor pivots
        half = torch.arange(T, dtype=torch.float64)
        x = torch.minimum(half, T - 1 - half).view(1, T, 1).expand(2, T, 3).contiguous()
    elif kind == "few_values":  # the k-th largest is almost always tied with many others
        x = torch.randint(0, 3, (2, T, 3), generator=g).to(torch.float64)
    lengths = torch.tensor([T, T - 17])
    k = ops.topk_k(lengths, (7, 9, 5))
    assert_close(ops.topk_pool(x, k, lengths), reference.topk_pool(x, k, lengths), torch.float64)
    assert_close(ops.topk_pool(x.float(), k, lengths), reference.topk_pool(x, k, lengths), torch.float32)


@pytest.mark.parametrize("T", [33, 50, 97, 300, 800])
@pytest.mark.parametrize("kind", ["normal", "few_values", "organ_pipe", "sorted"])
def test_every_k_matches_reference(T, kind):
    """Every k from 1 to T + 1 on one video: the k-th largest lands at every place of the selection
    rounds (above, among and below a pivot's ties, at the edges of the tied block)."""
    g = torch.Generator().manual_seed(T)
    if kind == "few_values":
        x = torch.randint(0, 4, (1, T, 1), generator=g).to(torch.float64)
    elif kind == "organ_pipe":
        half = torch.arange(T, dtype=torch.float64)
        x = torch.minimum(half, T - 1 - half).view(1, T, 1)
    elif kind == "sorted":
        x = torch.sort(torch.randn(1, T, 1, generator=g, dtype=torch.float64), dim=1).values
    else:
        x = torch.randn(1, T, 1, generator=g, dtype=torch.float64)
    ks = torch.arange(1, T + 2).view(-1, 1)
    xs = x.expand(len(ks), T, 1).contiguous()
    lengths = torch.full((len(ks),), T)
    assert_close(ops.topk_pool(xs, ks, lengths), reference.topk_pool(xs, ks, lengths), torch.float64)
    out = ops.topk_pool(xs.requires_grad_(), ks, lengths)
    grad, = torch.autograd.grad(out.sum(), xs)
    x_ref = xs.detach().clone().requires_grad_()
    ref_grad, = torch.autograd.grad(reference.topk_pool(x_ref, ks, lengths).sum(), x_ref)
    torch.testing.assert_close(grad, ref_grad, rtol=0, atol=0)
