"""Training health: is the model learning, and is the data learnable at all?

A weakly-supervised model can fit nothing and still produce proposals, so every training run gets a
report that separates three facts:

1. **Optimisation**: did the loss move at all (the total; per term for the record)?
2. **Localisation**: is the class-agnostic attention ``A`` high on expression snippets and low on
   background? Measured as the attention AUC (expression snippets vs background snippets) per class,
   on training and held-out videos, whenever frame-level ground truth is known (synthetic data, an
   annotated set). Without ground truth, the attention's shape is still checked: collapse towards 0
   or 1, saturation, and flatness within a video.
3. **Learnability**: a small multiple-instance probe (:mod:`mcwes.probe`) trained on the same
   features and labels. Probe AUC high and MC-WES AUC at chance means the method failed on learnable
   data; both at chance means the labels do not identify the expressions (e.g. no expression-free
   training videos).

Feature statistics that predict trouble are reported too: per-channel scale, the share of variance
that is constant within a video (static per-video or per-subject offsets), negative values (I3D
features are post-ReLU averages, so non-negative).

:func:`diagnose` builds a :class:`HealthReport`; ``mcwes train``/``mcwes demo`` write it as
``health.json`` and print its warnings.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

import numpy as np

__all__ = [
    "HealthReport", "diagnose", "loss_summary", "attention_summary", "feature_summary", "snippet_labels",
    "attention_auc", "auc",
]

#: Snippet classes in :func:`snippet_labels` (0 = MaE, 1 = ME as everywhere; background last).
BACKGROUND = 2
_CLASS_NAMES = ("MaE", "ME")

# Thresholds of the warnings (documented in docs/training-health.md).
_COLLAPSE_LOW, _COLLAPSE_HIGH = 0.15, 0.85
_FLAT_SPREAD = 0.05
_SATURATED = 0.02
#: A run whose total loss falls by less than this share is flagged. L_dc1 alone is no indicator: on
#: the synthetic benchmark it stays at ~1.0 in runs that localise with AUC 0.95 (its floor is the
#: entropy of the targets, ~0.7, and the other terms move instead).
_MIN_FIT = 0.02
_CHANCE_AUC = 0.6
_LEARNABLE_AUC = 0.75


def auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """Area under the ROC curve of ``positive`` scores vs ``negative`` ones (ties count half); NaN if either is empty."""
    pos = np.asarray(positive, dtype=np.float64).ravel()
    neg = np.asarray(negative, dtype=np.float64).ravel()
    if pos.size == 0 or neg.size == 0:
        return float("nan")
    values = np.concatenate([pos, neg])
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(values.size, dtype=np.float64)
    sorted_vals = values[order]
    # average ranks of tied values (1-based)
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_vals)) + 1]
    ends = np.r_[starts[1:], values.size]
    for s, e in zip(starts, ends):
        ranks[order[s:e]] = 0.5 * (s + 1 + e)
    u = ranks[: pos.size].sum() - pos.size * (pos.size + 1) / 2
    return float(u / (pos.size * neg.size))


def snippet_labels(n_snippets: int, intervals: Any, interval_labels: Any, snippet_frames: int) -> np.ndarray:
    """Per snippet: 0 (MaE), 1 (ME) or 2 (background) from GT frame intervals (0-based, inclusive).

    Snippet ``t`` covers frames ``[t·g, (t+1)·g − 1]``; it takes the class of any interval that overlaps
    it (ME wins over MaE where both overlap one snippet, being the rarer class).
    """
    labels = np.full(int(n_snippets), BACKGROUND, dtype=np.int64)
    iv = np.asarray(intervals, dtype=np.int64).reshape(-1, 2)
    cl = np.asarray(interval_labels, dtype=np.int64).reshape(-1)
    g = int(snippet_frames)
    for cls in (0, 1):
        for onset, offset in iv[cl == cls]:
            labels[max(0, onset // g): max(0, offset // g + 1)] = cls
    return labels


def attention_auc(attention: Sequence[np.ndarray], labels: Sequence[np.ndarray]) -> dict[str, float]:
    """AUC of the attention on each class's snippets vs background snippets, pooled over videos."""
    a = np.concatenate([np.asarray(x, dtype=np.float64).ravel() for x in attention]) if attention else np.zeros(0)
    lab = np.concatenate([np.asarray(x).ravel() for x in labels]) if labels else np.zeros(0, dtype=np.int64)
    if a.shape != lab.shape:
        raise ValueError(f"mcwes.health.attention_auc: expected one label per snippet, got {a.size} scores "
                         f"and {lab.size} labels")
    return {name: auc(a[lab == c], a[lab == BACKGROUND]) for c, name in enumerate(_CLASS_NAMES)}


