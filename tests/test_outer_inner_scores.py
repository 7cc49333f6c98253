"""outer_inner_scores vs its reference twin (direct sums): values, NaN/inf, margins, ragged
batches, strides, CUDA, bad input."""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, strategies as st

from conftest import assert_close, requires_cuda
from spot_cases import KINDS, ragged, strided, values
from mcwes import ops, reference


def intervals(seed: int, lengths: torch.Tensor, count: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """`count` random valid intervals over the videos with length > 0, in random video order."""
    g = torch.Generator().manual_seed(seed)
    videos = [b for b, L in enumerate(lengths.tolist()) if L > 0]
    rows = []
    for _ in range(count if videos else 0):
        b = videos[int(torch.randint(len(videos), (1,), generator=g))]
        L = int(lengths[b])
        s = int(torch.randint(L, (1,), generator=g))
        e = s + int(torch.randint(min(L - s, 12), (1,), generator=g))
        rows.append((b, s, e))
    cols = list(zip(*rows)) if rows else [(), (), ()]
    return tuple(torch.tensor(list(c), dtype=torch.int64) for c in cols)  # type: ignore[return-value]


@given(shape=ragged(), kind=st.sampled_from(KINDS), C=st.integers(1, 3), count=st.integers(0, 20),
       psi=st.sampled_from([0.0, 0.25, 0.5, 1.3, 40.0]), varsigma=st.sampled_from([0.0, 0.15, -0.5]),
       dtype=st.sampled_from([torch.float32, torch.float64]), seed=st.integers(0, 2**31), non_contig=st.booleans())
def test_matches_reference(shape, kind, C, count, psi, varsigma, dtype, seed, non_contig):
    B, T, lengths = shape
    x = values(seed, (B, T, C), kind, dtype)
    p = values(seed + 1, (B, C), "float", dtype).abs()
    bi, s, e = intervals(seed, lengths, count)
    x_in = strided(x) if non_contig else x
    got = ops.outer_inner_scores(x_in, lengths, bi, s, e, p, psi=psi, varsigma=varsigma)
    want = reference.outer_inner_scores(x, lengths, bi, s, e, p, psi=psi, varsigma=varsigma)
    assert got.shape == (bi.numel(), C) and got.dtype == dtype
    assert_close(got, want, dtype)


@given(shape=ragged(max_b=5), count=st.integers(0, 20), seed=st.integers(0, 2**31))
def test_batched_equals_per_video(shape, count, seed):
    B, T, lengths = shape
    x = values(seed, (B, T, 2), "grid", torch.float64)
    p = values(seed + 1, (B, 2), "grid", torch.float64)
    bi, s, e = intervals(seed, lengths, count)
    batched = ops.outer_inner_scores(x, lengths, bi, s, e, p, psi=0.25, varsigma=0.15)
    for i in range(bi.numel()):
        b = int(bi[i])
        L = int(lengths[b])
        one = ops.outer_inner_scores(x[b:b + 1, :L], None, torch.zeros(1, dtype=torch.int64), s[i:i + 1],
                                     e[i:i + 1], p[b:b + 1], psi=0.25, varsigma=0.15)
        assert torch.equal(batched[i], one[0])


def test_hand_worked():
    x = torch.tensor([[[1.0], [2.0], [3.0], [4.0], [9.0]]], dtype=torch.float64)
    p = torch.tensor([[0.5]], dtype=torch.float64)
    idx = torch.zeros(4, dtype=torch.int64)
    s = torch.tensor([2, 1, 2, 0])
    e = torch.tensor([2, 3, 2, 4])
    # [2,2] psi=.25: r=max(1, floor(.75))=1, outer {1,3} -> 3, inner 3 -> 0 + .2*.5 = .1
    # [1,3]: r=floor(.75+.5)=1, outer {0,4} -> 5, inner 3 -> -2 + .1
    got = ops.outer_inner_scores(x, None, idx, s, e, p, psi=0.25, varsigma=0.2)
    assert_close(got[:2, 0], torch.tensor([0.1, -1.9], dtype=torch.float64))
    # psi=1.5, [2,2]: r=floor(1.5+.5)=2, outer {0,1,3,4} -> 4, inner 3 -> -1 + .1; [0,4]: no outer -> 19/5 + .1
    got = ops.outer_inner_scores(x, None, idx, s, e, p, psi=1.5, varsigma=0.2)
    assert_close(got[2:, 0], torch.tensor([-0.9, 3.9], dtype=torch.float64))


def test_nan_stays_in_its_windows():
    x = torch.tensor([[[float("nan")], [2.0], [3.0], [4.0], [5.0], [6.0]]])
    got = ops.outer_inner_scores(x, None, torch.zeros(2, dtype=torch.int64), torch.tensor([3, 1]),
                                 torch.tensor([4, 1]), torch.ones(1, 1), psi=0.25, varsigma=0.0)
    assert torch.isfinite(got[0, 0]) and torch.isnan(got[1, 0])


def test_padding_is_never_read():
    x = torch.rand(2, 8, 2, dtype=torch.float64)
    p = torch.rand(2, 2, dtype=torch.float64)
    lengths = torch.tensor([5, 8])
    args = (torch.tensor([0, 0]), torch.tensor([3, 0]), torch.tensor([4, 4]))
    before = ops.outer_inner_scores(x, lengths, *args, p, psi=0.5, varsigma=0.15)
    x[0, 5:] = float("nan")
    assert torch.equal(ops.outer_inner_scores(x, lengths, *args, p, psi=0.5, varsigma=0.15), before)


def _call(**kw):
    args = dict(x=torch.rand(2, 6, 2), lengths=torch.tensor([6, 3]), batch_idx=torch.tensor([0, 1]),
                start=torch.tensor([0, 1]), end=torch.tensor([2, 2]), video_scores=torch.rand(2, 2), psi=0.25,
                varsigma=0.15)
    args.update(kw)
    return ops.outer_inner_scores(args.pop("x"), args.pop("lengths"), args.pop("batch_idx"), args.pop("start"),
                                  args.pop("end"), args.pop("video_scores"), **args)


@pytest.mark.parametrize("kw, exc, match", [
    (dict(batch_idx=torch.tensor([0, 2])), ValueError, "batch_idx to lie in"),
    (dict(batch_idx=torch.tensor([-1, 0])), ValueError, "batch_idx to lie in"),
    (dict(end=torch.tensor([2, 3])), ValueError, "end to be < lengths"),
    (dict(start=torch.tensor([3, 1])), ValueError, "0 <= start <= end"),
    (dict(start=torch.tensor([-1, 1])), ValueError, "0 <= start <= end"),
    (dict(start=torch.tensor([0])), ValueError, "batch_idx, start and end to have the same length"),
    (dict(psi=-0.1), ValueError, "psi"),
    (dict(varsigma=float("nan")), ValueError, "varsigma"),
    (dict(video_scores=torch.rand(2, 2, dtype=torch.float64)), TypeError, "video_scores to have dtype"),
    (dict(video_scores=torch.rand(2, 3)), ValueError, "video_scores to have shape"),
    (dict(start=torch.tensor([0, 1], dtype=torch.int32)), TypeError, "start to have dtype"),
    (dict(lengths=torch.tensor([7, 3])), ValueError, "lengths to lie in"),
])
def test_bad_input(kw, exc, match):
    with pytest.raises(exc, match=f"mcwes.outer_inner_scores: expected {match}"):
        _call(**kw)


def test_opcheck(device):
    x = torch.rand(2, 9, 2, dtype=torch.float64)
    args = (x, torch.tensor([9, 4]), torch.tensor([0, 1, 0]), torch.tensor([0, 1, 4]), torch.tensor([2, 3, 8]),
            torch.rand(2, 2, dtype=torch.float64))
    torch.library.opcheck(torch.ops.mcwes.outer_inner_scores_fwd, (*(t.to(device) for t in args), 0.25, 0.15))


@requires_cuda
@given(shape=ragged(), kind=st.sampled_from(KINDS), count=st.integers(0, 20), seed=st.integers(0, 2**31),
       dtype=st.sampled_from([torch.float32, torch.float64]))
def test_cuda_matches_cpu(shape, kind, count, seed, dtype):
    B, T, lengths = shape
    x = values(seed, (B, T, 2), kind, dtype)
    p = values(seed + 1, (B, 2), "float", dtype)
    idx = intervals(seed, lengths, count)
    cpu = ops.outer_inner_scores(x, lengths, *idx, p, psi=0.25, varsigma=0.15)
    gpu = ops.outer_inner_scores(x.cuda(), lengths.cuda(), *(t.cuda() for t in idx), p.cuda(), psi=0.25,
                                 varsigma=0.15)
    assert_close(gpu.cpu(), cpu, dtype)
