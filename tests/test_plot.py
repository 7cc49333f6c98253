"""plot_video writes a readable PNG without a display."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from mcwes.plot import plot_video
from mcwes.proposals import Proposal


def test_writes_a_png(tmp_path):
    rng = np.random.default_rng(0)
    T = 40
    a = torch.tensor(rng.uniform(0, 1, T))
    tcam = rng.standard_normal((T, 3))
    gt = pd.DataFrame({"video": ["v", "v"], "onset": [16, 200], "offset": [60, 210], "type": ["MaE", "ME"]})
    props = [Proposal.from_frames("v", 16, 63, 0.8, "MaE", 30), Proposal.from_frames("v", 200, 207, 0.3, "ME", 30)]
    path = plot_video(tmp_path / "sub" / "v.png", a, tcam, gt, props, fps=30, snippet_frames=8, title="v")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_seconds_axis_and_bare_inputs(tmp_path):
    path = plot_video(tmp_path / "v.png", np.linspace(0, 1, 10), ground_truth=[(0, 40, "ME")],
                      proposals=[(8, 15, "ME", 0.5)], fps=200, snippet_frames=32, seconds=True)
    assert path.stat().st_size > 1000


def test_bad_interval_is_named(tmp_path):
    with pytest.raises(ValueError, match="mcwes.plot_video: expected ground_truth"):
        plot_video(tmp_path / "v.png", np.zeros(4), ground_truth=[(0, 4, "micro")])


def test_video_without_ground_truth_or_proposals(tmp_path):
    rng = np.random.default_rng(3)
    path = plot_video(tmp_path / "bare.png", rng.random(12), rng.standard_normal((12, 3)))
    assert path.exists() and path.stat().st_size > 0
