"""cscm_attention: fused kernels vs the materialising float64 twin, gradients, batching, edge cases."""
from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from conftest import TOL, assert_close, requires_cuda
from mcwes import reference
from mcwes.ops import cscm_attention

# float32 compares against a float64 reference; logits of size ~D·σ² amplify input rounding.
F32 = dict(rtol=1e-4, atol=1e-4)


def _tol(dtype: torch.dtype) -> dict:
    return F32 if dtype == torch.float32 else TOL[dtype]


def _check(q: torch.Tensor, lengths=None, scale: float = 1.0, grad_tol: dict | None = None) -> None:
    """Forward and gradient (for a random upstream gradient) equal the reference."""
    qk = q.detach().clone().requires_grad_(True)
    qr = q.detach().clone().to(torch.float64).requires_grad_(True)
    out = cscm_attention(qk, lengths, scale)
    ref = reference.cscm_attention(qr, lengths, scale)
    assert out.dtype == q.dtype and out.shape == q.shape
    assert_close(out, ref, **_tol(q.dtype))
    g = torch.randn(q.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    (out.to(torch.float64) * g).sum().backward()
    (ref * g).sum().backward()
    assert_close(qk.grad, qr.grad, **(grad_tol or _tol(q.dtype)))


@st.composite
def _cases(draw, max_t: int = 150, max_d: int = 40):
    """(B, T, D, lengths, dtype, scale, seed) of a random cscm_attention call (also used by the path tests)."""
    B = draw(st.integers(0, 3))
    T = draw(st.integers(0, max_t))
    D = draw(st.integers(0, max_d))
    lengths = torch.tensor([draw(st.integers(0, T)) for _ in range(B)], dtype=torch.int64)
    dtype = draw(st.sampled_from([torch.float64, torch.float32]))
    scale = draw(st.sampled_from([1.0, 0.25, -0.5]))
    seed = draw(st.integers(0, 2**31 - 1))
    return B, T, D, lengths, dtype, scale, seed


@given(_cases())
def test_matches_reference(case):
    B, T, D, lengths, dtype, scale, seed = case
    q = torch.randn((B, T, D), dtype=dtype, generator=torch.Generator().manual_seed(seed))
    _check(q, lengths, scale)


@pytest.mark.parametrize("T", [0, 1, 2, 63, 64, 65, 129])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_block_edges(T, dtype):
    q = torch.randn((2, T, 17), dtype=dtype, generator=torch.Generator().manual_seed(T)) * 0.5
    _check(q, [T, max(T - 1, 0)])


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_huge_logits_d1024(dtype):
    # The paper's setting: scale 1, D = 1024, N(0, 1) features: logits near ±1000, softmax
    # nearly one-hot. Any exp without max subtraction overflows here.
    q = torch.randn((2, 150, 1024), dtype=dtype, generator=torch.Generator().manual_seed(3))
    out = cscm_attention(q, [150, 97])
    assert torch.isfinite(out).all()
    # float32 gradient: dS_ii = P_ii (dO_i·q_i − dO_i·O_i) cancels two ~30-sized float32 dot products
    # computed along different paths (flash attention's rowsum(dO ⊙ O)); the absolute error is
    # ~1e-4 against gradients of size ~5, i.e. 1e-4 relative to the gradient's scale.
    grad_tol = dict(rtol=1e-4, atol=5e-4) if dtype == torch.float32 else None
    _check(q, [150, 97], grad_tol=grad_tol)


def test_soft_attention_d1024():
    # D = 1024 with a scale that keeps the softmax soft, so every key matters.
    q = torch.randn((1, 130, 1024), dtype=torch.float32, generator=torch.Generator().manual_seed(4))
    _check(q, None, scale=1.0 / 1024)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_ties_identical_rows(dtype):
    # Identical rows give tied scores (and a tied max); the softmax splits weight evenly.
    base = torch.randn((1, 1, 9), dtype=dtype, generator=torch.Generator().manual_seed(5))
    q = torch.cat([base.expand(1, 70, 9), torch.randn((1, 10, 9), dtype=dtype)], dim=1)
    _check(q, [80])
    out = cscm_attention(base.expand(2, 5, 9).contiguous())
    assert_close(out, base.expand(2, 5, 9), **_tol(dtype))


def test_hand_worked_two_rows():
    # q = [[1, 0], [0, 1]], scale = ln 3: row 0 weights (3, 1)/4 -> (0.75, 0.25); same for row 1.
    q = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]], dtype=torch.float64)
    out = cscm_attention(q, scale=math.log(3.0))
    assert_close(out, torch.tensor([[[0.75, 0.25], [0.25, 0.75]]], dtype=torch.float64))


