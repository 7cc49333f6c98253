"""Synthetic spotting benchmarks shaped like CAS(ME)^2, SAMM-LV and CAS(ME)^3 (docs/method.md §7).

A :class:`SyntheticSet` is a plan (subjects, videos, frame counts, planted expressions, distractor
events) plus a deterministic renderer of each video's snippet features ``[T, 2D]``
(``T = ceil(n_frames / g)``). Everything follows from one seed (numpy ``Generator``s seeded by
``(seed, stream, video index)``), so a video renders the same alone or in any order.

Feature model, per snippet ``t`` of a video of subject ``s`` (before the final scale the channel
noise has unit variance, so a direction with amplitude ``a`` has norm ``a·sqrt(2D)``; RGB = channels
``[0, D)``, flow = ``[D, 2D)``):

    x_t = c · (mu + b_s + drift_t + noise_t + sum over events  a_e · env_e(t) · dir_e)

- ``c`` = ``SynthParams.feature_scale`` (default 0.2): brings the values to the scale of real I3D
  features (per-channel standard deviation ~0.23, snippet L2 norm ~15 at D = 1024, ~2.5 at D = 32), the scale
  the paper's learning rates were set for. It changes no ratio: energies, z-scores and every
  signal-to-noise figure above are unchanged;
- ``mu``: a global mean; ``b_s``: the subject's own offset (so held-out subjects look different);
- ``drift_t``: smooth low-rank background drift; ``noise_t``: i.i.d. N(0, 1) per channel;
- events: MaE (directions in both streams), ME (mostly flow), and distractors that are not
  expressions: blink-like short flow spikes and slow head motion. Each class has its own few
  directions, perturbed per subject ("style") and per event; ``env_e`` is an onset–apex–offset
  envelope averaged over each snippet's frames and scaled to peak 1, so an event's peak snippet
  energy is ``a²·2D`` whatever its length: blinks and head motion have the energy of expressions,
  which is what fools the energy-threshold baseline (:mod:`mcwes.spotting.energy`) but not a model
  that learns the expression directions from video-level labels.

Counts per subject (videos / ME / MaE) come from the real datasets' published tables;
CAS(ME)^3 has only totals, so its table is drawn once from them with a fixed seed. Expressions are
placed without overlap, at least two snippets apart; distractors keep a snippet away from them.
A video whose expressions do not fit in the drawn length is lengthened to fit.

``write(set, out, layout)`` writes the real on-disk formats (features per video as ``.npy`` or
``-rgb/-flow.npz`` pairs; the preset's annotation spreadsheet), plus ``videos.csv``, ``events.csv``
(every planted event, distractors included) and ``dataset.json`` for :func:`mcwes.data.load_dataset`.
"""
from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import pandas as pd

from .annotations import COLUMNS
from .facts import CASME2_MAIN_SHEETS, CASME2_NAMING_SHEETS, CASME3_SHEET, SAMM_SHEET
from .facts import DATASETS as _F

__all__ = [
    "PRESETS",
    "SynthParams",
    "SynthPreset",
    "SyntheticSet",
    "generate",
    "synthesize",
    "write",
]


log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------------
# presets

_CASME2_TABLE = """s15 8 2 15, s16 7 8 46, s19 5 1 4, s20 1 0 3, s21 2 0 2, s22 5 0 16, s23 5 3 8,
s24 5 8 24, s25 4 4 5, s26 4 0 6, s27 9 11 32, s29 1 1 0, s30 7 2 17, s31 7 6 26, s32 9 6 48,
s33 2 0 4, s34 3 0 3, s35 1 2 0, s36 2 0 4, s37 6 2 21, s38 2 1 11, s40 3 0 5"""
_SAMM_TABLE = """006 7 11 23, 007 5 10 5, 008 4 0 5, 009 5 4 6, 010 7 4 19, 011 7 20 49, 012 5 3 9,
013 5 6 14, 014 7 11 20, 015 5 3 15, 016 6 5 11, 017 6 6 6, 018 7 4 22, 019 6 3 14, 020 7 9 23,
021 2 2 2, 022 5 5 7, 023 2 1 1, 024 3 1 7, 025 4 4 6, 026 6 13 8, 028 1 3 2, 030 3 3 5, 031 1 1 0,
032 5 6 10, 033 7 5 11, 034 3 3 4, 035 7 9 13, 036 4 1 17, 037 5 3 9"""
CASME2_CODES = {"0101": "disgust1", "0102": "disgust2", "0401": "anger1", "0402": "anger2",
                "0502": "happy1", "0503": "happy2", "0505": "happy3", "0507": "happy4", "0508": "happy5"}
