"""multi_top_proposals vs its reference twin: ties, constant and NaN attention, m > T, ragged
batches, strides, CUDA, bad input."""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, strategies as st

from conftest import requires_cuda
from spot_cases import KINDS, m_lists, ragged, strided, values
from mcwes import ops, reference


def _same(got, want):
    for g, w in zip(got, want):
        assert g.dtype == torch.int64
        assert torch.equal(g, w.to(torch.int64)), (got, want)


@given(shape=ragged(), kind=st.sampled_from(KINDS), m_values=m_lists, seed=st.integers(0, 2**31),
       dtype=st.sampled_from([torch.float32, torch.float64]), non_contig=st.booleans())
def test_matches_reference(shape, kind, m_values, seed, dtype, non_contig):
    B, T, lengths = shape
    a = values(seed, (B, T), kind, dtype)
    got = ops.multi_top_proposals(strided(a) if non_contig else a, lengths, m_values)
    _same(got, reference.multi_top_proposals(a, lengths, m_values))


@given(shape=ragged(max_b=5), m_values=m_lists, seed=st.integers(0, 2**31))
def test_batched_equals_per_video(shape, m_values, seed):
    B, T, lengths = shape
    a = values(seed, (B, T), "coarse", torch.float32)
    bi, st_, en = ops.multi_top_proposals(a, lengths, m_values)
    for b in range(B):
        L = int(lengths[b])
        one = ops.multi_top_proposals(a[b:b + 1, :L], None, m_values)
        sel = bi == b
        assert torch.equal(st_[sel], one[1]) and torch.equal(en[sel], one[2])
        assert torch.all(one[0] == 0)


def test_hand_worked():
    a = torch.tensor([[0.1, 0.9, 0.8, 0.2, 0.7]])
    # m=5: k=1 -> {1} -> [1,1]; m=2: k=2 -> {1,2} -> [1,2]; m=1: k=5 -> [0,4]; m=9 > T: k=1 again.
    bi, s, e = ops.multi_top_proposals(a, None, [5, 2, 1, 9])
    assert list(zip(bi.tolist(), s.tolist(), e.tolist())) == [(0, 0, 4), (0, 1, 1), (0, 1, 2)]


def test_ties_go_to_the_lower_index():
    a = torch.tensor([[0.5, 0.5, 0.5, 0.5, 0.5, 0.5]])
    # k=2 of six equal values: steps 0, 1 -> [0, 1]; k=3 -> [0, 2].
    _, s, e = ops.multi_top_proposals(a, None, [3, 2])
    assert list(zip(s.tolist(), e.tolist())) == [(0, 1), (0, 2)]


def test_nan_ranks_first():
    a = torch.tensor([[0.1, 0.9, float("nan"), 0.2]])
    _, s, e = ops.multi_top_proposals(a, None, [4])
    assert list(zip(s.tolist(), e.tolist())) == [(2, 2)]


def test_empty_cases():
    for a, lengths, m in [(torch.rand(0, 5), None, [2]), (torch.rand(2, 0), None, [2]),
                          (torch.rand(2, 6), torch.tensor([0, 0]), [1, 2]), (torch.rand(2, 6), None, [])]:
        bi, s, e = ops.multi_top_proposals(a, lengths, m)
        assert bi.numel() == s.numel() == e.numel() == 0


@pytest.mark.parametrize("m_values, exc, match", [
    ([0, 3], ValueError, "m_values to hold integers >= 1"),
    ([2.5], TypeError, "m_values to hold ints"),
    (torch.tensor([2.0]), TypeError, "m_values to hold integers"),
    ("abc", TypeError, "m_values to be a sequence"),
])
def test_bad_m_values(m_values, exc, match):
    with pytest.raises(exc, match=f"mcwes.multi_top_proposals: expected {match}"):
        ops.multi_top_proposals(torch.rand(2, 5), None, m_values)


def test_bad_tensors():
    with pytest.raises(TypeError, match="mcwes.multi_top_proposals: expected a to have dtype"):
        ops.multi_top_proposals(torch.ones(2, 5, dtype=torch.int32), None, [2])
    with pytest.raises(ValueError, match="mcwes.multi_top_proposals: expected lengths to lie in"):
        ops.multi_top_proposals(torch.rand(2, 5), torch.tensor([2, -1]), [2])
    with pytest.raises(ValueError, match="mcwes.multi_top_proposals: expected lengths to have shape"):
        ops.multi_top_proposals(torch.rand(2, 5), torch.tensor([2, 1, 1]), [2])


def test_opcheck(device):
    a = torch.rand(3, 30, dtype=torch.float64, device=device)
    torch.library.opcheck(torch.ops.mcwes.multi_top_proposals_fwd, (a, torch.tensor([30, 11, 0], device=device), [2, 3, 7]),
                          test_utils=("test_schema", "test_faketensor"))


@requires_cuda
@given(shape=ragged(), kind=st.sampled_from(KINDS), m_values=m_lists, seed=st.integers(0, 2**31),
       dtype=st.sampled_from([torch.float32, torch.float64]))
def test_cuda_matches_cpu(shape, kind, m_values, seed, dtype):
    B, T, lengths = shape
    a = values(seed, (B, T), kind, dtype)
    cpu = ops.multi_top_proposals(a, lengths, m_values)
    gpu = ops.multi_top_proposals(a.cuda(), lengths.cuda(), m_values)
    for c, g in zip(cpu, gpu):
        assert g.is_cuda and torch.equal(g.cpu(), c)
