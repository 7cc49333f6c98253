"""Shared inputs of the extraction tests: random I3D weights saved under the public key names (as the
public files hold them: no ``num_batches_tracked``), tiny synthetic face videos, small options."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mcwes.extract import ExtractOptions, InceptionI3d, load_i3d
from mcwes.extract import synthetic as S

N_FRAMES = 26  # F = 25 stream frames: 3 casme2 windows, 9 lgsnet windows
SIZE = 40  # frames are SIZE x SIZE; I3D input is IMAGE x IMAGE
IMAGE = 32


def small(preset: str = "casme2", **kw) -> ExtractOptions:  # type: ignore[no-untyped-def]
    kw.setdefault("image_size", IMAGE)
    kw.setdefault("flow_backend", "opencv")
    return ExtractOptions.preset(preset, **kw)


def random_i3d(channels: int, seed: int) -> InceptionI3d:
    """Random weights with non-trivial BatchNorm statistics (so a wrong load would show)."""
    torch.manual_seed(seed)
    net = InceptionI3d(channels)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm3d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.1, 0.1)
    return net.eval()


def save_public_style(net: InceptionI3d, path: Path) -> Path:
    state = {k: v for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save(state, path)
    return path


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():  # type: ignore[no-untyped-def]
    """I3D on tiny inputs is all per-op overhead: one thread is much faster than two on a busy
    machine (and gives the same features). Restored after the module."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def weights(tmp_path_factory) -> dict[str, Path]:  # type: ignore[no-untyped-def]
    d = tmp_path_factory.mktemp("i3d")
    return {"rgb": save_public_style(random_i3d(3, 1), d / "rgb_imagenet.pt"),
            "flow": save_public_style(random_i3d(2, 2), d / "flow_imagenet.pt")}


@pytest.fixture(scope="session")
def nets(weights) -> tuple[InceptionI3d, InceptionI3d]:  # type: ignore[no-untyped-def]
    return load_i3d(weights["rgb"], "rgb"), load_i3d(weights["flow"], "flow")


@pytest.fixture(scope="session")
def clip(tmp_path_factory) -> dict:  # type: ignore[no-untyped-def]
    """A synthetic video as .mp4 (H.264) and, for exact comparisons, its decoded frames as a PNG folder."""
    d = tmp_path_factory.mktemp("clip")
    v = S.synthetic_video(N_FRAMES, SIZE, seed=3)
    mp4 = S.write_video(v.frames, d / "clip.mp4", fps=30)
    from mcwes.extract import open_frames

    decoded = np.stack(list(open_frames(mp4)))
    folder = S.write_frame_folder(decoded, d / "clip_frames", pattern="img{}.png")
    return {"video": v, "mp4": mp4, "folder": folder, "decoded": decoded}