CASME2_EMPTY = {"s15": "0508", "s19": "0502", "s23": "0503"}  # the 3 videos without annotations


def _parse_table(text: str) -> tuple[tuple[str, int, int, int], ...]:
    rows = []
    for item in text.replace("\n", " ").split(","):
        s, v, me, mae = item.split()
        rows.append((s, int(v), int(me), int(mae)))
    return tuple(rows)


def _casme3_table() -> tuple[tuple[str, int, int, int], ...]:
    """98 subjects, 956 videos, 860 ME, 3346 MaE (the published totals), split once with seed 3."""
    rng = np.random.default_rng(3)
    videos = np.array([10] * 74 + [9] * 24)
    rng.shuffle(videos)
    weight = videos * rng.gamma(4.0, 1.0, size=98)
    me = rng.multinomial(860, weight / weight.sum())
    mae = rng.multinomial(3346, weight / weight.sum())
    return tuple((f"spNO.{i + 1}", int(v), int(a), int(b)) for i, (v, a, b) in enumerate(zip(videos, me, mae)))


@dataclass(frozen=True)
class SynthPreset:
    """What a synthetic set copies from a real dataset.

    ``subjects``: ``(subject, videos, ME, MaE)`` rows; ``frames_range``: video length drawn uniformly;
    ``me_frames``: ME length range (upper end ≤ 0.5 s); ``mae_median``/``mae_max``: MaE lengths
    (log-normal around the median, longer than 0.5 s)."""

    name: str
    fps: float
    snippet_frames: int
    subjects: tuple[tuple[str, int, int, int], ...]
    frames_range: tuple[int, int]
    me_frames: tuple[int, int]
    mae_median: float
    mae_max: int
    annotation_file: str
    empty_videos: dict[str, str] = field(default_factory=dict)


PRESETS: dict[str, SynthPreset] = {
    "casme2": SynthPreset("casme2", _F["casme2"].fps, _F["casme2"].snippet_frames, _parse_table(_CASME2_TABLE),
                          (659, 4374), (9, 15), 35.5, 118, _F["casme2"].annotation_file, dict(CASME2_EMPTY)),
    "samm_lv": SynthPreset("samm_lv", _F["samm_lv"].fps, _F["samm_lv"].snippet_frames, _parse_table(_SAMM_TABLE),
                           (500, 11770), (30, 100), 223.0, 1200, _F["samm_lv"].annotation_file),
    "casme3": SynthPreset("casme3", _F["casme3"].fps, _F["casme3"].snippet_frames, _casme3_table(), (2000, 3600),
                          (9, 15), 35.5, 118, _F["casme3"].annotation_file),
}


