"""Configuration of MC-WES: dataclasses for the model, the data, training and spotting, the paper's
presets (docs/method.md §8), YAML round-trips, and validation of every value when a config is built.

``Config.preset("casme2")`` gives the CAS(ME)^2 settings; ``Config.preset("samm_lv", train={"iterations": 200})``
overrides fields group by group; ``cfg.to_yaml(path)`` / ``Config.from_yaml(path)`` save and load.
An invalid value raises ``ValueError`` naming the field (``mcwes.Config: expected train.h to ...``).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from .data.facts import DATASETS as _DATA

__all__ = ["Config", "ModelConfig", "DataConfig", "TrainConfig", "SpotConfig", "PRESETS", "LOSS_NAMES"]

#: The seven loss terms of eq. 22, in the order the paper lists them.
LOSS_NAMES = ("dc1", "dc2", "dc3", "sc", "sl", "gl", "fc")
FUSIONS = ("cscm", "ccm", "concat")
POSTPROCESS = ("multi_top", "multi_threshold")
NORMALIZE = ("video", "scale", "dataset", "none")
#: Within-video standard deviation (median over channels) that ``normalize="video"``/``"scale"`` give the input:
#: that of real two-stream I3D features (~0.2–0.3).
NORMALIZED_STD = 0.25


def _fail(field_name: str, expectation: str, got: object) -> NoReturn:
    raise ValueError(f"mcwes.Config: expected {field_name} to {expectation}, got {got!r}")


def _positive(name: str, value: float, *, integer: bool = False) -> None:
    if integer and (not isinstance(value, int) or isinstance(value, bool)):
        _fail(name, "be an integer", value)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value <= 0:
        _fail(name, "be a finite number > 0", value)


def _non_negative(name: str, value: float) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value < 0:
        _fail(name, "be a finite number >= 0", value)


def _probability(name: str, value: float) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value < 1:
        _fail(name, "lie in [0, 1)", value)


@dataclass
class ModelConfig:
    """The network (docs/method.md §2)."""

    #: D, feature channels per stream; the input has 2·D channels (RGB then flow). I3D: 1024.
    feature_dim: int = 1024
    #: Expression classes n (MaE, ME); the T-CAM has n + 1 channels (background last).
    n_classes: int = 2
    #: s in eq. 3, softmax(s·F_q F_qᵀ): the paper uses 1.0 (no 1/√D).
    attention_scale: float = 1.0
    #: Fusion of the two streams: "cscm" (the paper), "ccm" (CO2-Net's cross-modal consensus module),
    #: "concat" (plain concatenation) — Table 1's variants.
    fusion: str = "cscm"
    #: Dropout inside each attention generator (CO2-Net: 0.5); also the dropout of the "ccm" fusion's
    #: gates (CO2-Net uses 0.5 there too).
    attention_dropout: float = 0.5
    #: Dropout after the fusion convolution (CO2-Net: 0.7).
    fusion_dropout: float = 0.7
    #: Dropout inside the classifier (CO2-Net: 0.7).
    classifier_dropout: float = 0.7
    #: Hidden channels of the attention generators (docs/method.md §2 / CO2-Net: 512); smaller values only for
    #: quick experiments and tests.
    attention_hidden: int = 512
    #: Input normalisation, fitted on the training videos and stored in the model (so a checkpoint
    #: spots with the statistics it was trained with). ``"video"``: each video's per-channel mean is
    #: removed (static per-subject / per-recording offsets: identity, lighting), then one scalar for
    #: all channels brings the median within-video deviation to :data:`NORMALIZED_STD` (the scale
    #: of real I3D features, for which the paper's learning rates were set). ``"scale"``: the scalar
    #: only. ``"dataset"``: every channel standardised with the training set's mean and deviation.
    #: ``"none"``: the features as they are (the paper). See docs/training-health.md.
    normalize: str = "video"

    def validate(self) -> None:
        if self.normalize not in NORMALIZE:
            _fail("model.normalize", f"be one of {NORMALIZE}", self.normalize)
        _positive("model.feature_dim", self.feature_dim, integer=True)
        _positive("model.attention_hidden", self.attention_hidden, integer=True)
        _positive("model.n_classes", self.n_classes, integer=True)
        _positive("model.attention_scale", self.attention_scale)
        if self.fusion not in FUSIONS:
            _fail("model.fusion", f"be one of {FUSIONS}", self.fusion)
        for name in ("attention_dropout", "fusion_dropout", "classifier_dropout"):
            _probability(f"model.{name}", getattr(self, name))


@dataclass
class DataConfig:
    """How features relate to frames (docs/method.md §1, §8)."""

    #: Frames per second of the videos (CAS(ME)^2 and CAS(ME)^3: 30, SAMM-LV: 200; mcwes.data.facts).
    fps: float = _DATA["casme2"].fps
    #: g, frames per feature snippet: snippet i covers frames [i·g, (i+1)·g − 1] (casme2: 8).
    snippet_frames: int = _DATA["casme2"].snippet_frames
    #: Snippets every training video is resampled to (CO2-Net random_perturb).
    train_snippets: int = 250

    def validate(self) -> None:
        _positive("data.fps", self.fps)
        _positive("data.snippet_frames", self.snippet_frames, integer=True)
        _positive("data.train_snippets", self.train_snippets, integer=True)


@dataclass
class TrainConfig:
    """Losses and optimisation (docs/method.md §3)."""

    #: (h_MaE, h_ME, h_bg): k_c = max(1, floor(T / h_c)) in the top-K pooling (eq. 7).
    h: tuple[float, ...] = (7.0, 9.0, 5.0)
    #: λ1..λ4 of eq. 22, weighting L_dc3, L_fc, L_sl, L_gl.
    lambdas: tuple[float, ...] = (0.5, 0.5, 0.8, 0.8)  # four (validate() checks)
    #: Loss terms switched on (a subset of LOSS_NAMES; the paper's Table 5 ablates them).
    losses: tuple[str, ...] = LOSS_NAMES
    #: Adam learning rate.
    lr: float = 5e-4
    #: Adam weight decay.
    weight_decay: float = 1e-3
    #: Training iterations (one batch each).
    iterations: int = 1000
    #: Videos per batch.
    batch_size: int = 10
    #: Label-sharing pairs per batch (the rest of the batch is drawn at random).
    n_pairs: int = 3
    #: η, window of the duration mask's moving average (eq. 9), in snippets.
    eta: int = 2
    #: ω_l, lower bound factor of the duration mask (eq. 10).
    omega_l: float = 1.2
    #: ω_u, upper bound factor of the duration mask (eq. 10).
    omega_u: float = 1.4
    #: τ of L_fc's softmax over the top-k axis, ``softmax_k(cos-sim · w / τ)`` (eq. 11). With τ = 1
    #: the similarities lie in [−1, 1], the softmax over k ≈ T/7 snippets is nearly uniform, its max
    #: ≈ 1/k, and L_fc stays at ≈ 0.96 whatever the model does; see docs/training-health.md.
    fc_temperature: float = 1.0
    #: Seed of every random choice in training (sampling, resampling, initialisation, dropout).
    seed: int = 0

    def validate(self, n_classes: int = 2) -> None:
        h = tuple(self.h)
        if len(h) != n_classes + 1:
            _fail("train.h", f"have {n_classes + 1} ratios (one per T-CAM channel)", self.h)
        for v in h:
            _positive("train.h", v)
        if len(tuple(self.lambdas)) != 4:
            _fail("train.lambdas", "have 4 weights (λ1..λ4)", self.lambdas)
        for v in self.lambdas:
            _non_negative("train.lambdas", v)
        unknown = [name for name in self.losses if name not in LOSS_NAMES]
        if unknown:
            _fail("train.losses", f"name only {LOSS_NAMES}", tuple(self.losses))
        _positive("train.lr", self.lr)
        _non_negative("train.weight_decay", self.weight_decay)
        _positive("train.iterations", self.iterations, integer=True)
        _positive("train.batch_size", self.batch_size, integer=True)
        if not isinstance(self.n_pairs, int) or self.n_pairs < 0 or 2 * self.n_pairs > self.batch_size:
            _fail("train.n_pairs", f"be an integer in [0, batch_size/2 = {self.batch_size // 2}]", self.n_pairs)
        if not isinstance(self.eta, int) or isinstance(self.eta, bool) or self.eta < 1:
            _fail("train.eta", "be an integer >= 1", self.eta)
        _non_negative("train.omega_l", self.omega_l)
        _positive("train.omega_u", self.omega_u)
        if not self.omega_l < self.omega_u:
            _fail("train.omega_l", f"be smaller than train.omega_u = {self.omega_u}", self.omega_l)
        _positive("train.fc_temperature", self.fc_temperature)
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            _fail("train.seed", "be an integer", self.seed)
        if not 0 <= self.seed <= 2**63 - 1:
            _fail("train.seed", "lie in [0, 2**63 - 1]", self.seed)


@dataclass
class SpotConfig:
    """Inference post-processing (docs/method.md §4)."""

    #: m0: the multi-top ratios are m0, m0+1, …, m0+n_m−1.
    m0: int = 8
    #: How many consecutive ratios (the paper: 15).
    n_m: int = 15
    #: ψ, outer margin as a fraction of the proposal's length (eq. 24).
    psi: float = 0.25
    #: ς, weight of the video-level class probability in the score (eq. 25).
    varsigma: float = 0.15
    #: IoU above which NMS suppresses a proposal.
    nms_threshold: float = 0.01
    #: Proposals scoring below this are dropped (truncation).
    score_threshold: float = 0.1
    #: "multi_top" (the paper) or "multi_threshold" (thresholds on the attention; Table 6).
    postprocess: str = "multi_top"
    #: Attention thresholds of the "multi_threshold" post-processing.
    thresholds: tuple[float, ...] = tuple(round(0.1 * i, 1) for i in range(1, 10))

    def m_values(self) -> list[int]:
        return list(range(self.m0, self.m0 + self.n_m))

    def validate(self) -> None:
        _positive("spot.m0", self.m0, integer=True)
        _positive("spot.n_m", self.n_m, integer=True)
        _non_negative("spot.psi", self.psi)
        _non_negative("spot.varsigma", self.varsigma)
        _non_negative("spot.nms_threshold", self.nms_threshold)
        if self.nms_threshold > 1:  # an IoU threshold; nms_1d/spot_postprocess refuse more than 1
            _fail("spot.nms_threshold", "lie in [0, 1]", self.nms_threshold)
        if not isinstance(self.score_threshold, (int, float)) or not math.isfinite(self.score_threshold):
            _fail("spot.score_threshold", "be a finite number", self.score_threshold)
        if self.score_threshold < 0:
            _fail("spot.score_threshold", "be >= 0", self.score_threshold)
        if self.postprocess not in POSTPROCESS:
            _fail("spot.postprocess", f"be one of {POSTPROCESS}", self.postprocess)
        if not self.thresholds:
            _fail("spot.thresholds", "be a non-empty sequence", self.thresholds)
        for v in self.thresholds:
            if not isinstance(v, (int, float)) or not 0 <= v <= 1:
                _fail("spot.thresholds", "hold values in [0, 1]", self.thresholds)


_GROUPS = {"model": ModelConfig, "data": DataConfig, "train": TrainConfig, "spot": SpotConfig}


@dataclass
class Config:
    """Everything that defines an MC-WES run. Validated when built; see the group classes' fields."""

    #: Name of the preset this config started from ("casme2", "samm_lv", "casme3" or "custom"). Not
    #: called ``preset``: that name is the classmethod ``Config.preset(name, ...)``. YAML and dicts
    #: written before the rename carry the key ``preset``; ``from_dict`` accepts either.
    preset_name: str = "casme2"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    spot: SpotConfig = field(default_factory=SpotConfig)

    def __post_init__(self) -> None:
        for name, cls in _GROUPS.items():
            value = getattr(self, name)
            if isinstance(value, dict):
                setattr(self, name, _group_from_dict(cls, name, value))
            elif not isinstance(value, cls):
                _fail(name, f"be a {cls.__name__} or a dict", type(value).__name__)
        self.train.h = tuple(float(v) for v in self.train.h)
        self.train.lambdas = tuple(float(v) for v in self.train.lambdas)
        self.train.losses = tuple(self.train.losses)
        self.spot.thresholds = tuple(float(v) for v in self.spot.thresholds)
        self.validate()

    def validate(self) -> None:
        self.model.validate()
        self.data.validate()
        self.train.validate(self.model.n_classes)
        self.spot.validate()

    @classmethod
    def preset_names(cls) -> tuple[str, ...]:
        return tuple(PRESETS)

    @classmethod
    def preset(cls, name: str, **overrides: dict[str, Any]) -> "Config":
        """The paper's settings for a dataset, with optional per-group overrides (dicts of fields)."""
        if name not in PRESETS:
            raise ValueError(f"mcwes.Config: expected preset to be one of {tuple(PRESETS)}, got {name!r}")
        data = {group: dict(values) for group, values in PRESETS[name].items()}
        for group, values in overrides.items():
            if group not in _GROUPS:
                raise ValueError(f"mcwes.Config: expected override groups among {tuple(_GROUPS)}, got {group!r}")
            data.setdefault(group, {}).update(values)
        return cls.from_dict({"preset_name": name, **data})

    def replace(self, **overrides: dict[str, Any]) -> "Config":
        """A copy with some fields of some groups changed: ``cfg.replace(train={"iterations": 10})``."""
        data = self.to_dict()
        for group, values in overrides.items():
            if group not in _GROUPS:
                raise ValueError(f"mcwes.Config: expected override groups among {tuple(_GROUPS)}, got {group!r}")
            data[group].update(values)
        return Config.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        for group in _GROUPS:
            for key, value in data[group].items():
                if isinstance(value, tuple):
                    data[group][key] = list(value)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Config":
        if not isinstance(data, dict):
            raise ValueError(f"mcwes.Config: expected a mapping of groups, got {type(data).__name__}")
        unknown = set(data) - set(_GROUPS) - {"preset_name", "preset"}
        if unknown:
            raise ValueError(f"mcwes.Config: unknown top-level keys {sorted(unknown)}; "
                             f"expected preset_name, {', '.join(_GROUPS)}")
        if "preset_name" in data and "preset" in data and data["preset_name"] != data["preset"]:
            raise ValueError(f"mcwes.Config: got both preset_name={data['preset_name']!r} and the older key "
                             f"preset={data['preset']!r}; keep one")
        preset_name = data.get("preset_name", data.get("preset", "custom"))  # "preset": the key before the rename
        groups = {name: _group_from_dict(c, name, data.get(name, {})) for name, c in _GROUPS.items()}
        return cls(preset_name=str(preset_name), **groups)

    def to_yaml(self, path: str | Path | None = None) -> str:
        import yaml

        text = yaml.safe_dump(self.to_dict(), sort_keys=False)
        if path is not None:
            Path(path).write_text(text)
        return text

    @classmethod
    def from_yaml(cls, source: str | Path) -> "Config":
        """Load from a YAML file path (or YAML text containing a newline)."""
        import yaml

        text = source if isinstance(source, str) and "\n" in source else Path(source).read_text()
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ValueError(f"mcwes.Config: {source} is not valid YAML: {exc}") from exc
        return cls.from_dict(data or {})


