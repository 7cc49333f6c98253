"""The seven loss terms of MC-WES (paper §3.4, docs/method.md §3) and their weighted total (eq. 22).

Every function takes the network's :class:`~mcwes.model.MCWESOutput` (whose ``lengths`` say which
steps are valid: every mean over t is over valid steps only) and returns a scalar averaged over the
batch. ``labels`` are video-level ``[B, n]`` 0/1 (index 0 MaE, 1 ME). ``kernels`` pins the compiled
top-K pooling / duration mask (True) or their plain-PyTorch fallbacks (False); None (default) follows
``mcwes.ops.set_backend`` / ``use_backend``.

| term | function        | weight in eq. 22 |
|------|-----------------|------------------|
| sc   | :func:`loss_sc`  | 1  |
| dc1  | :func:`loss_dc1` | 1  |
| dc2  | :func:`loss_dc2` | 1  |
| dc3  | :func:`loss_dc3` | λ1 |
| fc   | :func:`loss_fc`  | λ2 |
| sl   | :func:`loss_sl`  | λ3 |
| gl   | :func:`loss_gl`  | λ4 |

:func:`mcwes_losses` computes the switched-on subset (``config.train.losses``) and the total.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from . import ops
from .ops._util import valid_mask
from .config import TrainConfig
from .model import MCWESOutput

__all__ = [
    "suppressed_tcam", "video_logits", "mil_loss", "loss_dc1", "loss_dc2", "loss_dc3", "loss_sc",
    "loss_sl", "loss_gl", "loss_fc", "pair_similarity", "duration_masked_tcam", "mcwes_losses", "LOSS_WEIGHTS",
]

#: Label-smoothing constant of the CO2-Net target normalisation ``y / (Σy + 1e-4)``.
_TARGET_EPS = 1e-4


def _valid(out: MCWESOutput) -> torch.Tensor:
    return valid_mask(out.lengths, out.A.shape[1])


def _time_mean(x: torch.Tensor, out: MCWESOutput) -> torch.Tensor:
    """Per-video mean over valid t of ``x: [B, T]`` → ``[B]``."""
    return torch.where(_valid(out), x, x.new_zeros(())).sum(dim=1) / out.lengths.clamp_min(1).to(x.dtype)


def _labels(labels: object, out: MCWESOutput) -> torch.Tensor:
    y = torch.as_tensor(labels, device=out.S.device).to(out.S.dtype)
    n = out.S.shape[2] - 1
    if tuple(y.shape) != (out.S.shape[0], n):
        raise ValueError(f"mcwes.losses: expected labels to have shape [B={out.S.shape[0]}, n={n}], got {tuple(y.shape)}")
    return y


def suppressed_tcam(S: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
    """CO2-Net's ``_multiply``: ``Ŝ = A ⊙ (S − m) + m`` with ``m_t = min_c S_{t,c}``. ``S [B,T,C]``, ``A [B,T]``."""
    m = S.min(dim=2, keepdim=True).values
    return A.unsqueeze(2) * (S - m) + m


def video_logits(S: torch.Tensor, lengths: torch.Tensor, h: Sequence[float], kernels: bool | None = None) -> torch.Tensor:
    """Class-wise top-K pooling (eqs. 7–8): ``u_c`` = mean of the ``k(T, h_c)`` largest valid ``S_{t,c}``. → ``[B, C]``."""
    k = ops.topk_k(lengths, h)
    with ops.backend_for(kernels):
        return ops.topk_pool(S, k, lengths)


def mil_loss(S: torch.Tensor, targets: torch.Tensor, lengths: torch.Tensor, h: Sequence[float],
             kernels: bool | None = None) -> torch.Tensor:
    """``mean_b −Σ_c ŷ_c log softmax(u)_c`` with ``ŷ = y / (Σy + 1e-4)``; ``targets [B, C]``."""
    y_hat = targets / (targets.sum(dim=1, keepdim=True) + _TARGET_EPS)
    log_p = torch.log_softmax(video_logits(S, lengths, h, kernels), dim=1)
    return -(y_hat * log_p).sum(dim=1).mean()


def _with_background(y: torch.Tensor, value: float) -> torch.Tensor:
    return torch.cat([y, y.new_full((y.shape[0], 1), value)], dim=1)


def loss_dc1(out: MCWESOutput, labels: object, h: Sequence[float], kernels: bool | None = None) -> torch.Tensor:
    """Eq. 15: MIL loss of the raw T-CAM ``S`` with targets ``(y_MaE, y_ME, 1)``."""
    y = _labels(labels, out)
    return mil_loss(out.S, _with_background(y, 1.0), out.lengths, h, kernels)