@dataclass(frozen=True)
class SynthParams:
    """Signal design (amplitudes ``a`` in units of the per-snippet noise norm, see module doc)."""

    mae_amplitude: tuple[float, float] = (0.7, 1.5)
    me_amplitude: tuple[float, float] = (0.6, 1.3)
    blink_amplitude: tuple[float, float] = (0.7, 1.5)
    head_amplitude: tuple[float, float] = (0.7, 1.5)
    blinks_per_minute: float = 12.0
    head_moves_per_minute: float = 3.0
    blink_seconds: tuple[float, float] = (0.1, 0.4)
    head_seconds: tuple[float, float] = (1.0, 4.0)
    drift_amplitude: float = 0.5
    drift_seconds: float = 8.0
    drift_rank: int = 6
    subject_offset: float = 1.0
    subject_style: float = 0.3
    event_jitter: float = 0.15
    directions_per_class: int = 3
    #: How much of each ME direction is the matching MaE direction (a fraction of its energy, 0–1):
    #: micro- and macro-expressions are movements of the same facial muscles (the same action units),
    #: an ME being brief and subtle, so seen mostly in flow. MC-WES relies on this: its attention is
    #: class-agnostic and the class of a proposal comes from its duration. With independent directions
    #: (0) the attention trained on the few MEs stays at background on held-out ones (AUC 0.34 on the
    #: demo); at 0.85 it rises (0.75–0.86). See docs/decisions.md.
    me_shared_with_mae: float = 0.85
    #: Extra expression-free videos per subject (named ``<subject>_n1``, ``_n2``, …), beyond the real
    #: table. 0 keeps the real dataset's counts. Multiple-instance learning needs negative videos: in
    #: CAS(ME)^2 ~85% of videos hold a MaE, so a small subset has only 2–4 MaE-free training videos
    #: and the MaE class cannot be localised from video-level labels (many solutions fit them); one
    #: neutral recording per subject makes it identifiable for a linear MIL probe.
    neutral_videos: int = 0
    #: Overall multiplier ``c`` of the rendered features (see the module doc). At 1.0 the values are
    #: ~6× larger than I3D features, and MC-WES trained with the presets' Adam step sizes saturates its
    #: attention within a few steps (A → 0 everywhere, no localisation); at 0.2 it learns.
    feature_scale: float = 0.2

    def __post_init__(self) -> None:
        for name in ("mae_amplitude", "me_amplitude", "blink_amplitude", "head_amplitude",
                     "blink_seconds", "head_seconds"):
            lo, hi = getattr(self, name)
            if not 0 <= lo <= hi:
                raise ValueError(f"mcwes.data.synthetic: expected {name} to be a range 0 <= lo <= hi, got {(lo, hi)}")
        if not (isinstance(self.me_shared_with_mae, (int, float)) and 0 <= self.me_shared_with_mae <= 1):
            raise ValueError(f"mcwes.data.synthetic: expected me_shared_with_mae in [0, 1], got {self.me_shared_with_mae!r}")
        if self.directions_per_class < 1 or self.drift_rank < 1:
            raise ValueError("mcwes.data.synthetic: expected directions_per_class >= 1 and drift_rank >= 1")
        if not (isinstance(self.feature_scale, (int, float)) and math.isfinite(self.feature_scale)
                and self.feature_scale > 0):
            raise ValueError("mcwes.data.synthetic: expected feature_scale to be a finite number > 0, "
                             f"got {self.feature_scale!r}")
        if not isinstance(self.neutral_videos, (int, np.integer)) or self.neutral_videos < 0:
            raise ValueError(f"mcwes.data.synthetic: expected neutral_videos to be an int >= 0, got {self.neutral_videos!r}")


# stream weights (rgb, flow) of each event kind's directions
_STREAMS = {"MaE": (1.0, 1.0), "ME": (0.3, 1.0), "blink": (0.4, 1.0), "head": (1.0, 0.8)}
_EVENT_KINDS = ("MaE", "ME", "blink", "head")


# --------------------------------------------------------------------------------------------------
# the plan


@dataclass(frozen=True)
class Event:
    """One planted event, frames 0-based inclusive."""

    kind: str
    onset: int
    apex: int
    offset: int
    amplitude: float


@dataclass(frozen=True)
class VideoPlan:
    index: int
    video: str
    subject: str
    n_frames: int
    events: tuple[Event, ...]


