"""spot_postprocess vs the composition of the reference twins (exact on dyadic values), ragged
batches, NaN, m > T, CUDA, bad input."""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, strategies as st

from conftest import assert_close, requires_cuda
from spot_cases import KINDS, m_lists, ragged, strided, values
from mcwes import ops, reference

PARAMS = st.fixed_dictionaries({
    "psi": st.sampled_from([0.0, 0.25, 0.5]),
    "varsigma": st.sampled_from([0.15, 0.5]),
    "nms_threshold": st.sampled_from([0.0, 0.01, 0.3, 1.0]),
    "score_threshold": st.sampled_from([0.1, -1.0, float("-inf")]),
})


def inputs(seed: int, B: int, T: int, C: int, att_kind: str, cas_kind: str, dtype: torch.dtype):
    # CAS values on a dyadic grid: every window sum is exact in double, so the kernel's prefix sums and
    # the reference's direct sums give the same φ bit for bit and the NMS order (ties included) agrees.
    cas_kind = "grid" if cas_kind in ("float", "constant") else cas_kind
    a = values(seed, (B, T), att_kind, dtype)
    x = values(seed + 1, (B, T, C), cas_kind, dtype)
    p = values(seed + 2, (B, C), "coarse", dtype)
    return a, x, p


def check_same(got: ops.SpotProposals, want, dtype: torch.dtype) -> None:
    for g, w in zip(got[:4], want[:4]):
        assert g.dtype == torch.int64 and torch.equal(g, w), (got, want)
    assert got.score.dtype == dtype
    assert_close(got.score, want[4], dtype)


@given(shape=ragged(max_t=60), C=st.integers(1, 3), att_kind=st.sampled_from(KINDS),
       cas_kind=st.sampled_from(["grid", "coarse", "nan"]), m_values=m_lists, params=PARAMS,
       dtype=st.sampled_from([torch.float32, torch.float64]), seed=st.integers(0, 2**31), non_contig=st.booleans())
def test_matches_reference_composition(shape, C, att_kind, cas_kind, m_values, params, dtype, seed, non_contig):
    B, T, lengths = shape
    a, x, p = inputs(seed, B, T, C, att_kind, cas_kind, dtype)
    a_in, x_in = (strided(a), strided(x)) if non_contig else (a, x)
    got = ops.spot_postprocess(a_in, x_in, p, lengths, m_values=m_values, **params)
    check_same(got, reference.spot_postprocess(a, x, p, lengths, m_values=m_values, **params), dtype)


@given(shape=ragged(max_b=5, max_t=60), m_values=m_lists, seed=st.integers(0, 2**31))
def test_batched_equals_per_video(shape, m_values, seed):
    B, T, lengths = shape
    a, x, p = inputs(seed, B, T, 2, "float", "grid", torch.float64)
    kw = dict(m_values=m_values, psi=0.25, varsigma=0.15, nms_threshold=0.01, score_threshold=0.1)
    got = ops.spot_postprocess(a, x, p, lengths, **kw)
    assert torch.all(got.batch_idx[1:] >= got.batch_idx[:-1])
    for b in range(B):
        L = int(lengths[b])
        one = ops.spot_postprocess(a[b:b + 1, :L], x[b:b + 1, :L], p[b:b + 1], None, **kw)
        sel = got.batch_idx == b
        for field in ("start", "end", "label", "score"):
            assert torch.equal(getattr(got, field)[sel], getattr(one, field))


def test_equals_composing_the_ops():
    a, x, p = inputs(7, 3, 50, 2, "float", "grid", torch.float64)
    lengths = torch.tensor([50, 31, 0])
    m = list(range(4, 19))
    bi, s, e = ops.multi_top_proposals(a, lengths, m)
    phi = ops.outer_inner_scores(x, lengths, bi, s, e, p, psi=0.25, varsigma=0.15)
    C = x.shape[2]
    rep = lambda t: t.repeat_interleave(C)  # noqa: E731 — proposals listed by (candidate, class)
    labels = torch.arange(C).repeat(bi.numel())
    keep = ops.nms_1d(rep(bi), rep(s), rep(e), phi.flatten(), 0.01)
    keep = keep[phi.flatten()[keep] >= 0.1]
    keep = keep[torch.sort(rep(bi)[keep], stable=True).indices]
    got = ops.spot_postprocess(a, x, p, lengths, m_values=m, psi=0.25, varsigma=0.15)
    # nms_1d breaks the last tie by index = class here, as spot_postprocess does.
    assert torch.equal(got.batch_idx, rep(bi)[keep]) and torch.equal(got.start, rep(s)[keep])
    assert torch.equal(got.end, rep(e)[keep]) and torch.equal(got.label, labels[keep])
    assert torch.equal(got.score, phi.flatten()[keep])