def loss_dc2(out: MCWESOutput, labels: object, h: Sequence[float], kernels: bool | None = None) -> torch.Tensor:
    """Eq. 16: MIL loss of the suppressed T-CAM ``Ŝ`` with targets ``(y_MaE, y_ME, 0)``."""
    y = _labels(labels, out)
    return mil_loss(suppressed_tcam(out.S, out.A), _with_background(y, 0.0), out.lengths, h, kernels)


def duration_masked_tcam(out: MCWESOutput, *, eta: int, omega_l: float, omega_u: float,
                         kernels: bool | None = None) -> torch.Tensor:
    """``S̃ = M ⊙ S`` with the duration mask ``M`` of ``A`` (eqs. 9–10), computed without gradient."""
    a = out.A.detach()
    with ops.backend_for(kernels):
        mask = ops.duration_mask(a, out.lengths, eta=eta, omega_l=omega_l, omega_u=omega_u)
    keep = mask.to(device=out.S.device).unsqueeze(2) != 0
    return torch.where(keep, out.S, out.S.new_zeros(()))


def loss_dc3(out: MCWESOutput, labels: object, h: Sequence[float], *, eta: int = 2, omega_l: float = 1.2,
             omega_u: float = 1.4, kernels: bool | None = None) -> torch.Tensor:
    """Eq. 18: MIL loss of ``S̃`` with targets ``(y_MaE, 0, 1)`` (the ME class, index 1, zeroed)."""
    y = _labels(labels, out).clone()
    if y.shape[1] > 1:
        y[:, 1] = 0
    masked = duration_masked_tcam(out, eta=eta, omega_l=omega_l, omega_u=omega_u, kernels=kernels)
    return mil_loss(masked, _with_background(y, 1.0), out.lengths, h, kernels)


def loss_sc(out: MCWESOutput) -> torch.Tensor:
    """Eq. 14: ``½·mean_t(A_rgb − sg(A_flow))² + ½·mean_t(sg(A_rgb) − A_flow)²``."""
    a_rgb, a_flow = out.A_rgb, out.A_flow
    per_video = 0.5 * _time_mean((a_rgb - a_flow.detach()) ** 2, out) + 0.5 * _time_mean((a_rgb.detach() - a_flow) ** 2, out)
    return per_video.mean()


def loss_sl(out: MCWESOutput) -> torch.Tensor:
    """Eq. 17: ``⅓(mean_t A + mean_t A_rgb + mean_t A_flow)`` (sparsity)."""
    return ((_time_mean(out.A, out) + _time_mean(out.A_rgb, out) + _time_mean(out.A_flow, out)) / 3).mean()


def loss_gl(out: MCWESOutput) -> torch.Tensor:
    """Eqs. 20–21: ``⅓ Σ_a mean_t |p_f − a|``, ``p_f = 1 − softmax_c(S_t)[bg]`` (no stop-gradient, like CO2-Net)."""
    p_f = 1 - torch.softmax(out.S, dim=2)[:, :, -1]
    terms = [_time_mean((p_f - a).abs(), out) for a in (out.A, out.A_rgb, out.A_flow)]
    return ((terms[0] + terms[1] + terms[2]) / 3).mean()