@dataclass
class SyntheticSet:
    """A generated dataset: plan + renderer. ``features(video)`` → float32 ``[T, 2D]``."""

    preset: SynthPreset
    seed: int
    feature_dim: int
    params: SynthParams
    plans: list[VideoPlan]

    def __post_init__(self) -> None:
        self._by_name = {p.video: p for p in self.plans}
        self._global = _GlobalBasis(self.seed, self.feature_dim, self.params)
        self._subject_cache: dict[str, _SubjectBasis] = {}

    @property
    def fps(self) -> float:
        return self.preset.fps

    @property
    def snippet_frames(self) -> int:
        return self.preset.snippet_frames

    @property
    def videos(self) -> pd.DataFrame:
        """``video, subject, n_frames``, one row per video (expression-free ones included)."""
        return pd.DataFrame([(p.video, p.subject, p.n_frames) for p in self.plans],
                            columns=["video", "subject", "n_frames"]).astype({"n_frames": "int64"})

    @property
    def annotations(self) -> pd.DataFrame:
        """The GT table (``video, subject, onset, offset, type``; 0-based), sorted like the readers'."""
        rows = [(p.video, p.subject, e.onset, e.offset, e.kind) for p in self.plans for e in p.events
                if e.kind in ("MaE", "ME")]
        t = pd.DataFrame(rows, columns=list(COLUMNS)).astype({"onset": "int64", "offset": "int64"})
        return t.sort_values(["video", "onset", "offset", "type"], kind="stable").reset_index(drop=True)

    @property
    def events(self) -> pd.DataFrame:
        """Every planted event, distractors included: ``video, subject, kind, onset, apex, offset, amplitude``."""
        rows = [(p.video, p.subject, e.kind, e.onset, e.apex, e.offset, e.amplitude) for p in self.plans for e in p.events]
        return pd.DataFrame(rows, columns=["video", "subject", "kind", "onset", "apex", "offset", "amplitude"])

    def features(self, video: str) -> np.ndarray:
        """float32 ``[ceil(n_frames / g), 2D]`` of one video (deterministic)."""
        plan = self._by_name[video]
        if plan.subject not in self._subject_cache:
            self._subject_cache[plan.subject] = _SubjectBasis(self._global, plan.subject, self.seed, self.params)
        return _render(plan, self._global, self._subject_cache[plan.subject], self.preset, self.params, self.seed)

    def iter_features(self) -> Iterator[tuple[str, np.ndarray]]:
        for p in self.plans:
            yield p.video, self.features(p.video)

    def __len__(self) -> int:
        return len(self.plans)


def generate(preset: str = "casme2", *, seed: int = 0, feature_dim: int = 1024,
             subjects: int | Sequence[str] | None = None, frames_range: tuple[int, int] | None = None,
             params: SynthParams | None = None) -> SyntheticSet:
    """Plan a synthetic dataset shaped like ``preset`` (features are rendered on demand).

    Args:
        preset: ``"casme2"``, ``"samm_lv"`` or ``"casme3"``.
        seed: everything follows from it.
        feature_dim: D per stream (features are ``2D`` wide); 1024 like I3D, e.g. 64 for quick runs.
        subjects: an int N (the first N subjects of the preset's table) or a list of subject ids;
            None = all. Each subject keeps its real counts of videos, ME and MaE.
        frames_range: ``(min, max)`` frames per video (drawn uniformly); default the preset's
            (e.g. ``(600, 1500)`` for a quick set). Videos too short for their expressions are lengthened.
        params: signal design; default :class:`SynthParams()`.
    """
    if preset not in PRESETS:
        raise ValueError(f"mcwes.data.synthetic: expected preset to be one of {sorted(PRESETS)}, got {preset!r}")
    if not isinstance(feature_dim, (int, np.integer)) or feature_dim < 1:
        raise ValueError(f"mcwes.data.synthetic: expected feature_dim to be a positive int, got {feature_dim!r}")
    p = PRESETS[preset]
    rows = _select_subjects(p, subjects)
    if frames_range is not None:
        lo, hi = int(frames_range[0]), int(frames_range[1])
        if not 1 <= lo <= hi:
            raise ValueError(f"mcwes.data.synthetic: expected frames_range 1 <= min <= max, got {frames_range}")
        p = replace(p, frames_range=(lo, hi))
    params = params or SynthParams()
    plans: list[VideoPlan] = []
    for subject, n_videos, n_me, n_mae in rows:
        plans.extend(_plan_subject(p, params, seed, subject, n_videos, n_me, n_mae, start=len(plans)))
    for subject, *_ in rows:  # after every real video, so those plan and render exactly as without them
        for j in range(params.neutral_videos):
            index = len(plans)
            plans.append(_plan_video(p, params, np.random.default_rng([seed, 2, index]), index,
                                     f"{subject}_n{j + 1}", subject, []))
    return SyntheticSet(p, int(seed), int(feature_dim), params, plans)