def loss_summary(records: Sequence[Mapping[str, Any]], window: Optional[int] = None) -> dict[str, dict[str, float]]:
    """Per loss term of a run's per-iteration records (``metrics.jsonl`` lines): the mean over the first
    and the last ``window`` iterations (default a tenth of the run, at least 1) and the relative change."""
    if not records:
        return {}
    w = window or max(1, len(records) // 10)
    keys = [k for k in records[0] if k != "iteration" and not k.startswith("attention_")]
    out = {}
    for k in keys:
        vals = np.array([float(r[k]) for r in records if k in r], dtype=np.float64)
        first, last = float(vals[:w].mean()), float(vals[-w:].mean())
        out[k] = {"first": first, "last": last, "change": (last - first) / abs(first) if first else 0.0}
    return out


def attention_summary(attention: Sequence[np.ndarray]) -> dict[str, float]:
    """Shape of the attention over videos: mean, share of snippets saturated at 0 / 1 (< 0.02 / > 0.98),
    spread (the mean over videos of the within-video standard deviation)."""
    arrays = [np.asarray(a, dtype=np.float64).ravel() for a in attention if np.size(a)]
    if not arrays:
        return {"mean": float("nan"), "saturated_low": float("nan"), "saturated_high": float("nan"),
                "spread": float("nan")}
    a = np.concatenate(arrays)
    return {"mean": float(a.mean()), "saturated_low": float((a < _SATURATED).mean()),
            "saturated_high": float((a > 1 - _SATURATED).mean()),
            "spread": float(np.mean([x.std() for x in arrays]))}


def feature_summary(features: Sequence[Any]) -> dict[str, float]:
    """Statistics of ``[T, 2D]`` features that predict training trouble.

    ``channel_std_median``: median over channels of the per-channel standard deviation (real I3D
    features: ~0.2–0.5); ``channel_std_ratio``: 90th / 10th percentile of those (channels on very
    different scales); ``within_video_share``: the share of the total variance that varies within a
    video (the rest is a per-video constant: static offsets of the subject or recording);
    ``negative_share``: share of negative values (post-ReLU I3D features have none).
    """
    xs = [np.asarray(f.detach().cpu().numpy() if hasattr(f, "detach") else f, dtype=np.float64) for f in features]
    xs = [x for x in xs if x.ndim == 2 and x.shape[0] > 0]
    if not xs:
        raise ValueError("mcwes.health.feature_summary: expected at least one non-empty [T, 2D] feature array, got none")
    allx = np.concatenate(xs)
    total = allx.var(axis=0)
    within = np.concatenate([x - x.mean(axis=0) for x in xs]).var(axis=0)
    std = np.sqrt(total)
    lo, hi = np.percentile(std, [10, 90])
    return {
        "channel_std_median": float(np.median(std)),
        "channel_std_ratio": float(hi / lo) if lo > 0 else float("inf"),
        "within_video_share": float(within.sum() / total.sum()) if total.sum() > 0 else 0.0,
        "negative_share": float((allx < 0).mean()),
        "mean_abs": float(np.abs(allx).mean()),
    }


@dataclass
class HealthReport:
    """What :func:`diagnose` found; ``warnings`` are the actionable findings (each with a remedy)."""

    #: Per loss term: mean over the first / last tenth of the run and the relative change.
    losses: dict[str, dict[str, float]] = field(default_factory=dict)
    #: Per split ("train", "test"): :func:`attention_summary`.
    attention: dict[str, dict[str, float]] = field(default_factory=dict)
    #: Per split: attention AUC per class (expression snippets vs background); empty without GT.
    auc: dict[str, dict[str, float]] = field(default_factory=dict)
    #: Per split: the MIL probe's snippet-score AUC per class (None when no probe was trained).
    probe_auc: Optional[dict[str, dict[str, float]]] = None
    #: :func:`feature_summary` of the training features.
    features: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.warnings

    def to_dict(self) -> dict[str, Any]:
        return _finite(asdict(self))

    def text(self) -> str:
        """A short human-readable summary (what ``mcwes train`` prints)."""
        lines = ["training health:"]
        if self.losses:
            parts = [f"{k} {v['first']:.3f}→{v['last']:.3f}" for k, v in self.losses.items()]
            lines.append("  losses (first→last tenth): " + ", ".join(parts))
        for split, s in self.attention.items():
            lines.append(f"  attention ({split}): mean {s['mean']:.2f}, spread {s['spread']:.3f}, "
                         f"saturated {s['saturated_low']:.0%} at 0 / {s['saturated_high']:.0%} at 1")
        for split, a in self.auc.items():
            probe = (self.probe_auc or {}).get(split)
            extra = f" (MIL probe: {_fmt_auc(probe)})" if probe else ""
            lines.append(f"  attention AUC vs background ({split}): {_fmt_auc(a)}{extra}")
        if self.features:
            f = self.features
            lines.append(f"  features: channel std median {f['channel_std_median']:.3g} (p90/p10 {f['channel_std_ratio']:.1f}), "
                         f"within-video variance {f['within_video_share']:.0%}, negative {f['negative_share']:.0%}")
        lines += [f"  WARNING: {w}" for w in self.warnings] or ["  no warnings"]
        return "\n".join(lines)


def _fmt_auc(a: Mapping[str, float]) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in a.items() if not math.isnan(v)) or "n/a"


