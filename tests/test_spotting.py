"""mcwes.spotting: one record type for both post-processings, the dispatch on SpotConfig, and the energy
baseline's proposals (frame intervals of its runs, labelled by duration)."""
from __future__ import annotations

import numpy as np
import torch

import mcwes
from mcwes import ops, spotting
from mcwes.config import SpotConfig
from mcwes.proposals import Proposals


def _inputs(seed: int, B: int = 3, T: int = 40):
    g = torch.Generator().manual_seed(seed)
    a = torch.rand(B, T, generator=g)
    x = torch.randn(B, T, 2, generator=g)
    p = torch.rand(B, 2, generator=g)
    lengths = torch.tensor([T, T // 2, 1][:B])
    return a, x, p, lengths


def test_one_record_type():
    assert spotting.SpotProposals is ops.SpotProposals
    assert spotting.multi_top is ops.spot_postprocess


def test_postprocess_follows_the_config():
    a, x, p, lengths = _inputs(1)
    top = SpotConfig(score_threshold=-10.0)
    got = spotting.postprocess(a, x, p, lengths, top)
    want = ops.spot_postprocess(a, x, p, lengths, m_values=top.m_values(), psi=top.psi, varsigma=top.varsigma,
                                nms_threshold=top.nms_threshold, score_threshold=top.score_threshold)
    for g_, w_ in zip(got, want):
        assert torch.equal(g_, w_)
    thr = SpotConfig(postprocess="multi_threshold", thresholds=(0.3, 0.6), score_threshold=-10.0)
    got = spotting.postprocess(a, x, p, lengths, thr)
    want = spotting.multi_threshold_proposals(a, x, p, lengths, thresholds=thr.thresholds, psi=thr.psi,
                                              varsigma=thr.varsigma, nms_threshold=thr.nms_threshold,
                                              score_threshold=thr.score_threshold)
    assert isinstance(got, spotting.SpotProposals) and got.score.numel() > 0
    for g_, w_ in zip(got, want):
        assert torch.equal(g_, w_)


def test_energy_baseline_gives_proposals_of_its_runs():
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(30, 8)) * 0.1
    feats[10:12] += 3.0  # one short burst: 2 snippets = 16 frames at g = 8 → MaE at 30 fps (ME ≤ 15)
    feats[20] += 3.0  # one snippet = 8 frames → ME
    props = spotting.energy_proposals(feats, n_frames=236, snippet_frames=8, fps=30.0, video="v")
    assert isinstance(props, Proposals)
    assert [(q.onset, q.offset, q.label, q.model_label) for q in props] == [(80, 95, "MaE", "MaE"), (160, 167, "ME", "ME")]
    z = spotting.energy_scores(feats)
    assert props[0].score == np.float64(z[10:12].mean()) and props[1].score == np.float64(z[20])
    assert mcwes.data.energy_baseline is spotting.energy_baseline