def _select_subjects(p: SynthPreset, subjects: int | Sequence[str] | None) -> list[tuple[str, int, int, int]]:
    if subjects is None:
        return list(p.subjects)
    if isinstance(subjects, (int, np.integer)):
        if not 1 <= subjects <= len(p.subjects):
            raise ValueError(f"mcwes.data.synthetic: expected subjects in [1, {len(p.subjects)}] for "
                             f"{p.name}, got {subjects}")
        return list(p.subjects[: int(subjects)])
    table = {row[0]: row for row in p.subjects}
    unknown = [s for s in subjects if s not in table]
    if unknown:
        raise ValueError(f"mcwes.data.synthetic: unknown {p.name} subjects {unknown} (known: {sorted(table)})")
    return [table[s] for s in subjects]


def _video_names(p: SynthPreset, rng: np.random.Generator, subject: str, n: int) -> list[str]:
    if p.name == "casme2":
        codes = list(CASME2_CODES)
        empty = p.empty_videos.get(subject)
        others = [c for c in codes if c != empty]
        rng.shuffle(others)
        chosen = sorted(([empty] if empty else []) + others[: n - (1 if empty else 0)])
        return [f"{subject}_{c}" for c in chosen]
    if p.name == "samm_lv":
        return [f"{subject}_{i + 1}" for i in range(n)]
    return [f"{subject}_{chr(ord('a') + i)}" for i in range(n)]


def _plan_subject(p: SynthPreset, params: SynthParams, seed: int, subject: str, n_videos: int, n_me: int,
                  n_mae: int, start: int) -> list[VideoPlan]:
    rng = np.random.default_rng([seed, 1, sum(map(ord, subject)), start])
    names = _video_names(p, rng, subject, n_videos)
    empty = {f"{subject}_{p.empty_videos[subject]}"} if subject in p.empty_videos else set()
    targets = [i for i, v in enumerate(names) if v not in empty]
    kinds = ["ME"] * n_me + ["MaE"] * n_mae
    rng.shuffle(kinds)
    per_video: list[list[str]] = [[] for _ in names]
    for j, kind in enumerate(kinds):  # one each first, then at random
        i = targets[j] if j < len(targets) else targets[int(rng.integers(len(targets)))]
        per_video[i].append(kind)
    plans = []
    for i, (video, vk) in enumerate(zip(names, per_video)):
        plans.append(_plan_video(p, params, np.random.default_rng([seed, 2, start + i]), start + i, video, subject, vk))
    return plans


def _expression_frames(p: SynthPreset, rng: np.random.Generator, kind: str) -> int:
    if kind == "ME":
        return int(rng.integers(p.me_frames[0], p.me_frames[1] + 1))
    lo = int(math.floor(0.5 * p.fps)) + 1
    return int(np.clip(round(p.mae_median * math.exp(0.5 * rng.standard_normal())), lo, p.mae_max))


def _plan_video(p: SynthPreset, params: SynthParams, rng: np.random.Generator, index: int, video: str,
                subject: str, kinds: list[str]) -> VideoPlan:
    g = p.snippet_frames
    durations = [_expression_frames(p, rng, k) for k in kinds]
    gap = 2 * g
    n_frames = int(rng.integers(p.frames_range[0], p.frames_range[1] + 1))
    needed = sum(durations) + (len(kinds) + 1) * gap
    if needed > n_frames:
        n_frames = needed + g
    free = n_frames - needed
    shares = np.floor(rng.dirichlet(np.ones(len(kinds) + 1)) * free).astype(int)
    events, pos = [], 0
    for k, d, extra in zip(kinds, durations, shares):
        onset = pos + gap + int(extra)
        amp = rng.uniform(*(params.me_amplitude if k == "ME" else params.mae_amplitude))
        apex = onset + int(round(rng.uniform(0.25, 0.6) * (d - 1)))
        events.append(Event(k, onset, apex, onset + d - 1, float(amp)))
        pos = onset + d
    events += _plan_distractors(p, params, rng, n_frames, events)
    events.sort(key=lambda e: (e.onset, e.offset))
    return VideoPlan(index, video, subject, n_frames, tuple(events))


