"""InceptionI3d: the public state-dict keys and shapes, "SAME" padding, loading and its errors."""
from __future__ import annotations

import math

import pytest
import torch
from extract_cases import one_torch_thread, random_i3d, save_public_style  # noqa: F401 (fixture)
from hypothesis import given, strategies as st

from mcwes.extract import I3D_WEIGHTS_ENV, InceptionI3d, expected_keys, fuse_i3d, load_i3d
from mcwes.extract.i3d import _same_pad

# The public architecture, written out independently of the module: endpoint → (in, out, kernel) of
# each unit, and the inception blocks' [b0, b1a, b1b, b2a, b2b, b3b] channels.
_STEM = {"Conv3d_1a_7x7": (None, 64, 7), "Conv3d_2b_1x1": (64, 64, 1), "Conv3d_2c_3x3": (64, 192, 3)}
_BLOCKS = [("Mixed_3b", 192, [64, 96, 128, 16, 32, 32]), ("Mixed_3c", 256, [128, 128, 192, 32, 96, 64]),
           ("Mixed_4b", 480, [192, 96, 208, 16, 48, 64]), ("Mixed_4c", 512, [160, 112, 224, 24, 64, 64]),
           ("Mixed_4d", 512, [128, 128, 256, 24, 64, 64]), ("Mixed_4e", 512, [112, 144, 288, 32, 64, 64]),
           ("Mixed_4f", 528, [256, 160, 320, 32, 128, 128]), ("Mixed_5b", 832, [256, 160, 320, 32, 128, 128]),
           ("Mixed_5c", 832, [384, 192, 384, 48, 128, 128])]


def _public_keys(cin: int) -> dict[str, tuple[int, ...]]:
    keys: dict[str, tuple[int, ...]] = {}

    def unit(name: str, i: int, o: int, k: int) -> None:
        keys[f"{name}.conv3d.weight"] = (o, i, k, k, k)
        for p in ("weight", "bias", "running_mean", "running_var"):
            keys[f"{name}.bn.{p}"] = (o,)

    for name, (i, o, k) in _STEM.items():
        unit(name, i or cin, o, k)
    for name, i, c in _BLOCKS:
        unit(f"{name}.b0", i, c[0], 1)
        unit(f"{name}.b1a", i, c[1], 1)
        unit(f"{name}.b1b", c[1], c[2], 3)
        unit(f"{name}.b2a", i, c[3], 1)
        unit(f"{name}.b2b", c[3], c[4], 3)
        unit(f"{name}.b3b", i, c[5], 1)
    keys["logits.conv3d.weight"] = (400, 1024, 1, 1, 1)
    keys["logits.conv3d.bias"] = (400,)
    return keys


@pytest.mark.parametrize("modality,cin", [("rgb", 3), ("flow", 2)])
def test_state_dict_matches_the_public_files(modality, cin):
    want = _public_keys(cin)
    assert len(want) == 287
    assert expected_keys(modality) == want
    net = InceptionI3d(cin)
    assert len(net.state_dict()) == 287 + 57  # + num_batches_tracked of current PyTorch
    n_params = sum(p.numel() for p in net.parameters())
    assert 12.0e6 < n_params < 13.0e6
    bn = net.Conv3d_1a_7x7.bn
    assert bn.eps == 1e-3 and bn.momentum == 0.01


@given(size=st.integers(1, 40), k=st.integers(1, 7), s=st.integers(1, 3))
def test_same_padding_gives_tensorflow_output_size(size, k, s):
    front, back = _same_pad([size], [k], [s])
    assert 0 <= back - front <= 1  # TF puts the extra pixel at the end
    out = (size + front + back - k) // s + 1
    assert out == math.ceil(size / s)


def test_features_are_the_pool_before_the_logits():
    net = random_i3d(3, 0)
    x = torch.rand(2, 3, 8, 32, 32) * 2 - 1
    with torch.no_grad():
        f = net.features(x)
        logits = net(x)
    assert f.shape == (2, 1024) and torch.isfinite(f).all()
    w, b = net.logits.conv3d.weight.flatten(1), net.logits.conv3d.bias
    torch.testing.assert_close(logits, f @ w.T + b, rtol=1e-4, atol=1e-4)
    # batched = one window at a time
    with torch.no_grad():
        torch.testing.assert_close(net.features(x[1:]), f[1:], rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match=r"InceptionI3d: expected input \[B, 3, T, H, W\], got \(2, 2, 8, 32, 32\)"):
        net.features(x[:, :2])


