"""The seven MC-WES losses against naive per-video computations written from docs/method.md §3 (float64)."""
from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, strategies as st

from conftest import assert_close
from mcwes import losses, reference
from mcwes.config import LOSS_NAMES, TrainConfig
from mcwes.model import MCWESOutput

H = (7.0, 9.0, 5.0)
LAMBDAS = (0.5, 0.5, 0.8, 0.8)


def _output(lengths, T, n=2, D2=6, seed=0, dtype=torch.float64, garbage=0.0) -> MCWESOutput:
    """Random network outputs; padded positions hold `garbage` (the losses must ignore them)."""
    g = torch.Generator().manual_seed(seed)
    B = len(lengths)
    S = torch.randn(B, T, n + 1, generator=g, dtype=dtype) * 2
    a_rgb = torch.rand(B, T, generator=g, dtype=dtype) * 0.98 + 0.01
    a_flow = torch.rand(B, T, generator=g, dtype=dtype) * 0.98 + 0.01
    a = torch.rand(B, T, generator=g, dtype=dtype) * 0.98 + 0.01
    f = torch.randn(B, T, D2, generator=g, dtype=dtype)
    len_t = torch.tensor(lengths, dtype=torch.int64)
    pad = torch.arange(T).unsqueeze(0) >= len_t.unsqueeze(1)
    for t in (S, f):
        t[pad] = garbage
    for t in (a_rgb, a_flow, a):
        t[pad] = garbage
    return MCWESOutput(S=S.requires_grad_(), A=a.requires_grad_(), A_rgb=a_rgb.requires_grad_(),
                       A_flow=a_flow.requires_grad_(), f=f.requires_grad_(), lengths=len_t)


# ---- naive versions: one video at a time, trimmed to its valid length, plain Python where possible ----

def _k(T: int, h: float) -> int:
    return max(1, math.floor(T / h))


def _naive_u(S: torch.Tensor, h) -> torch.Tensor:
    """Top-K pooling of one trimmed [T, C] T-CAM, by sorting in Python (ties: lower index)."""
    T, C = S.shape
    cols = []
    for c in range(C):
        order = sorted(range(T), key=lambda t: (-float(S[t, c].detach()), t))[: min(_k(T, h[c]), T)]
        cols.append(sum(S[t, c] for t in order) / len(order))
    return torch.stack(cols)


def _naive_mil(S: torch.Tensor, y: torch.Tensor, h) -> torch.Tensor:
    y_hat = y / (y.sum() + 1e-4)
    u = _naive_u(S, h)
    p = torch.exp(u) / torch.exp(u).sum()
    return -(y_hat * torch.log(p)).sum()


def _naive_terms(out: MCWESOutput, y: torch.Tensor, pairs, cfg: TrainConfig) -> dict[str, torch.Tensor]:
    B = out.S.shape[0]
    acc = {name: 0.0 for name in ("dc1", "dc2", "dc3", "sc", "sl", "gl")}
    for b in range(B):
        L = int(out.lengths[b])
        S, A, Ar, Af = out.S[b, :L], out.A[b, :L], out.A_rgb[b, :L], out.A_flow[b, :L]
        yb = y[b]
        acc["dc1"] = acc["dc1"] + _naive_mil(S, torch.cat([yb, yb.new_ones(1)]), cfg.h)
        m = S.min(dim=1, keepdim=True).values
        S_hat = A.unsqueeze(1) * (S - m) + m
        acc["dc2"] = acc["dc2"] + _naive_mil(S_hat, torch.cat([yb, yb.new_zeros(1)]), cfg.h)
        M = reference.duration_mask(A.detach().unsqueeze(0), [L], eta=cfg.eta, omega_l=cfg.omega_l, omega_u=cfg.omega_u)[0]
        y3 = torch.stack([yb[0], yb.new_zeros(()), yb.new_ones(())])
        acc["dc3"] = acc["dc3"] + _naive_mil(M.unsqueeze(1) * S, y3, cfg.h)
        acc["sc"] = acc["sc"] + 0.5 * ((Ar - Af.detach()) ** 2).sum() / L + 0.5 * ((Ar.detach() - Af) ** 2).sum() / L
        acc["sl"] = acc["sl"] + (A.sum() + Ar.sum() + Af.sum()) / (3 * L)
        p_f = 1 - torch.softmax(S, dim=1)[:, -1]
        acc["gl"] = acc["gl"] + ((p_f - A).abs().sum() + (p_f - Ar).abs().sum() + (p_f - Af).abs().sum()) / (3 * L)
    terms = {name: value / B for name, value in acc.items()}
    terms["fc"] = _naive_fc(out, y, pairs, cfg.h[0])
    return terms


