"""Spotting (docs/method.md §4): ``mcwes.spot(features)`` → proposals in frames, and the default model.

One forward pass over the whole batch (variable lengths), then one call of the fused post-processing
kernel (``mcwes.ops.spot_postprocess``) or, as an option, the multi-threshold post-processing of
earlier work (``postprocess="multi_threshold"``). Everything runs under ``torch.inference_mode()``.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any, Union

import numpy as np
import torch

from . import checks
from .config import Config, SpotConfig
from .data.dataset import pad_videos
from .losses import suppressed_tcam, video_logits
from .model import MCWES
from .spotting import postprocess
from .proposals import CLASSES, Proposal, Proposals, duration_label, snippets_to_frames

__all__ = ["spot", "spot_videos", "curves", "load", "default_model", "set_default_model", "CHECKPOINT_ENV"]

log = logging.getLogger(__name__)

#: Environment variable naming a checkpoint that ``spot`` uses when no model is given or loaded.
CHECKPOINT_ENV = "MCWES_CHECKPOINT"

# The one piece of global state: the model set by mcwes.load() (or loaded from $MCWES_CHECKPOINT).
_default: dict[str, Any] = {"model": None, "source": None}

FeatureInput = Union[np.ndarray, torch.Tensor, Sequence[Union[np.ndarray, torch.Tensor]]]


def load(path: Union[str, os.PathLike], *, device: Union[str, torch.device, None] = None) -> MCWES:
    """Load a checkpoint (weights + config), make it the default model of :func:`spot`, return it."""
    from .checkpoint import load_checkpoint

    model, _, _ = load_checkpoint(path, map_location="cpu" if device is None else device)
    set_default_model(model, source=str(path))
    return model


def set_default_model(model: MCWES | None, *, source: str | None = None) -> None:
    """Set (or with None, clear) the model :func:`spot` uses when called without one."""
    if model is not None and not isinstance(model, MCWES):
        raise TypeError(f"mcwes.set_default_model: expected an MCWES model, got {type(model).__name__}")
    _default.update(model=model, source=source)


def default_model() -> MCWES:
    """The model set by :func:`load`, else the checkpoint named by ``$MCWES_CHECKPOINT``."""
    if _default["model"] is None:
        env = os.environ.get(CHECKPOINT_ENV)
        if env:
            load(env)
        else:
            raise ValueError(
                "mcwes.spot: no model: pass model= (an MCWES or a checkpoint path), call mcwes.load(path) "
                f"first, or set {CHECKPOINT_ENV}=path/to/checkpoint.pt. To get a checkpoint, train one "
                "with `mcwes train --features DIR --annotations FILE --out DIR` (or run `mcwes demo`)."
            )
    return _default["model"]


def _resolve_model(model: Union[MCWES, str, os.PathLike, None]) -> MCWES:
    if model is None:
        return default_model()
    if isinstance(model, MCWES):
        return model
    if isinstance(model, (str, os.PathLike)):
        from .checkpoint import load_checkpoint

        return load_checkpoint(model)[0]
    raise TypeError(f"mcwes.spot: expected model to be an MCWES, a checkpoint path or None, got {type(model).__name__}")


def _as_tensor(x: object, what: str) -> torch.Tensor:
    """Real-valued features (tensor or array, any real dtype) as a tensor; complex, bool and
    non-numeric inputs are refused (``checks.real_array``)."""
    if isinstance(x, torch.Tensor):
        checks.real_array(x[:0], "mcwes.spot", what)
        return x.detach() if x.dtype.is_floating_point else x.detach().to(torch.float32)
    a = checks.real_array(x, "mcwes.spot", what)
    return torch.from_numpy(np.asarray(a, dtype=np.float32))


def _batch(features: FeatureInput, lengths: object, width: int) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """Features as one padded ``[B, T, 2D]`` batch, its lengths, and whether the input was one video."""
    if isinstance(features, (list, tuple)):
        if not features:
            raise ValueError("mcwes.spot: expected at least one video, got an empty list")
        if lengths is not None:
            raise ValueError("mcwes.spot: lengths are implied by a list of videos; expected lengths=None")
        videos = [_as_tensor(v, f"video {i}") for i, v in enumerate(features)]
        for i, v in enumerate(videos):
            if v.dim() != 2 or v.shape[1] != width:
                raise ValueError(f"mcwes.spot: expected video {i} to have shape [T, {width}], got {tuple(v.shape)}")
        batch, lens = pad_videos(videos, width)
        return batch, lens, False
    x = _as_tensor(features, "features")
    if x.dim() == 2:
        if lengths is not None:
            raise ValueError("mcwes.spot: a single video [T, 2D] takes no lengths; expected lengths=None")
        x = x.unsqueeze(0)
        single = True
    elif x.dim() == 3:
        single = False
    else:
        raise ValueError(f"mcwes.spot: expected features of shape [T, {width}] or [B, T, {width}], got {tuple(x.shape)}")
    if x.shape[2] != width:
        raise ValueError(f"mcwes.spot: expected features with {width} channels (2D, RGB then flow), got {x.shape[2]}")
    B, T = x.shape[:2]
    if B == 0:
        raise ValueError("mcwes.spot: expected at least one video, got a batch of 0")
    if lengths is None:
        lens = torch.full((B,), T, dtype=torch.int64)
    else:
        lens = torch.from_numpy(checks.lengths_array(lengths, "mcwes.spot", batch=B, steps=T))
    return x, lens, single


def _check_finite(x: torch.Tensor, lens: torch.Tensor) -> None:
    valid = torch.arange(x.shape[1])[None, :] < lens[:, None]
    bad = ~torch.isfinite(x.float()).all(dim=2) & valid.to(x.device)
    if bool(bad.any()):
        b, t = (int(v) for v in bad.nonzero()[0])
        raise ValueError(f"mcwes.spot: expected finite features, got NaN/inf in video {b} at snippet {t}")


def _spot_config(config: Config, overrides: dict[str, Any]) -> SpotConfig:
    if not overrides:
        return config.spot
    known = set(SpotConfig.__dataclass_fields__)
    unknown = set(overrides) - known
    if unknown:
        raise ValueError(f"mcwes.spot: unknown options {sorted(unknown)}; expected fields of SpotConfig: {sorted(known)}")
    return config.replace(spot=overrides).spot


def spot(
    features: FeatureInput,
    model: Union[MCWES, str, os.PathLike, None] = None,
    *,
    lengths: object = None,
    fps: float | None = None,
    snippet_frames: int | None = None,
    n_frames: Sequence[int] | int | None = None,
    names: Sequence[str] | str | None = None,
    **overrides: Any,
) -> Union[Proposals, list[Proposals]]:
    """Spot expressions in one or more videos' features.

    Args:
        features: one video ``[T, 2D]`` (tensor or array) → a list of proposals; a list of videos of
            different lengths, or a padded ``[B, T, 2D]`` batch with ``lengths`` → a list of lists.
        model: an :class:`~mcwes.MCWES`, a checkpoint path, or None for the default model
            (:func:`load` / ``$MCWES_CHECKPOINT``).
        lengths: ``[B]`` valid snippets per video of a padded batch.
        fps, snippet_frames: frame rate and frames per snippet (default: the model's config).
        n_frames: frames per video (offsets are clipped to ``n_frames - 1``); default ``T·g``.
        names: video names used in the proposals (default ``video0``, ``video1``, …).
        **overrides: fields of :class:`~mcwes.config.SpotConfig` (``psi``, ``m0``, ``postprocess``, …).

    Returns:
        :class:`~mcwes.proposals.Proposals` (onset/offset in frames, inclusive; score; duration label;
        model label), or one per video.
    """
    net = _resolve_model(model)
    config = net.config if isinstance(net.config, Config) else Config(model=net.model_config)
    spot_cfg = _spot_config(config, overrides)
    fps = config.data.fps if fps is None else fps
    g = config.data.snippet_frames if snippet_frames is None else snippet_frames
    fps = checks.positive_number(fps, "mcwes.spot", "fps")
    if isinstance(g, (float, np.floating)):
        checks.fail("mcwes.spot", "snippet_frames", "be an integer >= 1", repr(g), TypeError)
    g = checks.positive_int(g, "mcwes.spot", "snippet_frames")

    x, lens, single = _batch(features, lengths, 2 * net.feature_dim)
    _check_finite(x, lens)
    if x.shape[1] * g > checks.FRAME_LIMIT:
        checks.fail("mcwes.spot", "snippet_frames", f"keep the frame numbers of {x.shape[1]} snippets below 2**31", g)
    B = x.shape[0]
    video_names = _names(names, B)
    frames = _frames(n_frames, lens, g)
    batch = _postprocess(net, x, lens, config, spot_cfg)
    per_video: list[Proposals] = [Proposals() for _ in range(B)]
    b_idx, start, end = (batch.batch_idx.cpu().numpy(), batch.start.cpu().numpy(), batch.end.cpu().numpy())
    labels, scores = batch.label.cpu().numpy(), batch.score.double().cpu().numpy()
    for b in np.unique(b_idx):
        sel = b_idx == b
        onset, offset = snippets_to_frames(start[sel], end[sel], g, frames[b])
        dur = duration_label(onset, offset, fps)
        for i in range(int(sel.sum())):
            per_video[b].append(Proposal(video=video_names[b], onset=int(onset[i]), offset=int(offset[i]),
                                         score=float(scores[sel][i]), label=str(dur[i]),
                                         model_label=CLASSES[int(labels[sel][i])]))
    return per_video[0] if single else per_video


def _forward(net: MCWES, x: torch.Tensor, lens: torch.Tensor):
    """The network in eval mode under inference_mode, on its own device; its training flag is restored."""
    device = next(net.parameters()).device
    was_training = net.training
    net.eval()
    try:
        with torch.inference_mode():
            return net(x.to(device), lens.to(device))
    finally:
        net.train(was_training)


def _postprocess(net: MCWES, x: torch.Tensor, lens: torch.Tensor, config: Config, spot_cfg: SpotConfig):
    n = net.model_config.n_classes
    out = _forward(net, x, lens)
    with torch.inference_mode():
        s_hat = suppressed_tcam(out.S, out.A)
        p = torch.softmax(video_logits(s_hat, out.lengths, config.train.h, kernels=net.kernels), dim=1)
        return postprocess(out.A, s_hat[..., :n].contiguous(), p[:, :n].contiguous(), out.lengths, spot_cfg)


def _names(names: Sequence[str] | str | None, B: int) -> list[str]:
    if names is None:
        return [f"video{i}" for i in range(B)]
    if not isinstance(names, (str, Sequence, np.ndarray)):
        checks.fail("mcwes.spot", "names", "be a sequence of video names", type(names).__name__, TypeError)
    names = [names] if isinstance(names, str) else list(names)
    if len(names) != B:
        raise ValueError(f"mcwes.spot: expected {B} names (one per video), got {len(names)}")
    out = [str(n) for n in names]
    seen: dict[str, int] = {}
    for i, n in enumerate(out):
        if n in seen:
            checks.fail("mcwes.spot", "names", "be distinct (proposals are keyed by video name)",
                        f"{n!r} for videos {seen[n]} and {i}")
        seen[n] = i
    return out


def _frames(n_frames: Sequence[int] | int | None, lens: torch.Tensor, g: int) -> list[int]:
    if n_frames is None:
        return [max(1, int(L) * g) for L in lens]
    if isinstance(n_frames, (int, np.integer, float, np.floating)):
        values = [n_frames]
    elif isinstance(n_frames, (Sequence, np.ndarray, torch.Tensor)):
        values = n_frames.tolist() if isinstance(n_frames, (np.ndarray, torch.Tensor)) else list(n_frames)
    else:
        checks.fail("mcwes.spot", "n_frames", "be an integer or one integer per video", type(n_frames).__name__, TypeError)
    if len(values) != len(lens):
        raise ValueError(f"mcwes.spot: expected {len(lens)} frame counts (one per video), got {len(values)}")
    for i, (nf, L) in enumerate(zip(values, lens)):
        if isinstance(nf, (float, np.floating)):
            checks.fail("mcwes.spot", f"n_frames[{i}]", "be an integer >= 1", repr(nf), TypeError)
        nf = checks.positive_int(nf, "mcwes.spot", f"n_frames[{i}]")
        if int(L) > 0 and (int(L) - 1) * g > nf - 1:
            raise ValueError(f"mcwes.spot: expected n_frames of video {i} to cover its {int(L)} snippets of {g} frames "
                             f"(at least {(int(L) - 1) * g + 1}), got {nf!r}")
    return [int(v) for v in values]


def spot_videos(
    features: Sequence[Any],
    model: Union[MCWES, str, os.PathLike, None] = None,
    *,
    names: Sequence[str],
    n_frames: Sequence[int] | None = None,
    batch_size: int = 64,
    fps: float | None = None,
    snippet_frames: int | None = None,
) -> Proposals:
    """Spot any number of videos, ``batch_size`` at a time (bounded memory); their proposals pooled in
    video order. The one chunked loop that LOSO, ``mcwes spot`` and the demo use.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"mcwes.spot_videos: expected batch_size to be an integer >= 1, got {batch_size!r}")
    features, names = list(features), list(names)
    if len(names) != len(features) or (n_frames is not None and len(n_frames) != len(features)):
        raise ValueError(f"mcwes.spot_videos: expected one name (and n_frames) per video, got {len(features)} "
                         f"videos, {len(names)} names" + ("" if n_frames is None else f", {len(n_frames)} n_frames"))
    _names(names, len(names))  # distinct across chunks too: proposals are keyed by video name
    pooled = Proposals()
    for i in range(0, len(features), batch_size):
        frames = None if n_frames is None else [int(n) for n in n_frames[i : i + batch_size]]
        for proposals in spot(features[i : i + batch_size], model, fps=fps, snippet_frames=snippet_frames,
                              n_frames=frames, names=names[i : i + batch_size]):
            pooled.extend(proposals)
    return pooled


def curves(features: FeatureInput, model: Union[MCWES, str, os.PathLike, None] = None, *,
           lengths: object = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per video, the attention ``A [T]`` and the T-CAM logits ``S [T, C]`` (for plots), as NumPy arrays."""
    net = _resolve_model(model)
    x, lens, _ = _batch(features, lengths, 2 * net.feature_dim)
    _check_finite(x, lens)
    out = _forward(net, x, lens)
    A, S = out.A.float().cpu().numpy(), out.S.float().cpu().numpy()
    return [(A[b, : int(L)], S[b, : int(L)]) for b, L in enumerate(lens)]
