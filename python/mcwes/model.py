"""The MC-WES network (paper §3.2–3.3, docs/method.md §2): two cross-modal modules, two attention generators,
fusion and classifier, producing the T-CAM ``S`` and the attention ``A`` of every snippet.

``MCWES(config)(x, lengths)`` takes ``x: [B, T, 2D]`` (RGB channels ``[0, D)``, flow ``[D, 2D)``) and
per-video valid ``lengths``; it returns an :class:`MCWESOutput`. Padding never changes a valid
output: every k=3 convolution sees zeros at ``t >= length`` (exactly the zero padding of the
unpadded video), every mean is over valid steps, the attention masks padded keys, and every output
is 0 at padded positions.

Two interchangeable implementations of the attention of eq. 3 (the only kernel inside the network):
the compiled op and its plain-PyTorch ``softmax(s·QQᵀ)Q`` (``cscm_attention_torch`` in ``mcwes/ops/cscm_attention.py``),
chosen by the one switch ``mcwes.ops.set_backend`` / ``use_backend``. ``kernels=True``/``False`` pins a
model to one of them (``model.kernels`` can be flipped at any time; None, the default, follows the
switch); the losses take the same argument (:func:`mcwes.losses.mcwes_losses`).

Fusion variants (``config.model.fusion``, the paper's Table 1):

- ``"cscm"``: the paper's Core Saliency Compensation Module (eqs. 1–6).
- ``"ccm"``: CO2-Net's cross-modal consensus module, as in its public code (``BWA_fusion_dropout_feat_v2``):
  a channel gate from the *main* stream's global context, ``c = Drop(LReLU(W_c·mean_t(X_m) + b_c))``
  (CO2-Net's k=3 conv on the pooled length-1 sequence, i.e. its centre tap), a bit-wise gate from the
  *other* stream, ``b = Drop(LReLU(Conv1d_k3(X_a)))``, and ``O = σ(b ⊙ c) ⊙ X_m``.
- ``"concat"``: no cross-modal module (``O_rgb = X_rgb``, ``O_flow = X_flow``); the attention
  generators, fusion and classifier are unchanged.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Union

import torch
from torch import nn

from . import ops
from .config import NORMALIZED_STD, Config, ModelConfig
from .ops._util import valid_mask

__all__ = ["MCWES", "MCWESOutput"]

_LEAK = 0.2


@dataclass
class MCWESOutput:
    """What :meth:`MCWES.forward` returns; everything is time-major and 0 at padded positions."""

    #: T-CAM logits ``[B, T, C]`` (C = n + 1, background last).
    S: torch.Tensor
    #: Class-agnostic attention ``(A_rgb + A_flow) / 2``, ``[B, T]`` in [0, 1].
    A: torch.Tensor
    #: Attention of the RGB-main stream ``[B, T]``.
    A_rgb: torch.Tensor
    #: Attention of the flow-main stream ``[B, T]``.
    A_flow: torch.Tensor
    #: Fused features ``[B, T, 2D]`` (what the classifier sees; used by L_fc).
    f: torch.Tensor
    #: Valid lengths ``[B]`` (int64, on the model's device).
    lengths: torch.Tensor


def _masked_mean(x: torch.Tensor, mask: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Mean over valid t of channel-first ``x: [B, D, T]`` → ``[B, D]`` (0 for an empty video)."""
    return _keep(x, mask).sum(dim=2) / lengths.clamp_min(1).unsqueeze(1).to(x.dtype)