def _naive_cs(f1, s1, a1, f2, a2, y, k):
    """cs_{v2} of eqs. 11–13, with explicit loops over classes, snippets and the k selected snippets."""
    n = y.shape[0]
    top = sorted(range(len(a1)), key=lambda t: (-float(a1[t].detach()), t))[:k]
    w = torch.softmax(s1[top, :n], dim=1)
    f1n = f1 / f1.norm(dim=1, keepdim=True)
    f2n = f2 / f2.norm(dim=1, keepdim=True)
    cs = 0.0
    for i in range(n):
        weighted = f1n[top] * w[:, i : i + 1]  # [k, D]
        num = 0.0
        for t in range(f2.shape[0]):
            logits = torch.stack([f2n[t] @ weighted[j] for j in range(len(top))])
            num = num + a2[t] * torch.softmax(logits, dim=0).max()
        cs = cs + y[i] * num / a2.sum()
    return cs


def _naive_fc(out, y, pairs, h_mae):
    total, n_s = 0.0, 0.0
    for i, j in pairs:
        Li, Lj = int(out.lengths[i]), int(out.lengths[j])
        shared = y[i] * y[j]
        n_s += float(shared.sum())
        vi = (out.f[i, :Li], out.S[i, :Li], out.A[i, :Li])
        vj = (out.f[j, :Lj], out.S[j, :Lj], out.A[j, :Lj])
        total = total + _naive_cs(*vi, vj[0], vj[2], shared, _k(Li, h_mae))
        total = total + _naive_cs(*vj, vi[0], vi[2], shared, _k(Lj, h_mae))
    return out.S.new_zeros(()) if n_s == 0 else 1 - total / (2 * n_s)


def _config(**kw) -> TrainConfig:
    cfg = TrainConfig(h=H, lambdas=LAMBDAS, **kw)
    cfg.validate()
    return cfg


LABELS = torch.tensor([[1, 0], [1, 1], [0, 1], [1, 1]], dtype=torch.float64)
PAIRS = [(0, 1), (2, 3)]