def _group_from_dict(cls: type, name: str, values: Any) -> Any:
    if not isinstance(values, dict):
        raise ValueError(f"mcwes.Config: expected {name} to be a mapping, got {type(values).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"mcwes.Config: unknown fields {sorted(unknown)} in {name}; known: {sorted(known)}")
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    return cls(**kwargs)


#: docs/method.md §8, group by group; fields not listed keep their defaults. fps and snippet size are the
#: datasets' facts (mcwes.data.facts).

PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "casme2": {
        "data": {"fps": _DATA["casme2"].fps, "snippet_frames": _DATA["casme2"].snippet_frames, "train_snippets": 250},
        "train": {"h": (7, 9, 5), "lambdas": (0.5, 0.5, 0.8, 0.8), "lr": 5e-4, "weight_decay": 1e-3,
                  "iterations": 1000, "batch_size": 10, "omega_l": 1.2, "omega_u": 1.4, "eta": 2},
        "spot": {"varsigma": 0.15, "psi": 0.25, "m0": 8, "nms_threshold": 0.01, "score_threshold": 0.1},
    },
    "samm_lv": {
        "data": {"fps": _DATA["samm_lv"].fps, "snippet_frames": _DATA["samm_lv"].snippet_frames, "train_snippets": 380},
        "train": {"h": (7, 9, 5), "lambdas": (0.5, 0.5, 0.7, 0.7), "lr": 8e-4, "weight_decay": 1e-3,
                  "iterations": 1000, "batch_size": 10, "omega_l": 1.5, "omega_u": 1.8, "eta": 2},
        "spot": {"varsigma": 0.5, "psi": 0.25, "m0": 2, "nms_threshold": 0.01, "score_threshold": 0.1},
    },
    "casme3": {
        "data": {"fps": _DATA["casme3"].fps, "snippet_frames": _DATA["casme3"].snippet_frames, "train_snippets": 300},
        "train": {"h": (7, 9, 5), "lambdas": (0.5, 0.5, 0.8, 0.8), "lr": 5e-4, "weight_decay": 1e-3,
                  "iterations": 1000, "batch_size": 10, "omega_l": 1.2, "omega_u": 1.4, "eta": 2},
        "spot": {"varsigma": 0.15, "psi": 0.25, "m0": 8, "nms_threshold": 0.01, "score_threshold": 0.1},
    },
}
