"""Padding never changes a valid output: NaN/inf/huge values beyond a video's length, through the model
(both attention paths), the losses and mcwes.spot, give bit-identical valid outputs and proposals."""
from __future__ import annotations

import pytest
import torch

import mcwes
from mcwes import Config, MCWES
from mcwes.losses import mcwes_losses

D = 4


@pytest.fixture(scope="module")
def nets():
    torch.manual_seed(3)
    cfg = Config.preset("casme2", model={"feature_dim": D, "attention_hidden": 8})
    fast = MCWES(cfg).eval()
    plain = MCWES(cfg, kernels=False).eval()
    plain.load_state_dict(fast.state_dict())
    return cfg, fast, plain


@pytest.mark.parametrize("fill", [float("nan"), float("inf"), float("-inf"), 3e38])
@pytest.mark.parametrize("kernels", [True, False])
def test_padding_values_never_reach_valid_outputs(nets, fill, kernels):
    cfg, fast, plain = nets
    net = fast if kernels else plain
    g = torch.Generator().manual_seed(7)
    x = torch.randn(3, 24, 2 * D, generator=g) * 2
    lengths = torch.tensor([24, 15, 6])
    clean, dirty = x.clone(), x.clone()
    for b, L in enumerate(lengths.tolist()):
        clean[b, L:] = 0
        dirty[b, L:] = fill
    with torch.no_grad():
        ref, out = net(clean, lengths), net(dirty, lengths)
    for b, L in enumerate(lengths.tolist()):
        for key in ("S", "A", "A_rgb", "A_flow", "f"):
            torch.testing.assert_close(getattr(out, key)[b, :L], getattr(ref, key)[b, :L], rtol=0, atol=0)
        assert torch.count_nonzero(out.S[b, L:]) == 0 and torch.count_nonzero(out.A[b, L:]) == 0
    labels = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    ref_loss = mcwes_losses(ref, labels, cfg.train, [(0, 1)], kernels=kernels)
    for b, L in enumerate(lengths.tolist()):  # garbage in the padding of the network's outputs
        for key in ("S", "A", "A_rgb", "A_flow", "f"):
            getattr(out, key)[b, L:] = fill
    dirty_loss = mcwes_losses(out, labels, cfg.train, [(0, 1)], kernels=kernels)
    for name, value in ref_loss.items():
        assert torch.isfinite(value), name
        torch.testing.assert_close(dirty_loss[name], value, rtol=0, atol=0)
    want = mcwes.spot(clean, net, lengths=lengths)
    got = mcwes.spot(dirty, net, lengths=lengths)
    assert got == want
    assert sum(len(p) for p in want) > 0  # the comparison is not between two empty lists


def test_nan_in_a_valid_snippet_is_refused(nets):
    _, fast, _ = nets
    x = torch.randn(2, 10, 2 * D)
    x[1, 4, 0] = float("nan")
    with pytest.raises(ValueError, match="mcwes.spot: expected finite features, got NaN/inf in video 1 at snippet 4"):
        mcwes.spot(x, fast, lengths=[10, 5])
    x[1, 4, 0] = 0.0
    x[1, 7, 0] = float("nan")  # beyond length 5: padding
    assert len(mcwes.spot(x, fast, lengths=[10, 5])) == 2