def _top_indices(a: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the k largest values of 1-D ``a`` (ties: lower index first)."""
    return torch.sort(a.detach(), descending=True, stable=True).indices[:k]


def pair_similarity(f_src: torch.Tensor, s_src: torch.Tensor, a_src: torch.Tensor, f_dst: torch.Tensor,
                    a_dst: torch.Tensor, y: torch.Tensor, k: int, temperature: float = 1.0) -> torch.Tensor:
    """``cs`` of eqs. 11–13 for one direction of a pair (valid steps only).

    Args:
        f_src: ``[T1, D']`` fused features of the video whose top-k snippets are selected (v1).
        s_src: ``[T1, C]`` its T-CAM; a_src: ``[T1]`` its attention.
        f_dst: ``[T2, D']`` features of the other video (v2); a_dst: ``[T2]`` its attention.
        y: ``[n]`` shared labels ``y_v1 ⊙ y_v2``.
        k: how many snippets of v1 to select (clamped to ``T1``).
        temperature: τ of the softmax over the k axis, ``softmax_k(sim / τ)`` (1: the paper as written;
            see :class:`~mcwes.config.TrainConfig` ``fc_temperature``).

    Returns:
        ``cs_{v2} = Σ_i y_i Σ_t A_{v2,t}·ms_{t,i} / Σ_t A_{v2,t}``, with ``w = softmax_classes(S_{v1}[top-k, :n])``,
        ``H_i = softmax_k(f̂_{v2} · (f̂'_{v1} ⊙ w_{:,i})ᵀ)`` and ``ms_{t,i} = max_k H_i`` (features L2-normalised).
    """
    n = y.shape[0]
    idx = _top_indices(a_src, min(int(k), a_src.shape[0]))
    w = torch.softmax(s_src[idx, :n], dim=1)  # [k, n]
    sim = F.normalize(f_dst, dim=1) @ F.normalize(f_src[idx], dim=1).T  # [T2, k]
    h = torch.softmax(sim.unsqueeze(2) * w.unsqueeze(0) / temperature, dim=1)  # [T2, k, n]: row t·(f'_j w_ji) = w_ji (row t·f'_j)
    ms = h.max(dim=1).values  # [T2, n]
    return (y * (a_dst @ ms)).sum() / a_dst.sum().clamp_min(torch.finfo(a_dst.dtype).tiny)


def loss_fc(out: MCWESOutput, labels: object, pairs: Sequence[tuple[int, int]], h_mae: float,
            temperature: float = 1.0) -> torch.Tensor:
    """Eq. 19: ``1 − Σ_pairs (cs_{v1} + cs_{v2}) / (2 N_s)`` over the batch's label-sharing ``pairs``
    (index pairs into the batch); ``N_s`` = shared positive labels over all pairs. 0 without pairs
    (or when no pair shares a label)."""
    y = _labels(labels, out)
    lengths = out.lengths.tolist()
    total, n_shared = out.S.new_zeros(()), 0.0
    for i, j in pairs:
        shared = y[i] * y[j]
        n_shared += float(shared.sum())
        Li, Lj = lengths[i], lengths[j]
        fi, si, ai = out.f[i, :Li], out.S[i, :Li], out.A[i, :Li]
        fj, sj, aj = out.f[j, :Lj], out.S[j, :Lj], out.A[j, :Lj]
        total = total + pair_similarity(fi, si, ai, fj, aj, shared, max(1, int(Li // h_mae)), temperature)
        total = total + pair_similarity(fj, sj, aj, fi, ai, shared, max(1, int(Lj // h_mae)), temperature)
    if n_shared == 0:
        return out.S.new_zeros(())
    return 1 - total / (2 * n_shared)


#: Which λ of eq. 22 weights each term (None: weight 1).
LOSS_WEIGHTS: dict[str, int | None] = {"sc": None, "dc1": None, "dc2": None, "dc3": 0, "fc": 1, "sl": 2, "gl": 3}


def mcwes_losses(out: MCWESOutput, labels: object, config: TrainConfig, pairs: Sequence[tuple[int, int]] = (),
                 kernels: bool | None = None) -> dict[str, torch.Tensor]:
    """The switched-on terms of ``config.losses`` and their total (eq. 22).

    Returns:
        ``{name: scalar}`` for every enabled term (names from :data:`mcwes.config.LOSS_NAMES`) plus
        ``"total"`` = ``L_sc + L_dc1 + L_dc2 + λ1 L_dc3 + λ2 L_fc + λ3 L_sl + λ4 L_gl`` over them.
    """
    empty = (out.lengths <= 0).nonzero().flatten().tolist()
    if empty:
        raise ValueError(f"mcwes.losses: expected every video of a training batch to have at least one valid snippet "
                         f"(lengths >= 1), got length 0 for batch item(s) {empty}: drop those videos from the batch")
    h = tuple(config.h)
    compute = {
        "dc1": lambda: loss_dc1(out, labels, h, kernels),
        "dc2": lambda: loss_dc2(out, labels, h, kernels),
        "dc3": lambda: loss_dc3(out, labels, h, eta=config.eta, omega_l=config.omega_l,
                                omega_u=config.omega_u, kernels=kernels),
        "sc": lambda: loss_sc(out),
        "sl": lambda: loss_sl(out),
        "gl": lambda: loss_gl(out),
        "fc": lambda: loss_fc(out, labels, pairs, h[0], config.fc_temperature),
    }
    terms = {name: compute[name]() for name in compute if name in config.losses}
    total = out.S.new_zeros(())
    for name, value in terms.items():
        slot = LOSS_WEIGHTS[name]
        total = total + (value if slot is None else config.lambdas[slot] * value)
    terms["total"] = total
    return terms