def test_load_round_trip_and_env_var(tmp_path, monkeypatch):
    net = random_i3d(2, 5)
    path = save_public_style(net, tmp_path / "flow_imagenet.pt")
    monkeypatch.setenv(I3D_WEIGHTS_ENV["flow"], str(path))
    loaded = load_i3d(None, "flow")
    assert not loaded.training
    x = torch.rand(1, 2, 8, 32, 32) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(loaded.features(x), net.features(x), rtol=0, atol=0)


def test_missing_weights_say_what_the_file_is(tmp_path, monkeypatch):
    monkeypatch.delenv(I3D_WEIGHTS_ENV["rgb"], raising=False)
    with pytest.raises(FileNotFoundError, match=r"rgb_imagenet\.pt.*Kinetics-400.*pytorch-i3d.*MCWES_I3D_RGB_WEIGHTS"):
        load_i3d(None, "rgb")
    with pytest.raises(FileNotFoundError, match=r"nope\.pt does not exist.*flow_imagenet\.pt"):
        load_i3d(tmp_path / "nope.pt", "flow")


def test_foreign_and_wrong_stream_weights_are_named(tmp_path):
    foreign = tmp_path / "resnet.pt"
    torch.save({"conv1.weight": torch.zeros(3), "Conv3d_1a_7x7.conv3d.weight": torch.zeros(1)}, foreign)
    with pytest.raises(ValueError, match=r"not an InceptionI3d rgb state dict: 286 missing keys .*"
                                         r"Conv3d_1a_7x7\.bn\.bias.*1 unexpected keys \['conv1\.weight'\]"):
        load_i3d(foreign, "rgb")
    flow = save_public_style(random_i3d(2, 0), tmp_path / "flow.pt")
    with pytest.raises(ValueError, match=r"wrong shape for an I3D rgb stream.*Conv3d_1a_7x7\.conv3d\.weight "
                                         r"\(64, 2, 7, 7, 7\) \(expected \(64, 3, 7, 7, 7\)\)"):
        load_i3d(flow, "rgb")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"cannot read .*junk\.pt as a PyTorch state dict"):
        load_i3d(junk, "rgb")
    with pytest.raises(ValueError, match=r"expected modality 'rgb' or 'flow', got 'depth'"):
        load_i3d(junk, "depth")


@pytest.mark.parametrize("modality,cin", [("rgb", 3), ("flow", 2)])
@pytest.mark.parametrize("channels_last", [True, False])
def test_fused_i3d_gives_the_features_of_the_loaded_network(tmp_path, modality, cin, channels_last):
    path = save_public_style(random_i3d(cin, 7 + cin), tmp_path / f"{modality}_imagenet.pt")
    net = load_i3d(path, modality)
    fused = fuse_i3d(net, channels_last=channels_last)
    convs = [p for p in fused.parameters() if p.ndim == 5]
    assert len(convs) == 3 + 9 * 4 and not any(isinstance(m, torch.nn.BatchNorm3d) for m in fused.modules())
    torch.manual_seed(cin)
    # odd sizes: the stride-2 layers' "SAME" padding is uneven, as at 224² it is not
    for shape in [(2, cin, 8, 32, 32), (1, cin, 9, 35, 29), (1, cin, 3, 20, 17)]:
        x = torch.rand(shape) * 2 - 1
        with torch.no_grad():
            want, got = net.features(x), fused.features(x)
        assert got.shape == want.shape == (shape[0], 1024)
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4 * float(want.abs().max()))
    assert fused.features(x).dtype == torch.float32 and not fused.training


def test_fuse_i3d_refuses_a_training_network():
    net = InceptionI3d(2)
    with pytest.raises(ValueError, match=r"fuse_i3d: expected an eval-mode InceptionI3d"):
        fuse_i3d(net)
    with pytest.raises(TypeError, match=r"fuse_i3d: expected an InceptionI3d, got Linear"):
        fuse_i3d(torch.nn.Linear(2, 2))  # type: ignore[arg-type]
    fused = fuse_i3d(net.eval())
    with pytest.raises(ValueError, match=r"for inference only"):
        fused.train()
    with pytest.raises(ValueError, match=r"FusedI3d: expected input \[B, 2, T, H, W\], got \(1, 3, 8, 16, 16\)"):
        fused.features(torch.zeros(1, 3, 8, 16, 16))