def test_batched_equals_per_video_and_padding_ignored():
    g = torch.Generator().manual_seed(6)
    q = torch.randn((3, 90, 11), dtype=torch.float64, generator=g)
    lengths = [90, 41, 0]
    out = cscm_attention(q, lengths)
    for b, L in enumerate(lengths):
        alone = cscm_attention(q[b:b + 1, :L], [L])
        assert_close(out[b, :L], alone[0])
        assert (out[b, L:] == 0).all()
    # Padding values never change valid outputs or gradients.
    q2 = q.clone()
    q2[1, 41:] = 1e3
    q.requires_grad_(True)
    q2.requires_grad_(True)
    out2 = cscm_attention(q2, lengths)
    assert_close(out2, out.detach())
    out2.sum().backward()
    cscm_attention(q, lengths).sum().backward()
    assert_close(q2.grad, q.grad)
    assert (q.grad[1, 41:] == 0).all()


def test_non_contiguous_input():
    base = torch.randn((20, 2, 45), dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    q = base.transpose(0, 1)[:, :, ::3]  # [2, 20, 15], strided in every dimension
    assert not q.is_contiguous()
    _check(q, [20, 13])


def test_default_threads_and_one_thread_agree():
    q = torch.randn((2, 200, 33), dtype=torch.float64, generator=torch.Generator().manual_seed(8))
    out = cscm_attention(q, [200, 150])
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = cscm_attention(q, [200, 150])
    finally:
        torch.set_num_threads(threads)
    assert_close(out, one)


def test_gradcheck(device):
    q = torch.randn((2, 9, 5), dtype=torch.float64, generator=torch.Generator().manual_seed(9)).to(device)
    q.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: cscm_attention(x, [9, 4], 0.7), (q,))


def test_opcheck(device):
    for shape, lengths in (((2, 7, 5), [7, 3]), ((1, 70, 3), [66])):
        q = torch.randn(shape, dtype=torch.float64, device=device, requires_grad=True)
        torch.library.opcheck(torch.ops.mcwes.cscm_attention_fwd, (q, torch.tensor(lengths, device=device), 0.5))


def test_torch_compile_matches_eager():
    q = torch.randn((2, 12, 6), dtype=torch.float32, generator=torch.Generator().manual_seed(10))
    lengths = torch.tensor([12, 5])
    compiled = torch.compile(lambda x, n: cscm_attention(x, n), fullgraph=True)
    assert_close(compiled(q, lengths), cscm_attention(q, lengths))


def test_non_finite_input_does_not_crash():
    q = torch.randn((1, 6, 4), dtype=torch.float32)
    q[0, 2, 1] = float("nan")
    out = cscm_attention(q)
    assert out.shape == q.shape  # documented: NaN propagates into the rows that see it
    assert torch.isnan(out[0, 2]).all()


def test_bad_inputs():
    q = torch.randn((2, 5, 3))
    with pytest.raises(ValueError, match=r"mcwes\.cscm_attention: expected q to have 3 dimensions"):
        cscm_attention(q[0])
    with pytest.raises(TypeError, match=r"mcwes\.cscm_attention: expected q to have dtype"):
        cscm_attention(q.to(torch.float16))
    with pytest.raises(ValueError, match=r"mcwes\.cscm_attention: expected lengths to lie in \[0, 5\]"):
        cscm_attention(q, [5, 6])
    with pytest.raises(ValueError, match=r"mcwes\.cscm_attention: expected lengths to have shape \[2\]"):
        cscm_attention(q, [5])
    with pytest.raises(ValueError, match=r"mcwes\.cscm_attention: expected scale to be finite"):
        cscm_attention(q, None, float("inf"))
    with pytest.raises(TypeError, match=r"mcwes\.cscm_attention: expected scale to be a float"):
        cscm_attention(q, None, "1")


@requires_cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("T,D,lengths", [(1, 3, [1, 0]), (70, 33, [70, 9]), (300, 1024, [300, 257])])
def test_cuda_matches_cpu(dtype, T, D, lengths):
    q = torch.randn((2, T, D), dtype=dtype, generator=torch.Generator().manual_seed(T))
    g = torch.randn((2, T, D), dtype=dtype, generator=torch.Generator().manual_seed(T + 1))
    qc = q.clone().requires_grad_(True)
    qd = q.cuda().requires_grad_(True)
    out_c = cscm_attention(qc, lengths)
    out_d = cscm_attention(qd, torch.tensor(lengths).cuda())
    (out_c * g).sum().backward()
    (out_d * g.cuda()).sum().backward()
    assert_close(out_d.cpu(), out_c, **_tol(dtype))
    assert_close(qd.grad.cpu(), qc.grad, **_tol(dtype))
