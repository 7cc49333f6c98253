"""The one switch between the compiled kernels and their plain-PyTorch fallbacks (mcwes.ops.set_backend /
use_backend), and what follows it: the ops with a fallback, the model and the losses."""
from __future__ import annotations

import importlib
import threading

import pytest
import torch

from mcwes import MCWES, ops
from mcwes.config import ModelConfig, TrainConfig
from mcwes.losses import mcwes_losses
from mcwes.ops.cscm_attention import cscm_attention_torch
from mcwes.ops.duration_mask import duration_mask_torch
from mcwes.ops.topk_pool import topk_pool_torch


@pytest.fixture(autouse=True)
def _restore():
    before = ops.get_backend()
    yield
    ops.set_backend(before)


def _inputs():
    g = torch.Generator().manual_seed(4)
    return (torch.randn(2, 11, 5, generator=g, dtype=torch.float64), torch.rand(2, 11, generator=g, dtype=torch.float64),
            torch.tensor([11, 6]))


def test_the_switch_picks_the_implementation():
    q, a, lengths = _inputs()
    x = q[..., :3]
    assert ops.get_backend() == "compiled"
    with ops.use_backend("torch"):
        assert ops.get_backend() == "torch"
        assert torch.equal(ops.cscm_attention(q, lengths, 0.5), cscm_attention_torch(q, lengths, 0.5))
        assert torch.equal(ops.topk_pool(x, [2, 3, 1], lengths), topk_pool_torch(x, [2, 3, 1], lengths))
        assert torch.equal(ops.duration_mask(a, lengths, eta=2, omega_l=1.2, omega_u=1.4),
                           duration_mask_torch(a, lengths, eta=2, omega_l=1.2, omega_u=1.4))
        with ops.use_backend("compiled"):
            assert ops.get_backend() == "compiled"
    assert ops.get_backend() == "compiled"
    # compiled and fallback agree (float64)
    torch.testing.assert_close(ops.cscm_attention(q, lengths, 0.5), cscm_attention_torch(q, lengths, 0.5))
    torch.testing.assert_close(ops.topk_pool(x, [2, 3, 1], lengths), topk_pool_torch(x, [2, 3, 1], lengths))
    with pytest.raises(ValueError, match=r"mcwes.ops.set_backend: expected backend to be one of"):
        ops.set_backend("cuda")
    with pytest.raises(ValueError, match=r"expected backend"):
        with ops.use_backend("fast"):
            pass


def test_the_switch_is_process_wide_and_use_backend_restores_it():
    seen = {}
    ops.set_backend("torch")
    worker = threading.Thread(target=lambda: seen.update(worker=ops.get_backend()))
    worker.start()
    worker.join()
    with pytest.raises(RuntimeError, match="inside"):
        with ops.use_backend("compiled"):
            seen["inside"] = ops.get_backend()
            raise RuntimeError("inside")
    assert seen == {"worker": "torch", "inside": "compiled"} and ops.get_backend() == "torch"


def test_model_and_losses_follow_the_switch_unless_pinned(monkeypatch):
    calls = []
    real = cscm_attention_torch
    module = importlib.import_module("mcwes.ops.cscm_attention")  # the module (mcwes.ops.cscm_attention is the op)

    def spy(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)
    monkeypatch.setattr(module, "cscm_attention_torch", spy)
    torch.manual_seed(0)
    model = MCWES(ModelConfig(feature_dim=4, attention_hidden=4)).eval()
    x, lengths = torch.randn(2, 9, 8), torch.tensor([9, 5])
    compiled = model(x, lengths)
    assert model.kernels is None and not calls
    with ops.use_backend("torch"):
        plain = model(x, lengths)
        assert calls
        calls.clear()
        model.kernels = True  # pinned: ignores the switch
        model(x, lengths)
        assert not calls
    torch.testing.assert_close(compiled.S, plain.S, rtol=1e-4, atol=1e-5)
    cfg = TrainConfig()
    y = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    a = mcwes_losses(compiled, y, cfg)
    with ops.use_backend("torch"):
        b = mcwes_losses(compiled, y, cfg)
    c = mcwes_losses(compiled, y, cfg, kernels=False)
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=1e-5, atol=1e-6)
        assert torch.equal(b[name], c[name])