def _plan_distractors(p: SynthPreset, params: SynthParams, rng: np.random.Generator, n_frames: int,
                      expressions: list[Event]) -> list[Event]:
    g = p.snippet_frames
    taken = [(e.onset - g, e.offset + g) for e in expressions]
    out = []
    minutes = n_frames / p.fps / 60.0
    for kind, rate, secs, amp in (("blink", params.blinks_per_minute, params.blink_seconds, params.blink_amplitude),
                                  ("head", params.head_moves_per_minute, params.head_seconds, params.head_amplitude)):
        for _ in range(int(rng.poisson(rate * minutes))):
            d = max(1, int(round(rng.uniform(*secs) * p.fps)))
            if d >= n_frames:
                continue
            for _try in range(30):
                on = int(rng.integers(0, n_frames - d + 1))
                if all(on + d - 1 < a or on > b for a, b in taken):
                    apex = on + int(round(rng.uniform(0.3, 0.6) * (d - 1)))
                    out.append(Event(kind, on, apex, on + d - 1, float(rng.uniform(*amp))))
                    taken.append((on - g, on + d - 1 + g))
                    break
    return out


# --------------------------------------------------------------------------------------------------
# rendering


def _unit_rows(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    v = rng.standard_normal((n, dim))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _stream_directions(rng: np.random.Generator, n: int, d: int, weights: tuple[float, float]) -> np.ndarray:
    """``n`` unit vectors in R^{2D} whose RGB/flow halves have norms in the ratio ``weights``."""
    wr, wf = weights
    v = np.concatenate([wr * _unit_rows(rng, n, d), wf * _unit_rows(rng, n, d)], axis=1)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


class _GlobalBasis:
    """Directions shared by every subject: class and distractor directions, drift basis, mean."""

    def __init__(self, seed: int, d: int, params: SynthParams):
        rng = np.random.default_rng([seed, 0])
        self.d = d
        self.mean = rng.uniform(0.0, 1.0, 2 * d)
        self.directions = {k: _stream_directions(rng, params.directions_per_class, d, _STREAMS[k]) for k in _EVENT_KINDS}
        self.drift = _unit_rows(rng, params.drift_rank, 2 * d)
        share = float(params.me_shared_with_mae)
        if share > 0:  # the MaE directions seen with the ME stream weights, mixed into the ME's own
            mae = self.directions["MaE"]
            wr, wf = _STREAMS["ME"]
            seen = np.concatenate([wr * _unit(mae[:, :d]), wf * _unit(mae[:, d:])], axis=1)
            v = math.sqrt(share) * _unit(seen) + math.sqrt(1 - share) * self.directions["ME"]
            self.directions["ME"] = _unit(v)


class _SubjectBasis:
    """A subject's offset vector and its own version ("style") of the expression directions."""

    def __init__(self, g: _GlobalBasis, subject: str, seed: int, params: SynthParams):
        rng = np.random.default_rng([seed, 3, *subject.encode()])
        scale = math.sqrt(2 * g.d)
        self.offset = params.subject_offset * scale * _unit_rows(rng, 1, 2 * g.d)[0]
        self.directions = dict(g.directions)
        for k in ("MaE", "ME"):
            base = g.directions[k]
            jitter = _stream_directions(rng, len(base), g.d, _STREAMS[k])
            v = base + params.subject_style * jitter
            self.directions[k] = v / np.linalg.norm(v, axis=1, keepdims=True)


def _snippet_envelope(e: Event, n_frames: int, g: int) -> tuple[int, np.ndarray]:
    """Onset–apex–offset envelope averaged per snippet and scaled to peak 1: (first snippet, values)."""
    f = np.arange(e.onset, e.offset + 1, dtype=np.float64)
    rise = np.sin(0.5 * np.pi * (f - e.onset + 1) / (e.apex - e.onset + 1))
    fall = np.cos(0.5 * np.pi * (f - e.apex) / (e.offset - e.apex + 1))
    env = np.where(f <= e.apex, rise, fall)
    s0, s1 = e.onset // g, e.offset // g
    frames = np.zeros((s1 - s0 + 1) * g)
    frames[e.onset - s0 * g: e.offset - s0 * g + 1] = env
    counts = np.minimum(g, n_frames - (np.arange(s0, s1 + 1) * g)).clip(min=1)
    snip = frames.reshape(-1, g).sum(axis=1) / counts
    return s0, snip / snip.max()


def _smooth_noise(rng: np.random.Generator, t: int, rank: int, width: float) -> np.ndarray:
    """``[t, rank]`` Gaussian-smoothed noise with unit standard deviation per column."""
    pad = int(3 * width) + 1
    raw = rng.standard_normal((t + 2 * pad, rank))
    k = np.exp(-0.5 * (np.arange(-pad, pad + 1) / max(width, 1e-6)) ** 2)
    k /= np.sqrt((k ** 2).sum())
    return np.stack([np.convolve(raw[:, j], k, mode="valid") for j in range(rank)], axis=1)[: t]


def _render(plan: VideoPlan, g: _GlobalBasis, s: _SubjectBasis, p: SynthPreset, params: SynthParams,
            seed: int) -> np.ndarray:
    rng = np.random.default_rng([seed, 4, plan.index])
    snip = p.snippet_frames
    t = -(-plan.n_frames // snip)
    scale = math.sqrt(2 * g.d)
    x = rng.standard_normal((t, 2 * g.d))
    x += g.mean + s.offset
    width = params.drift_seconds * p.fps / snip
    drift = _smooth_noise(rng, t, params.drift_rank, width) @ g.drift
    x += params.drift_amplitude * scale * drift / math.sqrt(params.drift_rank)
    for e in plan.events:
        dirs = s.directions[e.kind]
        mix = rng.dirichlet(np.ones(len(dirs))) @ dirs
        jitter = _stream_directions(rng, 1, g.d, _STREAMS[e.kind])[0]
        v = mix / np.linalg.norm(mix) + params.event_jitter * jitter
        v /= np.linalg.norm(v)
        s0, env = _snippet_envelope(e, plan.n_frames, snip)
        x[s0: s0 + len(env)] += (e.amplitude * scale) * env[:, None] * v[None, :]
    return (params.feature_scale * x).astype(np.float32)


# --------------------------------------------------------------------------------------------------
# writing


def write(synth: SyntheticSet, out: str | Path, layout: str = "npy") -> Path:
    """Write ``synth`` under ``out`` in the real formats (see module doc); returns ``out``.

    ``layout``: ``"npy"`` (``features/<video>.npy``) or ``"npz"`` (``features/<video>-rgb.npz`` and
    ``-flow.npz``, key ``feature`` ``[T, D]``, with ``frame_cnt`` and ``video_name``)."""
    if layout not in ("npy", "npz"):
        raise ValueError(f"mcwes.data.synthetic.write: expected layout 'npy' or 'npz', got {layout!r}")
    out = Path(out)
    feat_dir = out / "features"
    feat_dir.mkdir(parents=True, exist_ok=True)
    d = synth.feature_dim
    for plan in synth.plans:
        x = synth.features(plan.video)
        if layout == "npy":
            np.save(feat_dir / f"{plan.video}.npy", x)
        else:
            for stream, part in (("rgb", x[:, :d]), ("flow", x[:, d:])):
                np.savez(feat_dir / f"{plan.video}-{stream}.npz", feature=np.ascontiguousarray(part),
                         frame_cnt=np.int64(plan.n_frames), video_name=np.str_(plan.video))
    _WRITERS[synth.preset.name](synth, out / synth.preset.annotation_file)
    synth.videos.to_csv(out / "videos.csv", index=False)
    synth.events.to_csv(out / "events.csv", index=False)
    meta = {"preset": synth.preset.name, "fps": synth.fps, "snippet_frames": synth.snippet_frames,
            "features": "features", "layout": layout, "feature_dim": d,
            "annotations": synth.preset.annotation_file, "annotation_format": synth.preset.name,
            "videos": "videos.csv", "events": "events.csv", "seed": synth.seed,
            "frames_range": list(synth.preset.frames_range), "params": asdict(synth.params),
            "synthetic": True}
    (out / "dataset.json").write_text(json.dumps(meta, indent=2))
    log.info("wrote %d synthetic %s videos to %s", len(synth), synth.preset.name, out)
    return out


def synthesize(preset: str, out: str | Path, *, layout: str = "npy", **kwargs) -> Path:
    """``write(generate(preset, **kwargs), out, layout)``."""
    return write(generate(preset, **kwargs), out, layout)


def _expression_rows(synth: SyntheticSet) -> Iterator[tuple[VideoPlan, int, Event]]:
    """(plan, k, event) for every expression; k = 1, 2, ... within its video."""
    for plan in synth.plans:
        exprs = [e for e in plan.events if e.kind in ("MaE", "ME")]
        yield from ((plan, k + 1, e) for k, e in enumerate(exprs))


def _au(rng: np.random.Generator) -> str:
    return "+".join(str(a) for a in sorted(rng.choice([1, 2, 4, 6, 7, 10, 12, 14, 15, 17, 24], 2, replace=False)))


def _write_casme2(synth: SyntheticSet, path: Path) -> None:
    import openpyxl

    rng = np.random.default_rng([synth.seed, 5])
    participants = {row[0]: i + 1 for i, row in enumerate(PRESETS["casme2"].subjects)}
    wb = openpyxl.Workbook()
    main = wb.active
    main.title = CASME2_MAIN_SHEETS[0]
    for plan, k, e in _expression_rows(synth):
        code = plan.video.split("_")[1]
        main.append([participants[plan.subject], f"{CASME2_CODES[code]}_{k}", e.onset + 1, e.apex + 1, e.offset + 1,
                     _au(rng), str(rng.choice(["negative", "positive", "surprise", "others"])),
                     "macro-expression" if e.kind == "MaE" else "micro-expression", "others"])
    rule1 = wb.create_sheet(CASME2_NAMING_SHEETS[0])
    for subject, i in participants.items():
        rule1.append([int(subject[1:]), subject, i])
    rule2 = wb.create_sheet(CASME2_NAMING_SHEETS[1])
    for code, name in CASME2_CODES.items():
        rule2.append([code, name])
        rule2.cell(rule2.max_row, 1).number_format = "@"  # text, as in the real file
    wb.save(path)


def _write_samm(synth: SyntheticSet, path: Path) -> None:
    import openpyxl

    rng = np.random.default_rng([synth.seed, 6])
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = SAMM_SHEET
    description = ["SAMM Long Videos (synthetic, written by mcwes.data.synthetic)",
                   "FACS coding of movements", "Frames are 1-based", "", "Micro: duration <= 0.5 s",
                   "Macro: duration > 0.5 s", "", "", ""]
    for line in description:
        ws.append([line] if line else [None])
    ws.append(["Subject", "Filename", "Inducement Code", "Onset", "Apex", "Offset", "Duration", "Type",
               "Action Units", "Notes"])
    for plan, k, e in _expression_rows(synth):
        ws.append([int(plan.subject), f"{plan.video}_{k}", int(rng.integers(1, 8)), e.onset + 1, e.apex + 1, e.offset + 1,
                   e.offset - e.onset + 1, "Macro" if e.kind == "MaE" else "Micro - 1/2", _au(rng), None])
    wb.save(path)


def _write_casme3(synth: SyntheticSet, path: Path) -> None:
    import openpyxl

    rng = np.random.default_rng([synth.seed, 7])
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = CASME3_SHEET
    ws.append(["Subject", "Filename", "Onset", "Apex", "Offset", "AU", "Expression type", "Objective class"])
    for plan, _, e in _expression_rows(synth):
        ws.append([plan.subject, plan.video.split("_")[-1], e.onset + 1, e.apex + 1, e.offset + 1, _au(rng),
                   "Macro-expression" if e.kind == "MaE" else "Micro-expression",
                   str(rng.choice(["happy", "disgust", "fear", "anger", "sad", "surprise", "others"]))])
    blinks = wb.create_sheet("eye blink")
    blinks.append(["Subject", "Filename", "Onset", "Offset"])
    for plan in synth.plans:
        for e in plan.events:
            if e.kind == "blink":
                blinks.append([plan.subject, plan.video.split("_")[-1], e.onset + 1, e.offset + 1])
    wb.save(path)


_WRITERS = {"casme2": _write_casme2, "samm_lv": _write_samm, "casme3": _write_casme3}
