"""Checkpoints: the model's weights with the whole :class:`~mcwes.config.Config`, the library version
and a format version, optionally the optimizer state, the iteration and extra state (RNG states for
resuming). Written atomically (a temporary file in the same folder, then ``os.replace``), validated
on load: a truncated, foreign or mismatching file raises a ``ValueError`` naming the file.

A checkpoint is a ``torch.save`` dict with only tensors, numbers, strings, lists and dicts, so it
loads with ``torch.load(weights_only=True)`` (no pickled code is ever executed).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Optional, Union, NoReturn

import torch

from ._version import __version__
from . import checks
from .config import Config
from .model import MCWES

__all__ = ["save_checkpoint", "load_checkpoint", "FORMAT", "FORMAT_VERSION"]

#: Marker that tells an mcwes checkpoint from any other torch file.
FORMAT = "mcwes-checkpoint"
#: Bumped whenever the layout changes; files from a newer format are refused.
FORMAT_VERSION = 1

PathLike = Union[str, "os.PathLike[str]"]


def save_checkpoint(path: PathLike, model: MCWES, config: Config, optimizer: Optional[torch.optim.Optimizer] = None,
                    iteration: int = 0, extra: Optional[dict[str, Any]] = None) -> Path:
    """Write a checkpoint atomically; a failure leaves no partial file (and any old file intact).

    Args:
        path: destination file (its folder is created).
        model: the network (its ``state_dict`` is saved, moved to CPU).
        config: the whole run configuration (saved as a plain dict).
        optimizer: saved when given (for resuming).
        iteration: iterations done so far.
        extra: more plain state (tensors, numbers, strings, lists, dicts), e.g. RNG states.

    Returns:
        The path written.
    """
    if not isinstance(config, Config):
        raise TypeError(f"mcwes.save_checkpoint: expected config to be a mcwes.Config, got {type(config).__name__}")
    path = checks.output_file(path, "mcwes.save_checkpoint", "path")
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "mcwes_version": __version__,
        "config": config.to_dict(),
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "iteration": int(iteration),
        "extra": extra or {},
    }
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(payload, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _fail(path: Path, why: str) -> NoReturn:
    raise ValueError(f"mcwes.load_checkpoint: {path} {why}")


def _read(path: Path, map_location: Any) -> dict[str, Any]:
    if not path.is_file():
        raise FileNotFoundError(f"mcwes.load_checkpoint: no checkpoint file at {path}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises several types for truncated or foreign bytes
        _fail(path, f"is not a readable checkpoint (truncated or not a torch file): {type(exc).__name__}: {exc}")
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        _fail(path, f"is not an mcwes checkpoint (no '{FORMAT}' marker; was it written by mcwes.save_checkpoint?)")
    version = payload.get("format_version")
    if not isinstance(version, int) or not 1 <= version <= FORMAT_VERSION:
        _fail(path, f"has checkpoint format version {version!r}; this mcwes ({__version__}) reads versions 1..{FORMAT_VERSION}")
    for key in ("config", "model", "iteration"):
        if key not in payload:
            _fail(path, f"is missing the '{key}' entry")
    return payload


def _check_state(path: Path, model: MCWES, state: dict[str, Any]) -> None:
    expected = model.state_dict()
    if not isinstance(state, dict) or set(state) != set(expected):
        got = set(state) if isinstance(state, dict) else set()
        _fail(path, f"holds weights that do not fit its config: missing {sorted(set(expected) - got)[:5]}, "
                    f"unexpected {sorted(got - set(expected))[:5]}")
    for name, tensor in expected.items():
        value = state[name]
        if not isinstance(value, torch.Tensor) or value.shape != tensor.shape:
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            _fail(path, f"holds weight {name} of shape {shape}, but its config needs {tuple(tensor.shape)}")
        if value.dtype != tensor.dtype and not (value.is_floating_point() and tensor.is_floating_point()):
            _fail(path, f"holds weight {name} of dtype {value.dtype}, but the model needs {tensor.dtype}")
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            bad = int((~torch.isfinite(value)).sum())
            _fail(path, f"holds non-finite weights: {bad} of the {value.numel()} values of {name} are NaN or inf "
                        f"(a diverged training run?)")


def _upgrade(config: Any, weights: Any) -> tuple[Any, Any]:
    """Checkpoints written before input normalisation existed (no ``model.normalize`` in their config)
    hold models trained on raw features: read them with ``normalize="none"`` and identity statistics."""
    model_cfg = config.get("model") if isinstance(config, dict) else None
    if not isinstance(model_cfg, dict) or "normalize" in model_cfg or not isinstance(weights, dict):
        return config, weights
    width = 2 * int(model_cfg.get("feature_dim", 1024))
    weights = {**weights}
    weights.setdefault("feature_mean", torch.zeros(width))
    weights.setdefault("feature_std", torch.ones(width))
    return {**config, "model": {**model_cfg, "normalize": "none"}}, weights


def load_checkpoint(path: PathLike, map_location: Any = "cpu") -> tuple[MCWES, Config, dict[str, Any]]:
    """Read and validate a checkpoint.

    Returns:
        ``(model, config, state)``: the network (eval mode, on ``map_location``), its config, and a dict
        with ``iteration``, ``optimizer`` (state dict or None), ``extra``, ``mcwes_version``, ``format_version``.

    Raises:
        FileNotFoundError: no such file (IsADirectoryError: a folder).
        RuntimeError: ``map_location`` names a CUDA device that is not available.
        ValueError: a ``map_location`` that is no device; truncated or foreign file, unknown format version,
            invalid config, weights whose names/shapes do not match the config, NaN/inf weights; the
            message names the file.
    """
    path = checks.existing_file(path, "mcwes.load_checkpoint", "path")
    if isinstance(map_location, (str, torch.device)):
        map_location = checks.device(map_location, "mcwes.load_checkpoint", "map_location")
    # torch.load restores CPU storages only under the plain name "cpu" (not "cpu:0")
    plain_cpu = isinstance(map_location, torch.device) and map_location.type == "cpu"
    payload = _read(path, "cpu" if plain_cpu else map_location)
    config_dict, weights = _upgrade(payload["config"], payload["model"])
    try:
        config = Config.from_dict(config_dict)
    except (ValueError, TypeError) as exc:
        _fail(path, f"holds an invalid config: {exc}")
    model = MCWES(config)
    _check_state(path, model, weights)
    model.load_state_dict(weights)
    if isinstance(map_location, (str, torch.device)):
        model.to(map_location)
    model.eval()
    state = {key: payload.get(key) for key in ("iteration", "optimizer", "extra", "mcwes_version", "format_version")}
    return model, config, state
