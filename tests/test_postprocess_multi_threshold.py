"""multi_threshold_proposals against a brute-force loop written from docs/method.md §4 steps 3–5."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from mcwes.spotting import SpotProposals, multi_threshold_proposals


def _brute(a, x, p, lengths, thresholds, psi, varsigma, nms_thr, score_thr, n=2):
    out = []
    for b in range(a.shape[0]):
        T = int(lengths[b])
        cands = set()
        for tau in thresholds:
            t = 0
            while t < T:
                if a[b, t] >= tau:
                    s = t
                    while t + 1 < T and a[b, t + 1] >= tau:
                        t += 1
                    cands.add((s, t))
                t += 1
        props = []
        for s, e in cands:
            L = e - s + 1
            r = max(1, math.floor(psi * L + 0.5))
            outer_idx = [t for t in range(s - r, s) if t >= 0] + [t for t in range(e + 1, e + r + 1) if t < T]
            for j in range(n):
                inner = sum(x[b, t, j] for t in range(s, e + 1)) / L
                outer = sum(x[b, t, j] for t in outer_idx) / len(outer_idx) if outer_idx else 0.0
                props.append((inner - outer + varsigma * p[b, j], s, e, j))
        props.sort(key=lambda q: (-q[0], q[1], q[2], q[3]))
        kept = []
        for q in props:
            ok = True
            for k in kept:
                inter = max(0, min(q[2], k[2]) - max(q[1], k[1]) + 1)
                union = (q[2] - q[1] + 1) + (k[2] - k[1] + 1) - inter
                if inter / union > nms_thr:
                    ok = False
                    break
            if ok:
                kept.append(q)
        out += [(b, s, e, j, sc) for sc, s, e, j in kept if sc >= score_thr]
    return out


@st.composite
def _batches(draw):
    B = draw(st.integers(0, 3))
    T = draw(st.integers(0, 14))
    lengths = [draw(st.integers(0, T)) for _ in range(B)]
    levels = st.sampled_from([0.05, 0.2, 0.35, 0.5, 0.65, 0.8, 0.95])  # coarse: runs and ties happen
    a = np.array([[draw(levels) for _ in range(T)] for _ in range(B)]).reshape(B, T)
    x = np.array(draw(st.lists(st.floats(-3, 3, width=32), min_size=B * T * 3, max_size=B * T * 3))).reshape(B, T, 3)
    p = np.array(draw(st.lists(st.floats(0, 1, width=32), min_size=B * 3, max_size=B * 3))).reshape(B, 3)
    psi = draw(st.sampled_from([0.0, 0.25, 0.5, 1.0]))
    nms = draw(st.sampled_from([0.0, 0.01, 0.3, 1.0]))
    thresholds = draw(st.lists(st.sampled_from([0.1, 0.3, 0.5, 0.7, 0.9]), min_size=1, max_size=5))
    return a, x, p, np.array(lengths, dtype=np.int64), thresholds, psi, nms


@given(case=_batches(), varsigma=st.sampled_from([0.0, 0.15, 0.5]), score_thr=st.sampled_from([-10.0, 0.0, 0.1]))
def test_matches_brute_force(case, varsigma, score_thr):
    a, x, p, lengths, thresholds, psi, nms = case
    got = multi_threshold_proposals(
        torch.tensor(a), torch.tensor(x), torch.tensor(p), torch.tensor(lengths),
        thresholds=thresholds, psi=psi, varsigma=varsigma, nms_threshold=nms, score_threshold=score_thr,
    )
    want = _brute(a, x, p, lengths, thresholds, psi, varsigma, nms, score_thr)
    assert isinstance(got, SpotProposals)
    got_rows = list(zip(got.batch_idx.tolist(), got.start.tolist(), got.end.tolist(), got.label.tolist()))
    # Scores equal up to rounding; the order is the same unless two scores differ by rounding only.
    assert sorted(got_rows) == sorted((b, s, e, j) for b, s, e, j, _ in want)
    got_scores = dict(zip(got_rows, got.score.tolist()))
    for b, s, e, j, sc in want:
        assert got_scores[(b, s, e, j)] == pytest.approx(sc, abs=1e-9)
    assert all(d >= 0 for d in np.diff(got.batch_idx.numpy()))
    for b in set(got.batch_idx.tolist()):
        sc = got.score[got.batch_idx == b]
        assert bool((sc[:-1] >= sc[1:] - 1e-12).all())


def test_hand_example():
    # One video, 8 snippets; thresholds 0.5 and 0.8 give runs [1, 3], [6, 6] and [2, 2].
    a = torch.tensor([[0.1, 0.6, 0.9, 0.6, 0.1, 0.1, 0.7, 0.2]])
    x = torch.zeros(1, 8, 3)
    x[0, 1:4, 0] = 2.0  # MaE high on [1, 3]
    x[0, 6, 1] = 1.0  # ME high on [6, 6]
    p = torch.tensor([[0.5, 0.5, 0.0]])
    got = multi_threshold_proposals(a, x, p, thresholds=[0.5, 0.8], psi=0.25, varsigma=0.0, nms_threshold=0.01,
                                    score_threshold=0.1)
    # [1, 3] MaE: inner 2, r = max(1, floor(0.75 + 0.5)) = 1, outer over snippets 0 and 4: 0 -> φ = 2.
    # [2, 2] MaE: inner 2, outer (2 + 2) / 2 = 2 -> φ = 0 (and it overlaps [1, 3]: suppressed anyway).
    # [6, 6] ME: inner 1, outer over 5 and 7: 0 -> φ = 1. Both classes of [6, 6] overlap: one kept.
    rows = list(zip(got.start.tolist(), got.end.tolist(), got.label.tolist(), got.score.tolist()))
    assert rows == [(1, 3, 0, 2.0), (6, 6, 1, 1.0)]
    assert got.batch_idx.tolist() == [0, 0] and got.score.dtype == torch.float32


def test_empty_and_zero_length():
    empty = multi_threshold_proposals(torch.zeros(0, 5), torch.zeros(0, 5, 3), torch.zeros(0, 3),
                                      thresholds=[0.5], psi=0.25, varsigma=0.15)
    assert all(t.numel() == 0 for t in empty)
    got = multi_threshold_proposals(torch.ones(2, 4), torch.ones(2, 4, 3), torch.ones(2, 3), torch.tensor([0, 4]),
                                    thresholds=[0.5], psi=0.25, varsigma=0.15, score_threshold=-1.0)
    assert got.batch_idx.tolist() == [1]  # video 0 has no valid snippet; video 1 one run [0, 3]


def test_padding_never_changes_valid_results():
    torch.manual_seed(0)
    a, x, p = torch.rand(1, 12), torch.randn(1, 12, 3), torch.rand(1, 3)
    kw = dict(thresholds=[0.2, 0.5, 0.8], psi=0.25, varsigma=0.15, score_threshold=-5.0)
    short = multi_threshold_proposals(a[:, :9], x[:, :9], p, **kw)
    a2, x2 = a.clone(), x.clone()
    a2[:, 9:], x2[:, 9:] = 1.0, 100.0
    padded = multi_threshold_proposals(a2, x2, p, torch.tensor([9]), **kw)
    for u, v in zip(short, padded):
        assert torch.equal(u, v)


def test_bad_inputs():
    a, x, p = torch.rand(1, 5), torch.rand(1, 5, 3), torch.rand(1, 3)
    kw = dict(thresholds=[0.5], psi=0.25, varsigma=0.15)
    with pytest.raises(ValueError, match="mcwes.multi_threshold_proposals: expected suppressed_cas"):
        multi_threshold_proposals(a, x[:, :4], p, **kw)
    with pytest.raises(ValueError, match="lengths"):
        multi_threshold_proposals(a, x, p, torch.tensor([6]), **kw)
    with pytest.raises(ValueError, match="thresholds"):
        multi_threshold_proposals(a, x, p, thresholds=[], psi=0.25, varsigma=0.15)
    with pytest.raises(ValueError, match="psi"):
        multi_threshold_proposals(a, x, p, thresholds=[0.5], psi=-1.0, varsigma=0.15)
    with pytest.raises(ValueError, match="finite"):
        multi_threshold_proposals(a, x.clone().fill_(float("nan")), p, **kw)
    with pytest.raises(TypeError, match="attention"):
        multi_threshold_proposals(a.numpy(), x, p, **kw)