@pytest.mark.parametrize("kernels", [True, False])
def test_every_term_matches_naive(kernels):
    out = _output([23, 17, 30, 9], 30, seed=1, garbage=7.0)
    cfg = _config()
    got = losses.mcwes_losses(out, LABELS, cfg, PAIRS, kernels=kernels)
    want = _naive_terms(out, LABELS, PAIRS, cfg)
    for name in LOSS_NAMES:
        assert_close(got[name], want[name], torch.float64, rtol=1e-9, atol=1e-10)
    weights = {"sc": 1, "dc1": 1, "dc2": 1, "dc3": LAMBDAS[0], "fc": LAMBDAS[1], "sl": LAMBDAS[2], "gl": LAMBDAS[3]}
    assert_close(got["total"], sum(weights[k] * want[k] for k in weights), torch.float64, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("kernels", [True, False])
def test_gradients_match_naive(kernels):
    out = _output([12, 8, 12, 5], 12, seed=2)
    cfg = _config()
    got = losses.mcwes_losses(out, LABELS, cfg, PAIRS, kernels=kernels)["total"]
    g_got = torch.autograd.grad(got, [out.S, out.A, out.A_rgb, out.A_flow, out.f])
    want = _naive_terms(out, LABELS, PAIRS, cfg)
    weights = {"sc": 1, "dc1": 1, "dc2": 1, "dc3": LAMBDAS[0], "fc": LAMBDAS[1], "sl": LAMBDAS[2], "gl": LAMBDAS[3]}
    total = sum(weights[k] * want[k] for k in weights)
    g_want = torch.autograd.grad(total, [out.S, out.A, out.A_rgb, out.A_flow, out.f])
    for a, b in zip(g_got, g_want):
        assert_close(a, b, torch.float64, rtol=1e-8, atol=1e-10)


@given(lengths=st.lists(st.integers(1, 25), min_size=2, max_size=4), seed=st.integers(0, 2**16),
       labels=st.lists(st.sampled_from([(1, 0), (0, 1), (1, 1), (0, 0)]), min_size=4, max_size=4))
def test_terms_match_naive_random(lengths, seed, labels):
    B = len(lengths)
    out = _output(lengths, max(lengths) + 2, seed=seed, garbage=-3.0)
    y = torch.tensor(labels[:B], dtype=torch.float64)
    pairs = [(0, 1)] + ([(B - 2, B - 1)] if B > 2 else [])
    cfg = _config()
    got = losses.mcwes_losses(out, y, cfg, pairs, kernels=False)
    want = _naive_terms(out, y, pairs, cfg)
    for name in LOSS_NAMES:
        assert_close(got[name], want[name], torch.float64, rtol=1e-9, atol=1e-10)


def test_padding_content_is_ignored():
    cfg = _config()
    a = losses.mcwes_losses(_output([10, 6], 14, seed=3, garbage=0.0), LABELS[:2], cfg, [(0, 1)])
    b = losses.mcwes_losses(_output([10, 6], 14, seed=3, garbage=1e3), LABELS[:2], cfg, [(0, 1)])
    for name in a:
        assert_close(a[name], b[name], torch.float64)


def test_pair_similarity_hand_worked():
    # v1: 2 snippets, k = 1 selects t=1 (A = 0.9). Its features [0, 2] normalise to [0, 1]; its logits
    # (0, 0) give w = (1/2, 1/2). v2: 2 snippets with features [3, 0] and [0, 5], A = (1, 3).
    # With k = 1, softmax over the single selected snippet is 1 whatever the similarity: ms = 1,
    # so cs = Σ_i y_i · (1·1 + 3·1) / 4 = Σ_i y_i.
    f1 = torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
    s1 = torch.tensor([[5.0, 1.0, 0.0], [0.0, 0.0, 9.0]], dtype=torch.float64)
    a1 = torch.tensor([0.1, 0.9], dtype=torch.float64)
    f2 = torch.tensor([[3.0, 0.0], [0.0, 5.0]], dtype=torch.float64)
    a2 = torch.tensor([1.0, 3.0], dtype=torch.float64)
    y = torch.tensor([1.0, 0.0], dtype=torch.float64)
    assert float(losses.pair_similarity(f1, s1, a1, f2, a2, y, 1)) == pytest.approx(1.0)
    # k = 2 selects t=1 then t=0. Normalised v1 features: e2 (w = (1/2, 1/2)) and e1 (w = softmax(5, 1)
    # = (e⁴/(1+e⁴), 1/(1+e⁴))). For class 0 at v2's t=0 (feature e1): logits (e1·e2·½, e1·e1·w00)
    # = (0, w00); at t=1 (feature e2): logits (½, 0).
    w00 = math.exp(4) / (1 + math.exp(4))
    ms_t0 = max(1 / (1 + math.exp(w00)), math.exp(w00) / (1 + math.exp(w00)))
    ms_t1 = math.exp(0.5) / (1 + math.exp(0.5))
    expected = (1.0 * ms_t0 + 3.0 * ms_t1) / 4.0
    assert float(losses.pair_similarity(f1, s1, a1, f2, a2, y, 2)) == pytest.approx(expected, rel=1e-12)


def test_fc_without_pairs_or_shared_labels_is_zero():
    out = _output([8, 8], 8, seed=4)
    y = torch.tensor([[1, 0], [0, 1]], dtype=torch.float64)
    assert float(losses.loss_fc(out, y, [], 7.0)) == 0.0
    assert float(losses.loss_fc(out, y, [(0, 1)], 7.0)) == 0.0


def test_duration_mask_has_no_gradient_to_attention():
    out = _output([16, 11], 16, seed=5)
    loss = losses.loss_dc3(out, LABELS[:2], H, kernels=False)
    grad_a, grad_s = torch.autograd.grad(loss, [out.A, out.S], allow_unused=True)
    assert grad_a is None or float(grad_a.abs().sum()) == 0.0
    assert float(grad_s.abs().sum()) > 0


def test_sc_stop_gradient_semantics():
    out = _output([5], 5, seed=6)
    g_rgb, g_flow = torch.autograd.grad(losses.loss_sc(out), [out.A_rgb, out.A_flow])
    diff = (out.A_rgb - out.A_flow).detach()
    # d/dA_rgb of ½·mean(A_rgb − sg(A_flow))² is (A_rgb − A_flow)/T; the other half contributes nothing.
    assert_close(g_rgb, diff / 5, torch.float64)
    assert_close(g_flow, -diff / 5, torch.float64)


def test_subsets_switch_terms_off():
    out = _output([12, 9], 12, seed=7)
    cfg = _config(losses=("dc1", "sl"))
    got = losses.mcwes_losses(out, LABELS[:2], cfg, [(0, 1)])
    assert set(got) == {"dc1", "sl", "total"}
    assert_close(got["total"], got["dc1"] + LAMBDAS[2] * got["sl"], torch.float64)
    none = losses.mcwes_losses(out, LABELS[:2], _config(losses=()), [(0, 1)])
    assert set(none) == {"total"} and float(none["total"]) == 0.0


def test_suppressed_tcam_keeps_the_minimum_and_scales_by_attention():
    S = torch.tensor([[[3.0, -1.0, 1.0], [0.0, 2.0, 4.0]]], dtype=torch.float64)
    A = torch.tensor([[0.5, 0.0]], dtype=torch.float64)
    want = torch.tensor([[[1.0, -1.0, 0.0], [0.0, 0.0, 0.0]]], dtype=torch.float64)
    assert_close(losses.suppressed_tcam(S, A), want, torch.float64)


def test_bad_labels_raise():
    out = _output([6, 6], 6)
    with pytest.raises(ValueError, match="labels"):
        losses.loss_dc1(out, torch.ones(2, 3), H)
    with pytest.raises(ValueError, match="labels"):
        losses.mcwes_losses(out, torch.ones(3, 2), _config())


@pytest.mark.parametrize("lengths", [[0, 0], [0, 5], [5, 0]])
def test_zero_length_video_in_a_training_batch_is_named(lengths):
    out = _output(lengths, 6)
    with pytest.raises(ValueError, match=r"at least one valid snippet.*length 0 for batch item"):
        losses.mcwes_losses(out, torch.ones(2, 2), _config())