def test_nan_scores_are_dropped_and_never_crash():
    a = torch.rand(2, 40)
    x = torch.full((2, 40, 2), float("nan"))
    got = ops.spot_postprocess(a, x, torch.rand(2, 2), m_values=range(8, 23), psi=0.25, varsigma=0.15,
                               score_threshold=float("-inf"))
    assert got.score.numel() == 0


def test_empty_batch_and_lengths():
    for B, T, lengths in [(0, 10, None), (2, 0, None), (2, 10, torch.tensor([0, 0]))]:
        got = ops.spot_postprocess(torch.rand(B, T), torch.rand(B, T, 2), torch.rand(B, 2), lengths,
                                   m_values=[2, 3], psi=0.25, varsigma=0.15)
        assert all(t.numel() == 0 for t in got)


def _call(**kw):
    args = dict(attention=torch.rand(2, 9), suppressed_cas=torch.rand(2, 9, 2), video_scores=torch.rand(2, 2),
                lengths=torch.tensor([9, 5]), m_values=[2, 3], psi=0.25, varsigma=0.15, nms_threshold=0.01,
                score_threshold=0.1)
    args.update(kw)
    return ops.spot_postprocess(args.pop("attention"), args.pop("suppressed_cas"), args.pop("video_scores"),
                                args.pop("lengths"), **args)


@pytest.mark.parametrize("kw, exc, match", [
    (dict(suppressed_cas=torch.rand(2, 8, 2)), ValueError, "suppressed_cas to have shape"),
    (dict(video_scores=torch.rand(2, 3)), ValueError, "video_scores to have shape"),
    (dict(suppressed_cas=torch.rand(2, 9, 2, dtype=torch.float64)), TypeError, "suppressed_cas to have dtype"),
    (dict(attention=torch.ones(2, 9, dtype=torch.int64)), TypeError, "attention to have dtype"),
    (dict(lengths=torch.tensor([9, 10])), ValueError, "lengths to lie in"),
    (dict(lengths=torch.tensor([9])), ValueError, "lengths to have shape"),
    (dict(nms_threshold=-0.01), ValueError, "nms_threshold to lie in"),
    (dict(score_threshold=float("nan")), ValueError, "score_threshold to be a number"),
    (dict(psi=-1.0), ValueError, "psi to be >= 0"),
    (dict(m_values=[0]), ValueError, "m_values to hold integers >= 1"),
])
def test_bad_input(kw, exc, match):
    with pytest.raises(exc, match=f"mcwes.spot_postprocess: expected {match}"):
        _call(**kw)


def test_opcheck(device):
    a, x, p = (t.to(device) for t in inputs(3, 2, 40, 2, "float", "grid", torch.float64))
    args = (a, x, p, torch.tensor([40, 23], device=device), list(range(4, 10)), 0.25, 0.15, 0.01, 0.1)
    torch.library.opcheck(torch.ops.mcwes.spot_postprocess_fwd, args, test_utils=("test_schema", "test_faketensor"))
    eager = ops.spot_postprocess(a, x, p, args[3], m_values=args[4], psi=0.25, varsigma=0.15)
    for g, w in zip(torch.ops.mcwes.spot_postprocess_fwd(*args), eager):
        assert torch.equal(g, w)


@requires_cuda
@given(shape=ragged(max_t=60), att_kind=st.sampled_from(KINDS), m_values=m_lists, seed=st.integers(0, 2**31),
       dtype=st.sampled_from([torch.float32, torch.float64]))
def test_cuda_matches_cpu(shape, att_kind, m_values, seed, dtype):
    B, T, lengths = shape
    a, x, p = inputs(seed, B, T, 2, att_kind, "grid", dtype)
    kw = dict(m_values=m_values, psi=0.25, varsigma=0.15, nms_threshold=0.01, score_threshold=0.1)
    cpu = ops.spot_postprocess(a, x, p, lengths, **kw)
    gpu = ops.spot_postprocess(a.cuda(), x.cuda(), p.cuda(), lengths.cuda(), **kw)
    for c, g in zip(cpu, gpu):
        assert g.is_cuda and torch.equal(g.cpu(), c)
