"""The MC-WES network: shapes, padding invariance, kernel vs plain path, CSCM/CCM equations, gradients,
initialisation, bad input; and the plain-torch ops against their reference twins."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, strategies as st

from conftest import assert_close
import mcwes
from mcwes import reference
from mcwes.ops.cscm_attention import cscm_attention_torch
from mcwes.ops.duration_mask import duration_mask_torch
from mcwes.ops.topk_pool import topk_pool_torch
from mcwes.config import Config, ModelConfig
from mcwes.losses import mcwes_losses
from mcwes.model import MCWES, MCWESOutput

D = 6
FUSIONS = ("cscm", "ccm", "concat")


def _model(fusion="cscm", kernels=True, dtype=torch.float64, seed=0, **kw) -> MCWES:
    torch.manual_seed(seed)
    m = MCWES(ModelConfig(feature_dim=D, attention_hidden=8, fusion=fusion, **kw), kernels=kernels).to(dtype)
    return m.eval()


def _x(B, T, seed=0, dtype=torch.float64):
    return torch.randn(B, T, 2 * D, generator=torch.Generator().manual_seed(seed), dtype=dtype)


@pytest.mark.parametrize("fusion", FUSIONS)
def test_output_shapes_and_ranges(fusion):
    with torch.no_grad():
        out = _model(fusion)(_x(3, 9), [9, 4, 1])
    assert isinstance(out, MCWESOutput)
    assert out.S.shape == (3, 9, 3) and out.f.shape == (3, 9, 2 * D)
    for a in (out.A, out.A_rgb, out.A_flow):
        assert a.shape == (3, 9) and float(a.min()) >= 0 and float(a.max()) <= 1
    assert_close(out.A, (out.A_rgb + out.A_flow) / 2)
    assert out.lengths.tolist() == [9, 4, 1]


@pytest.mark.parametrize("fusion", FUSIONS)
@pytest.mark.parametrize("kernels", [True, False])
def test_padding_never_changes_valid_outputs(fusion, kernels):
    model = _model(fusion, kernels)
    lengths = [11, 5, 1, 8]
    x = _x(4, 11, seed=1)
    noisy = x.clone()
    for b, L in enumerate(lengths):
        noisy[b, L:] = 1e3  # garbage in the padding
    with torch.no_grad():
        out = model(noisy, lengths)
        alones = [model(x[b : b + 1, :L]) for b, L in enumerate(lengths)]
    for b, L in enumerate(lengths):
        alone = alones[b]
        for name in ("S", "A", "A_rgb", "A_flow", "f"):
            assert_close(getattr(out, name)[b, :L], getattr(alone, name)[0], rtol=1e-9, atol=1e-10)
            assert float(getattr(out, name)[b, L:].abs().sum()) == 0.0  # padded outputs are zero


def test_padding_gives_the_same_losses_as_unpadded_videos():
    model = _model()
    cfg = Config().train
    lengths = [14, 9]
    x = _x(2, 14, seed=2)
    y = torch.tensor([[1.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    batched = mcwes_losses(model(x, lengths), y, cfg, [(0, 1)])
    singles = [model(x[b : b + 1, :L]) for b, L in enumerate(lengths)]
    # Re-assemble the per-video outputs with different padding content: losses must agree.
    T = max(lengths)

    def pad(t, L):
        return torch.cat([t, torch.full((1, T - L) + tuple(t.shape[2:]), 5.0, dtype=t.dtype)], dim=1)

    stacked = MCWESOutput(**{name: torch.cat([pad(getattr(s, name), L) for s, L in zip(singles, lengths)])
                             for name in ("S", "A", "A_rgb", "A_flow", "f")}, lengths=torch.tensor(lengths))
    expected = mcwes_losses(stacked, y, cfg, [(0, 1)])
    for name in batched:
        assert_close(batched[name], expected[name], rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("fusion", FUSIONS)
def test_kernel_and_plain_paths_agree(fusion):
    model = _model(fusion, kernels=True, dtype=torch.float32)
    x, lengths = _x(3, 10, seed=3, dtype=torch.float32), [10, 7, 3]
    a = model(x, lengths)
    model.kernels = False
    b = model(x, lengths)
    for name in ("S", "A", "f"):
        assert_close(getattr(a, name), getattr(b, name), rtol=1e-4, atol=1e-5)


def test_cscm_matches_the_equations():
    """Eqs. 1–6 for one video written out with explicit zero-padded k=3 taps."""
    model = _model("cscm")
    L = 7
    x = _x(1, L, seed=4)
    out = model(x)
    m = model.cscm_rgb
    xm, xa = x[0, :, :D], x[0, :, D:]
    G = torch.sigmoid(m.gate.weight @ xm.mean(0) + m.gate.bias)
    Fq = xm @ m.query.weight[:, :, 0].T + m.query.bias
    att = torch.softmax(Fq @ Fq.T, dim=1) @ Fq
    F_core = att @ m.core.weight[:, :, 0].T + m.core.bias
    z = xa + F_core
    zp = torch.cat([torch.zeros(1, D, dtype=z.dtype), z, torch.zeros(1, D, dtype=z.dtype)])
    W = m.aux.weight  # [out, in, 3]
    F_a = torch.stack([sum(W[:, :, j] @ zp[t + j] for j in range(3)) + m.aux.bias for t in range(L)])
    O = torch.sigmoid(F_a * G) * xm
    a_rgb = model.att_rgb(O.T.unsqueeze(0), torch.ones(1, 1, L, dtype=O.dtype))
    assert_close(out.A_rgb, a_rgb)


def test_ccm_matches_co2net_reading():
    model = _model("ccm")
    L = 5
    x = _x(1, L, seed=5)
    m = model.cscm_flow  # main = flow, auxiliary = RGB
    xm, xa = x[0, :, D:], x[0, :, :D]
    c = F.leaky_relu(m.channel.weight @ xm.mean(0) + m.channel.bias, 0.2)
    b = F.leaky_relu(F.conv1d(xa.T.unsqueeze(0), m.bitwise.weight, m.bitwise.bias, padding=1)[0].T, 0.2)
    O = torch.sigmoid(b * c) * xm
    mask = torch.ones(1, 1, L, dtype=O.dtype)
    assert_close(model(x).A_flow, model.att_flow(O.T.unsqueeze(0), mask))


def test_attention_scale_is_used():
    x = _x(1, 6, seed=6)
    a = _model(attention_scale=1.0)(x).S
    b = _model(attention_scale=0.05)(x).S
    assert float((a - b).detach().abs().max()) > 1e-6


@pytest.mark.parametrize("fusion", FUSIONS)
def test_gradients_reach_every_parameter(fusion):
    model = _model(fusion, kernels=False, dtype=torch.float32)
    cfg = Config(model=model.model_config).train
    x = _x(4, 16, seed=7, dtype=torch.float32)
    y = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.0, 1.0]])
    terms = mcwes_losses(model(x, [16, 12, 16, 9]), y, cfg, [(0, 1), (2, 3)], kernels=False)
    terms["total"].backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and float(p.grad.abs().sum()) > 0, name


@torch.no_grad()
def test_init_is_kaiming_uniform_with_zero_biases():
    model = _model()
    for name, module in model.named_modules():
        if isinstance(module, (torch.nn.Conv1d, torch.nn.Linear)):
            fan_in = module.weight[0].numel()
            bound = math.sqrt(6 / fan_in)
            assert float(module.weight.abs().max()) <= bound + 1e-12, name
            assert float(module.weight.std()) > 0.2 * bound, name
            assert float(module.bias.abs().max()) == 0.0, name


def test_accepts_a_whole_config_and_keeps_it():
    cfg = Config.preset("samm_lv", model={"feature_dim": D, "attention_hidden": 4})
    model = MCWES(cfg)
    assert model.config is cfg and model.model_config is cfg.model
    assert mcwes.MCWES is MCWES


def test_bad_inputs_raise():
    model = _model()
    with pytest.raises(ValueError, match=r"mcwes.MCWES: expected x to have shape \[B, T, 2D = 12\]"):
        model(torch.zeros(2, 5, 2 * D + 1))
    with pytest.raises(ValueError, match="expected x"):
        model(torch.zeros(5, 2 * D))
    with pytest.raises(TypeError, match="floating-point"):
        model(torch.zeros(1, 5, 2 * D, dtype=torch.int64))
    with pytest.raises(ValueError, match="lengths"):
        model(_x(2, 5), [5])
    with pytest.raises(ValueError, match=r"lie in \[0, 5\]"):
        model(_x(2, 5), [5, 6])
    with pytest.raises(ValueError, match="lengths"):
        model(_x(2, 5), torch.tensor([5.0, 2.0]))
    with pytest.raises(TypeError, match="ModelConfig"):
        MCWES("cscm")  # type: ignore[arg-type]


# ---- the plain-torch ops (the model's reference path) against the naive twins ----

@given(lengths=st.lists(st.integers(0, 9), min_size=1, max_size=4), d=st.integers(1, 5),
       scale=st.sampled_from([1.0, 0.3]), seed=st.integers(0, 2**16))
def test_plain_cscm_attention_matches_reference(lengths, d, scale, seed):
    T = max(lengths) + 1
    q = torch.randn(len(lengths), T, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    got = cscm_attention_torch(q, torch.tensor(lengths), scale)
    assert_close(got, reference.cscm_attention(q, lengths, scale))


@given(lengths=st.lists(st.integers(0, 12), min_size=1, max_size=4), seed=st.integers(0, 2**16),
       ties=st.booleans())
def test_plain_topk_pool_matches_reference(lengths, seed, ties):
    T, C = max(lengths) + 1, 3
    x = torch.randn(len(lengths), T, C, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    if ties:
        x = x.round()
    k = torch.tensor([[max(1, L // h) for h in (7, 9, 5)] for L in lengths])
    x.requires_grad_()
    got = topk_pool_torch(x, k, torch.tensor(lengths))
    want = reference.topk_pool(x, k, lengths)
    assert_close(got, want)
    g_got, = torch.autograd.grad(got.sum(), x)
    g_want, = torch.autograd.grad(want.sum(), x)
    assert_close(g_got, g_want)


@given(lengths=st.lists(st.integers(0, 15), min_size=1, max_size=4), eta=st.integers(1, 4),
       seed=st.integers(0, 2**16), flat=st.booleans())
def test_plain_duration_mask_matches_reference(lengths, eta, seed, flat):
    T = max(lengths) + 2
    a = torch.rand(len(lengths), T, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    if flat:
        a = (a * 4).round() / 4  # plateaus: many equal Δ, and Δ̄ = 0 for constant videos
    got = duration_mask_torch(a, torch.tensor(lengths), eta=eta, omega_l=1.2, omega_u=1.4)
    assert torch.equal(got, reference.duration_mask(a, lengths, eta=eta, omega_l=1.2, omega_u=1.4))


def test_plain_path_float32_close_to_float64():
    model = _model(dtype=torch.float32, kernels=False)
    x = _x(2, 12, seed=8, dtype=torch.float32)
    a = model(x, [12, 6]).S
    b = model.double()(x.double(), [12, 6]).S
    assert_close(a, b, torch.float32, rtol=1e-4, atol=1e-4)


def test_zero_length_batch_gives_empty_outputs():
    from mcwes import Config, MCWES

    model = MCWES(Config.preset("casme2", model={"feature_dim": 4}))
    out = model(torch.zeros(2, 0, 8))
    assert out.S.shape == (2, 0, 3) and out.A.shape == (2, 0) and out.f.shape == (2, 0, 8)