def _keep(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``x`` where ``mask`` (bool, or 0/1, broadcast) is set, else 0: selection, so NaN/inf in padding never
    reach a valid output (a product would turn them into NaN, since NaN·0 = NaN)."""
    return torch.where(mask if mask.dtype == torch.bool else mask != 0, x, x.new_zeros(()))


class CSCM(nn.Module):
    """Core Saliency Compensation Module (eqs. 1–6) for one main/auxiliary pairing."""

    def __init__(self, dim: int, scale: float) -> None:
        super().__init__()
        self.scale = scale
        self.gate = nn.Linear(dim, dim)  # W_g: the paper's "3×3 conv" on a length-1 sequence = its centre tap
        self.query = nn.Conv1d(dim, dim, 1)  # W_q (eq. 2)
        self.core = nn.Conv1d(dim, dim, 1)  # W_f (eq. 3)
        self.aux = nn.Conv1d(dim, dim, 3, padding=1)  # eq. 4

    def forward(self, xm: torch.Tensor, xa: torch.Tensor, mask: torch.Tensor, lengths: torch.Tensor,
                attention: Callable[..., torch.Tensor]) -> torch.Tensor:
        g = torch.sigmoid(self.gate(_masked_mean(xm, mask, lengths)))
        fq = self.query(xm).transpose(1, 2)
        att = attention(fq, lengths, self.scale).transpose(1, 2)
        f_core = self.core(att)
        f_a = self.aux(_keep(xa + f_core, mask))
        return _keep(torch.sigmoid(f_a * g.unsqueeze(2)) * xm, mask)


class CCM(nn.Module):
    """CO2-Net's cross-modal consensus module (see the module docstring)."""

    def __init__(self, dim: int, dropout: float) -> None:
        super().__init__()
        self.channel = nn.Linear(dim, dim)
        self.bitwise = nn.Conv1d(dim, dim, 3, padding=1)
        self.act = nn.LeakyReLU(_LEAK)
        self.drop = nn.Dropout(dropout)

    def forward(self, xm: torch.Tensor, xa: torch.Tensor, mask: torch.Tensor, lengths: torch.Tensor,
                attention: Callable[..., torch.Tensor]) -> torch.Tensor:
        c = self.drop(self.act(self.channel(_masked_mean(xm, mask, lengths))))
        b = self.drop(self.act(self.bitwise(_keep(xa, mask))))
        return _keep(torch.sigmoid(b * c.unsqueeze(2)) * xm, mask)


class Identity(nn.Module):
    """The "concat" variant: the stream passes unchanged (padding zeroed)."""

    def forward(self, xm: torch.Tensor, xa: torch.Tensor, mask: torch.Tensor, lengths: torch.Tensor,
                attention: Callable[..., torch.Tensor]) -> torch.Tensor:
        return _keep(xm, mask)


class AttentionGenerator(nn.Module):
    """CO2-Net's attention head: ``[B, D, T]`` → ``[B, T]`` in [0, 1] (0 at padding)."""

    def __init__(self, dim: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(dim, hidden, 3, padding=1)
        self.conv2 = nn.Conv1d(hidden, hidden, 3, padding=1)
        self.conv3 = nn.Conv1d(hidden, 1, 1)
        self.act = nn.LeakyReLU(_LEAK)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.drop(self.act(self.conv1(_keep(x, mask))))
        h = self.act(self.conv2(_keep(h, mask)))
        return _keep(torch.sigmoid(self.drop(self.conv3(h))).squeeze(1), mask.squeeze(1))


def _cross_modal(fusion: str, dim: int, cfg: ModelConfig) -> nn.Module:
    if fusion == "cscm":
        return CSCM(dim, cfg.attention_scale)
    if fusion == "ccm":
        return CCM(dim, cfg.attention_dropout)
    return Identity()


class MCWES(nn.Module):
    """The MC-WES network.

    Args:
        config: a :class:`~mcwes.config.ModelConfig` or a whole :class:`~mcwes.config.Config`
            (kept as ``model.config``; ``model.model_config`` is its model part). None: defaults.
        kernels: True to run the attention of eq. 3 with the compiled op, False for plain PyTorch,
            None (default) for whatever ``mcwes.ops.get_backend()`` says at each call.

    Attributes ``cscm_rgb`` (main RGB, auxiliary flow) and ``cscm_flow`` (main flow, auxiliary RGB)
    hold the cross-modal modules of the configured fusion variant; ``att_rgb``/``att_flow`` the
    attention generators; ``fusion`` and ``classifier`` the rest.
    """

    # the input standardisation (buffers registered in __init__, saved with the weights)
    feature_mean: torch.Tensor
    feature_std: torch.Tensor

    def __init__(self, config: Union[ModelConfig, Config, None] = None, *, kernels: bool | None = None) -> None:
        super().__init__()
        self.config = config if config is not None else ModelConfig()
        cfg = self.config.model if isinstance(self.config, Config) else self.config
        if not isinstance(cfg, ModelConfig):
            raise TypeError(f"mcwes.MCWES: expected config to be a ModelConfig or Config, got {type(config).__name__}")
        cfg.validate()
        self.model_config = cfg
        self.kernels = kernels
        D, C = cfg.feature_dim, cfg.n_classes + 1
        self.feature_dim, self.n_outputs = D, C
        self.cscm_rgb = _cross_modal(cfg.fusion, D, cfg)
        self.cscm_flow = _cross_modal(cfg.fusion, D, cfg)
        self.att_rgb = AttentionGenerator(D, cfg.attention_hidden, cfg.attention_dropout)
        self.att_flow = AttentionGenerator(D, cfg.attention_hidden, cfg.attention_dropout)
        self.fusion = nn.Sequential(nn.Conv1d(2 * D, 2 * D, 1), nn.LeakyReLU(_LEAK), nn.Dropout(cfg.fusion_dropout))
        self.cls_drop1 = nn.Dropout(cfg.classifier_dropout)
        self.cls_conv1 = nn.Conv1d(2 * D, 2 * D, 3, padding=1)
        self.cls_act = nn.LeakyReLU(_LEAK)
        self.cls_drop2 = nn.Dropout(cfg.classifier_dropout)
        self.cls_conv2 = nn.Conv1d(2 * D, C, 1)
        self.normalize = cfg.normalize
        # Input normalisation statistics (config.model.normalize), fitted by fit_normalization on the
        # training videos; identity until then. Buffers, so checkpoints carry them.
        self.register_buffer("feature_mean", torch.zeros(2 * D))
        self.register_buffer("feature_std", torch.ones(2 * D))
        self.reset_parameters()

    @torch.no_grad()
    def fit_normalization(self, features: Sequence[torch.Tensor]) -> None:
        """Fit the input statistics of ``config.model.normalize`` on training videos (``[T, 2D]`` each).

        ``"video"`` (default): each video's per-channel mean is removed in ``forward``; the one divisor
        for every channel is the median over channels of the *within-video* standard deviation divided
        by :data:`~mcwes.config.NORMALIZED_STD`. ``"scale"``: the same divisor, no centring.
        ``"dataset"``: the per-channel mean and standard deviation over every snippet. ``"none"``:
        nothing to fit (identity). Deviations of 0 (constant inputs) count as 1.
        """
        if self.normalize == "none":
            return
        xs = [torch.as_tensor(f).to(torch.float64) for f in features]
        xs = [x for x in xs if x.dim() == 2 and x.shape[0] > 0]
        if not xs or any(x.shape[1] != 2 * self.feature_dim for x in xs):
            raise ValueError(f"mcwes.MCWES.fit_normalization: expected [T >= 1, {2 * self.feature_dim}] features, "
                             f"got shapes {sorted({tuple(torch.as_tensor(f).shape) for f in features})}")
        if self.normalize == "dataset":
            allx = torch.cat(xs)
            std = allx.std(dim=0, unbiased=False)
            self.feature_mean.copy_(allx.mean(dim=0))
            self.feature_std.copy_(torch.where(std > 1e-12, std, torch.ones_like(std)))
            return
        within = torch.cat([x - x.mean(dim=0) for x in xs]).std(dim=0, unbiased=False)
        divisor = float(within.median()) / NORMALIZED_STD
        self.feature_mean.zero_()
        self.feature_std.fill_(divisor if divisor > 1e-12 else 1.0)

    def reset_parameters(self) -> None:
        """docs/method.md §2 (CO2-Net's ``weights_init``): kaiming-uniform weights, zero biases."""
        for m in self.modules():
            if isinstance(m, (nn.Conv1d, nn.Linear)):
                nn.init.kaiming_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def _attention(self, q: torch.Tensor, lengths: torch.Tensor, scale: float) -> torch.Tensor:
        with ops.backend_for(self.kernels):
            return ops.cscm_attention(q, lengths, scale).to(q.dtype)

    def forward(self, x: torch.Tensor, lengths: object = None) -> MCWESOutput:
        """Run the network.

        Args:
            x: ``[B, T, 2D]`` features (cast to the parameters' dtype and device).
            lengths: ``[B]`` valid lengths in ``[0, T]`` (sequence or integer tensor); None: all T.

        Returns:
            :class:`MCWESOutput` with ``S [B,T,C]``, ``A``, ``A_rgb``, ``A_flow`` ``[B,T]``, ``f [B,T,2D]``.
        """
        x, len_t = self._check_input(x, lengths)
        B, T, _ = x.shape
        D = self.feature_dim
        if T == 0:  # no snippets: empty outputs (convolutions cannot run on a length-0 sequence)
            empty = x.new_zeros((B, 0))
            return MCWESOutput(S=x.new_zeros((B, 0, self.n_outputs)), A=empty, A_rgb=empty.clone(),
                               A_flow=empty.clone(), f=x.new_zeros((B, 0, 2 * D)), lengths=len_t)
        mask = valid_mask(len_t, T).unsqueeze(1)  # [B, 1, T] bool
        xc = _keep(self._normalized(x, len_t).transpose(1, 2), mask)
        x_rgb, x_flow = xc[:, :D], xc[:, D:]
        o_rgb = self.cscm_rgb(x_rgb, x_flow, mask, len_t, self._attention)
        o_flow = self.cscm_flow(x_flow, x_rgb, mask, len_t, self._attention)
        a_rgb = self.att_rgb(o_rgb, mask)
        a_flow = self.att_flow(o_flow, mask)
        f = _keep(self.fusion(torch.cat([o_rgb, o_flow], dim=1)), mask)
        h = self.cls_drop2(self.cls_act(self.cls_conv1(_keep(self.cls_drop1(f), mask))))
        S = _keep(self.cls_conv2(h), mask)
        return MCWESOutput(S=S.transpose(1, 2), A=(a_rgb + a_flow) / 2, A_rgb=a_rgb, A_flow=a_flow,
                           f=f.transpose(1, 2), lengths=len_t)

    def _normalized(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``x [B, T, 2D]`` with the fitted input normalisation applied (``"video"``: each video's mean
        over its valid steps removed; padding never enters that mean)."""
        if self.normalize == "none":
            return x
        if self.normalize == "video":
            valid = (torch.arange(x.shape[1], device=x.device)[None, :] < lengths[:, None]).unsqueeze(2)
            total = torch.where(valid, x, torch.zeros((), dtype=x.dtype, device=x.device)).sum(dim=1, keepdim=True)
            x = x - total / lengths.clamp_min(1).view(-1, 1, 1).to(x.dtype)
        return (x - self.feature_mean) / self.feature_std

    def _check_input(self, x: object, lengths: object) -> tuple[torch.Tensor, torch.Tensor]:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"mcwes.MCWES: expected x to be a torch.Tensor, got {type(x).__name__}")
        if x.dim() != 3 or x.shape[2] != 2 * self.feature_dim:
            raise ValueError(f"mcwes.MCWES: expected x to have shape [B, T, 2D = {2 * self.feature_dim}], "
                             f"got shape {tuple(x.shape)}")
        if not x.dtype.is_floating_point:
            raise TypeError(f"mcwes.MCWES: expected x to be a floating-point tensor, got {x.dtype}")
        weight = self.cls_conv2.weight
        x = x.to(device=weight.device, dtype=weight.dtype)
        B, T, _ = x.shape
        if lengths is None:
            return x, torch.full((B,), T, dtype=torch.int64, device=x.device)
        try:
            len_t = torch.as_tensor(lengths, device=x.device)
        except (OverflowError, RuntimeError, TypeError, ValueError) as exc:
            raise ValueError(f"mcwes.MCWES: expected lengths to be {B} integers in [0, {T}] (one per video), "
                             f"got {lengths!r:.80} ({type(exc).__name__}: {exc})") from None
        if len_t.dtype.is_floating_point or len_t.dtype == torch.bool or tuple(len_t.shape) != (B,):
            raise ValueError(f"mcwes.MCWES: expected lengths to be {B} integers (one per video), "
                             f"got {len_t.dtype} of shape {tuple(len_t.shape)}")
        len_t = len_t.to(torch.int64)
        if B and bool(((len_t < 0) | (len_t > T)).any()):
            raise ValueError(f"mcwes.MCWES: expected lengths to lie in [0, {T}], got {len_t.tolist()}")
        return x, len_t
