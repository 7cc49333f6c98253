"""A multiple-instance probe: the simplest learner of snippet scores from video-level labels.

It answers one question for a dataset, independently of MC-WES: *can the expressions be localised from
these features and these video-level labels at all?* A linear snippet scorer (a width-3 temporal
convolution, ``s_c(t) = w_c · [x_{t−1}, x_t, x_{t+1}] + b_c``, on features standardised with the
training set's per-channel mean and deviation) is trained with top-k multiple-instance learning: per
video and class, the mean of its ``k = max(1, T // 8)`` highest snippet scores is the video's logit,
and binary cross-entropy ties it to the video-level label (MaE present, ME present). Adam, a fixed
seed, every training video resampled to the same number of snippets like MC-WES's training.

:func:`mcwes.diagnose` compares the probe's attention AUC with MC-WES's, and the robustness matrix
(``benchmarks/bench_robustness.py``) reports both for every data setting.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["MILProbe", "fit_probe"]


def _as_tensor(x: Any) -> torch.Tensor:
    t = x.detach() if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x))
    return t.to(device="cpu", dtype=torch.float32)


class MILProbe(torch.nn.Module):
    """Linear snippet scorer with the training set's standardisation (see the module doc)."""

    mean: torch.Tensor  # buffers registered in __init__
    std: torch.Tensor

    def __init__(self, width: int, n_classes: int = 2) -> None:
        super().__init__()
        self.conv = torch.nn.Conv1d(width, n_classes, 3, padding=1)
        self.register_buffer("mean", torch.zeros(width))
        self.register_buffer("std", torch.ones(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x [B, T, 2D]`` → snippet logits ``[B, n, T]``."""
        z = (x - self.mean) / self.std
        return self.conv(z.transpose(1, 2))

    @torch.no_grad()
    def scores(self, features: Sequence[Any], cls: Optional[int] = 0) -> list[np.ndarray]:
        """Per video, the snippet scores of class ``cls`` ``[T]`` (None: the max over classes)."""
        out = []
        for f in features:
            s = self(_as_tensor(f).unsqueeze(0))[0]
            out.append((s.max(dim=0).values if cls is None else s[cls]).numpy())
        return out


def fit_probe(items: Sequence[Any], *, steps: int = 300, batch_size: int = 16, snippets: int = 200,
              lr: float = 1e-3, seed: int = 0) -> MILProbe:
    """Train a :class:`MILProbe` on items with ``.features [T, 2D]`` and ``.labels`` (MaE, ME)."""
    if len(items) == 0:
        raise ValueError("mcwes.probe.fit_probe: expected at least one training video, got none")
    feats = [_as_tensor(it.features) for it in items]
    labels = torch.tensor(np.stack([np.asarray(_as_tensor(it.labels)).reshape(-1) for it in items]), dtype=torch.float32)
    width = feats[0].shape[1]
    if any(f.dim() != 2 or f.shape[1] != width or f.shape[0] == 0 for f in feats):
        raise ValueError(f"mcwes.probe.fit_probe: expected every video's features to be [T >= 1, {width}], "
                         f"got shapes {sorted({tuple(f.shape) for f in feats})}")
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    probe = MILProbe(width, labels.shape[1])
    with torch.no_grad():
        for p in probe.conv.parameters():
            p.copy_(torch.empty_like(p).uniform_(-0.01, 0.01, generator=gen))
        cat = torch.cat(feats)
        probe.mean.copy_(cat.mean(dim=0))
        probe.std.copy_(cat.std(dim=0).clamp_min(1e-6))
    opt = torch.optim.Adam(probe.conv.parameters(), lr=lr)
    k = max(1, snippets // 8)
    for _ in range(int(steps)):
        idx = rng.choice(len(feats), size=min(batch_size, len(feats)), replace=len(feats) < batch_size)
        batch = []
        for i in idx:
            n = feats[i].shape[0]
            pos = np.minimum(np.floor((np.arange(snippets) + rng.random(snippets)) * (n / snippets)), n - 1)
            batch.append(feats[i][torch.from_numpy(pos.astype(np.int64))])
        logits = probe(torch.stack(batch)).topk(k, dim=2).values.mean(dim=2)
        loss = F.binary_cross_entropy_with_logits(logits, labels[torch.from_numpy(idx)])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return probe.eval()
