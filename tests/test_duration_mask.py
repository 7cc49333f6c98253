"""duration_mask vs its reference twin: values, ragged batches, NaN, strides, CUDA, bad input."""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, strategies as st

from conftest import requires_cuda
from spot_cases import KINDS, ragged, strided, values
from mcwes import ops, reference

BANDS = [(1.2, 1.4), (1.5, 1.8), (0.5, 3.0), (0.0, 1.0)]


@given(shape=ragged(), kind=st.sampled_from(KINDS), eta=st.integers(1, 4), band=st.sampled_from(BANDS),
       dtype=st.sampled_from([torch.float32, torch.float64]), seed=st.integers(0, 2**31), non_contig=st.booleans())
def test_matches_reference(shape, kind, eta, band, dtype, seed, non_contig):
    B, T, lengths = shape
    a = values(seed, (B, T), kind, dtype)
    a_in = strided(a) if non_contig else a
    got = ops.duration_mask(a_in, lengths, eta=eta, omega_l=band[0], omega_u=band[1])
    want = reference.duration_mask(a, lengths, eta=eta, omega_l=band[0], omega_u=band[1])
    assert got.dtype == dtype and got.shape == (B, T)
    # Same arithmetic in the same order: the masks agree exactly, padding included.
    torch.testing.assert_close(got.double(), want, rtol=0, atol=0)


@given(shape=ragged(max_b=5), seed=st.integers(0, 2**31))
def test_batched_equals_per_video(shape, seed):
    B, T, lengths = shape
    a = values(seed, (B, T), "float", torch.float32)
    batched = ops.duration_mask(a, lengths, eta=2, omega_l=1.2, omega_u=1.4)
    for b in range(B):
        L = int(lengths[b])
        alone = ops.duration_mask(a[b:b + 1, :L], [L], eta=2, omega_l=1.2, omega_u=1.4)
        assert torch.equal(batched[b, :L], alone[0])
        assert torch.all(batched[b, L:] == 0)


def test_hand_worked():
    # eta=1: Q = a, Δ = [0, 0, 1, 0], mean 0.25; band (0.5, 1.25) holds Δ_2 = 1 only.
    a = torch.tensor([[0.0, 0.0, 0.0, 1.0]])
    got = ops.duration_mask(a, eta=1, omega_l=2.0, omega_u=5.0)
    assert got.tolist() == [[1.0, 1.0, 0.0, 1.0]]
    # eta=2: Q = [0, 0, 0.5, 1], Δ = [0, 0.5, 0.5, 0], mean 0.25; band (0.3, 0.6) holds steps 1, 2.
    got = ops.duration_mask(a, eta=2, omega_l=1.2, omega_u=2.4)
    assert got.tolist() == [[1.0, 0.0, 0.0, 1.0]]


def test_constant_and_single_step_are_all_ones():
    a = torch.tensor([[0.3, 0.3, 0.3], [0.9, 0.0, 0.0]])
    got = ops.duration_mask(a, [3, 1], eta=2, omega_l=0.0, omega_u=10.0)
    assert got.tolist() == [[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]]


def test_nan_gives_all_ones_for_that_video():
    a = torch.tensor([[0.1, float("nan"), 0.5, 0.2], [0.0, 0.0, 0.0, 1.0]])
    got = ops.duration_mask(a, eta=1, omega_l=2.0, omega_u=5.0)
    assert got[0].tolist() == [1.0, 1.0, 1.0, 1.0]
    assert got[1].tolist() == [1.0, 1.0, 0.0, 1.0]


def test_no_gradient():
    a = torch.rand(2, 7, requires_grad=True)
    out = ops.duration_mask(a, eta=2, omega_l=1.2, omega_u=1.4)
    assert not out.requires_grad


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(eta=0), ValueError, "eta"),
    (dict(eta=1.5), TypeError, "eta"),
    (dict(omega_l=float("nan")), ValueError, "omega_l"),
    (dict(omega_u=float("inf")), ValueError, "omega_u"),
])
def test_bad_scalars(kwargs, exc, match):
    args = dict(eta=2, omega_l=1.2, omega_u=1.4)
    args.update(kwargs)
    with pytest.raises(exc, match=f"mcwes.duration_mask: expected {match}"):
        ops.duration_mask(torch.rand(2, 5), **args)


def test_bad_tensors():
    with pytest.raises(TypeError, match="mcwes.duration_mask: expected a"):
        ops.duration_mask(torch.ones(2, 5, dtype=torch.int64), eta=2, omega_l=1.2, omega_u=1.4)
    with pytest.raises(ValueError, match="mcwes.duration_mask: expected a to have 2"):
        ops.duration_mask(torch.rand(5), eta=2, omega_l=1.2, omega_u=1.4)
    with pytest.raises(ValueError, match="mcwes.duration_mask: expected lengths to lie in"):
        ops.duration_mask(torch.rand(2, 5), [3, 6], eta=2, omega_l=1.2, omega_u=1.4)
    with pytest.raises(ValueError, match="mcwes.duration_mask: expected lengths to have shape"):
        ops.duration_mask(torch.rand(2, 5), [3], eta=2, omega_l=1.2, omega_u=1.4)


def test_opcheck(device):
    a = torch.rand(3, 9, dtype=torch.float64, device=device)
    torch.library.opcheck(torch.ops.mcwes.duration_mask_fwd, (a, torch.tensor([9, 4, 0], device=device), 2, 1.2, 1.4))


def test_compile_matches_eager():
    a = torch.rand(2, 11)
    lengths = torch.tensor([11, 6])
    fn = torch.compile(lambda x, n: ops.duration_mask(x, n, eta=2, omega_l=1.2, omega_u=1.4) * x, fullgraph=True)
    torch.testing.assert_close(fn(a, lengths), ops.duration_mask(a, lengths, eta=2, omega_l=1.2, omega_u=1.4) * a)


@requires_cuda
@given(shape=ragged(), kind=st.sampled_from(KINDS), seed=st.integers(0, 2**31),
       dtype=st.sampled_from([torch.float32, torch.float64]))
def test_cuda_matches_cpu(shape, kind, seed, dtype):
    B, T, lengths = shape
    a = values(seed, (B, T), kind, dtype)
    cpu = ops.duration_mask(a, lengths, eta=2, omega_l=1.2, omega_u=1.4)
    gpu = ops.duration_mask(a.cuda(), lengths.cuda(), eta=2, omega_l=1.2, omega_u=1.4)
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=0, atol=0)