def _finite(value: Any) -> Any:
    """NaN/inf → None, so the report is strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _items_curves(model: Any, items: Sequence[Any]) -> list[np.ndarray]:
    from .inference import curves

    out: list[np.ndarray] = []
    for i in range(0, len(items), 32):
        out += [a for a, _ in curves([it.features for it in items[i: i + 32]], model)]
    return out


def _labels_of(items: Sequence[Any], attention: Sequence[np.ndarray], snippet_frames: int) -> Optional[list[np.ndarray]]:
    if not items or not all(hasattr(it, "intervals") and hasattr(it, "interval_labels") for it in items):
        return None
    return [snippet_labels(len(a), it.intervals, it.interval_labels, snippet_frames) for a, it in zip(attention, items)]


def diagnose(model: Any, train: Any, test: Any = None, *, records: Sequence[Mapping[str, Any]] = (),
             probe: bool = False, snippet_frames: Optional[int] = None, seed: int = 0) -> HealthReport:
    """The training-health report of ``model`` on its training videos (and held-out ones).

    Args:
        model: a trained :class:`~mcwes.model.MCWES` (or a checkpoint path).
        train: the training videos (a :class:`~mcwes.data.SpottingDataset` or a sequence of its items;
            items with ``intervals``/``interval_labels`` give the attention AUC).
        test: held-out videos, optional.
        records: the run's per-iteration loss records (``metrics.jsonl`` lines, or ``Trainer.history``).
        probe: also train the MIL probe (:mod:`mcwes.probe`) on ``train`` and report its AUC.
        snippet_frames: frames per snippet (default: the model's config, else 8).
        seed: the probe's seed.
    """
    from .inference import _resolve_model

    net = _resolve_model(model)
    if snippet_frames is None:
        cfg = getattr(net, "config", None)
        snippet_frames = int(getattr(getattr(cfg, "data", None), "snippet_frames", 8))
    splits = {"train": list(train)}
    if test is not None:
        splits["test"] = list(test)
    if not splits["train"]:
        raise ValueError("mcwes.diagnose: expected at least one training video, got none")
    report = HealthReport(losses=loss_summary(records), features=feature_summary([it.features for it in splits["train"]]))
    truth = {}
    for name, items in splits.items():
        if not items:
            continue
        att = _items_curves(net, items)
        report.attention[name] = attention_summary(att)
        labels = _labels_of(items, att, snippet_frames)
        if labels is not None:
            truth[name] = labels
            report.auc[name] = attention_auc(att, labels)
    if probe and truth:
        from .probe import fit_probe

        p = fit_probe(splits["train"], seed=seed)
        report.probe_auc = {name: attention_auc(p.scores([it.features for it in splits[name]], cls=None), truth[name])
                            for name in truth}
    report.warnings = _warnings(report)
    return report


def _warnings(r: HealthReport) -> list[str]:
    out = []
    total = r.losses.get("total")
    if total is not None and total["change"] > -_MIN_FIT:
        out.append(f"the total loss fell by only {-total['change']:.0%} ({total['first']:.3f}→{total['last']:.3f}): "
                   "training has hardly moved. Check the feature scale (model.normalize = \"video\" is the "
                   "default), the learning rate and the number of iterations.")
    a = r.attention.get("train")
    if a is not None and not math.isnan(a["mean"]):
        if a["mean"] < _COLLAPSE_LOW or a["mean"] > _COLLAPSE_HIGH:
            side = "0" if a["mean"] < _COLLAPSE_LOW else "1"
            out.append(f"the attention has collapsed towards {side} on the training videos (mean {a['mean']:.2f}): "
                       "proposals will be arbitrary. Lower λ3 (sparsity) if it is near 0; check the feature "
                       "normalisation and the learning rate.")
        if a["spread"] < _FLAT_SPREAD:
            out.append(f"the attention is flat within videos (mean within-video std {a['spread']:.3f}): nothing is "
                       "localised. Train longer or check the warnings above.")
    tr = r.auc.get("train", {}).get("MaE")
    probe_tr = (r.probe_auc or {}).get("train", {}).get("MaE")
    if tr is not None and not math.isnan(tr) and tr < _CHANCE_AUC:
        if probe_tr is not None and probe_tr >= _LEARNABLE_AUC:
            out.append(f"MC-WES has not learned to localise MaE on its own training videos (attention AUC {tr:.2f}) "
                       f"although the MIL probe does (AUC {probe_tr:.2f}): the data is learnable, the training failed.")
        elif probe_tr is not None:
            out.append(f"neither MC-WES (AUC {tr:.2f}) nor the MIL probe (AUC {probe_tr:.2f}) localise MaE on the "
                       "training videos: the video-level labels may not identify the expressions (are there "
                       "expression-free videos?).")
        else:
            out.append(f"MC-WES has not learned to localise MaE on its own training videos (attention AUC {tr:.2f}).")
    f = r.features
    if f and f["within_video_share"] < 0.5:
        out.append(f"only {f['within_video_share']:.0%} of the feature variance varies within a video (the rest is "
                   "per-video constant, e.g. large static subject offsets): keep model.normalize = \"video\" "
                   "(the default), which removes each video's mean (see docs/training-health.md).")
    return out
