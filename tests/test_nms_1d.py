"""nms_1d vs its reference twin: ties, NaN scores, thresholds, ragged batches, CUDA, bad input."""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, strategies as st

from conftest import requires_cuda
from spot_cases import values
from mcwes import ops, reference

THRESHOLDS = [0.0, 0.01, 0.3, 0.5, 1.0]


def proposals(seed: int, count: int, videos: int, kind: str, dtype: torch.dtype):
    g = torch.Generator().manual_seed(seed)
    bi = torch.randint(0, max(videos, 1), (count,), generator=g)
    s = torch.randint(0, 30, (count,), generator=g)
    e = s + torch.randint(0, 10, (count,), generator=g)
    return bi, s, e, values(seed, (count,), kind, dtype)


@given(count=st.integers(0, 60), videos=st.integers(1, 4), kind=st.sampled_from(["float", "coarse", "constant", "nan"]),
       thr=st.sampled_from(THRESHOLDS), dtype=st.sampled_from([torch.float32, torch.float64]),
       seed=st.integers(0, 2**31))
def test_matches_reference(count, videos, kind, thr, dtype, seed):
    bi, s, e, sc = proposals(seed, count, videos, kind, dtype)
    got = ops.nms_1d(bi, s, e, sc, thr)
    assert got.dtype == torch.int64
    assert torch.equal(got, reference.nms_1d(bi, s, e, sc, thr))


@given(count=st.integers(0, 60), seed=st.integers(0, 2**31), thr=st.sampled_from(THRESHOLDS))
def test_batched_equals_per_video(count, seed, thr):
    bi, s, e, sc = proposals(seed, count, 3, "coarse", torch.float64)
    kept = ops.nms_1d(bi, s, e, sc, thr)
    for b in range(3):
        idx = (bi == b).nonzero().flatten()
        alone = idx[ops.nms_1d(bi[idx], s[idx], e[idx], sc[idx], thr)]
        assert torch.equal(kept[bi[kept] == b], alone)


def test_hand_worked():
    # [0,9] (0.9) keeps; [5,14] IoU 5/15 > 0.3 -> out; [20,24] keeps; [0,9] in video 1 keeps.
    bi = torch.tensor([0, 0, 0, 1])
    s = torch.tensor([5, 0, 20, 0])
    e = torch.tensor([14, 9, 24, 9])
    sc = torch.tensor([0.8, 0.9, 0.1, 0.85])
    assert ops.nms_1d(bi, s, e, sc, 0.3).tolist() == [1, 3, 2]
    assert ops.nms_1d(bi, s, e, sc, 0.34).tolist() == [1, 3, 0, 2]  # 1/3 is not > 0.34


def test_ties_and_nan():
    # Equal scores: lower start first, then lower end, then lower index; NaN after every number.
    bi = torch.zeros(4, dtype=torch.int64)
    s = torch.tensor([3, 2, 2, 2])
    e = torch.tensor([3, 4, 3, 3])
    sc = torch.tensor([0.5, 0.5, 0.5, float("nan")])
    assert ops.nms_1d(bi, s, e, sc, 1.0).tolist() == [2, 1, 0, 3]
    assert ops.nms_1d(bi, s, e, sc, 0.0).tolist() == [2]


def test_empty():
    z = torch.zeros(0, dtype=torch.int64)
    assert ops.nms_1d(z, z, z, torch.zeros(0), 0.5).numel() == 0


def _call(**kw):
    args = dict(batch_idx=torch.tensor([0, 1]), start=torch.tensor([0, 1]), end=torch.tensor([2, 2]),
                scores=torch.rand(2), iou_threshold=0.5)
    args.update(kw)
    return ops.nms_1d(**args)


@pytest.mark.parametrize("kw, exc, match", [
    (dict(iou_threshold=-0.1), ValueError, "iou_threshold to lie in"),
    (dict(iou_threshold=1.5), ValueError, "iou_threshold to lie in"),
    (dict(iou_threshold=float("nan")), ValueError, "iou_threshold to be finite"),
    (dict(batch_idx=torch.tensor([0, -1])), ValueError, "batch_idx to be >= 0"),
    (dict(start=torch.tensor([3, 1])), ValueError, "0 <= start <= end"),
    (dict(start=torch.tensor([-2, 1])), ValueError, "0 <= start <= end"),
    (dict(scores=torch.rand(3)), ValueError, "batch_idx, start, end and scores to have the same length"),
    (dict(scores=torch.tensor([1, 2])), TypeError, "scores to have dtype"),
    (dict(end=torch.tensor([2.0, 2.0])), TypeError, "end to have dtype"),
])
def test_bad_input(kw, exc, match):
    with pytest.raises(exc, match=f"mcwes.nms_1d: expected {match}"):
        _call(**kw)


def test_opcheck(device):
    bi, s, e, sc = (t.to(device) for t in proposals(3, 40, 3, "float", torch.float64))
    torch.library.opcheck(torch.ops.mcwes.nms_1d_fwd, (bi, s, e, sc, 0.3),
                          test_utils=("test_schema", "test_faketensor"))


@requires_cuda
@given(count=st.integers(0, 60), videos=st.integers(1, 4), kind=st.sampled_from(["float", "coarse", "nan"]),
       thr=st.sampled_from(THRESHOLDS), seed=st.integers(0, 2**31))
def test_cuda_matches_cpu(count, videos, kind, thr, seed):
    bi, s, e, sc = proposals(seed, count, videos, kind, torch.float32)
    cpu = ops.nms_1d(bi, s, e, sc, thr)
    gpu = ops.nms_1d(bi.cuda(), s.cuda(), e.cuda(), sc.cuda(), thr)
    assert gpu.is_cuda and torch.equal(gpu.cpu(), cpu)
