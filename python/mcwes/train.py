"""Training MC-WES (docs/method.md §3): the pair-aware batch sampler, stratified snippet resampling, Adam with
fixed seeds, and a :class:`Trainer` with a progress bar, a JSON-lines metrics log, atomic checkpoints
and exact resumption.

The Trainer needs only a sequence of items with ``.features`` (``[T, 2D]`` array or tensor),
``.labels`` (length-n 0/1: MaE, ME), ``.subject`` and ``.video`` (:class:`TrainingItem`). The items
of :class:`mcwes.data.SpottingDataset` are :class:`mcwes.data.VideoItem` objects; a hand-made one needs only the
first four (``VideoItem(features, labels, subject, video)``)::

    model = Trainer(Config.preset("casme2"), list(dataset), out_dir="runs/s15").fit()
"""
from __future__ import annotations

import contextlib
import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Iterator, Optional, Protocol, Union

import numpy as np
import torch

from ._progress import progress_bar
from .checkpoint import load_checkpoint, save_checkpoint
from .config import Config
from .data.dataset import VideoItem
from .losses import mcwes_losses
from .model import MCWES

__all__ = ["TrainingItem", "VideoItem", "PairBatchSampler", "resample_indices", "resolve_device", "Trainer"]

log = logging.getLogger(__name__)


class TrainingItem(Protocol):
    """What the Trainer reads from each training video (:class:`mcwes.data.VideoItem` is one)."""

    @property
    def features(self) -> Any: ...  # [T, 2D] float array or tensor (RGB channels first, then flow)

    @property
    def labels(self) -> Any: ...  # length n, 0/1 per expression class (MaE, ME)

    @property
    def subject(self) -> str: ...

    @property
    def video(self) -> str: ...


def resample_indices(length: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """Stratified resampling to exactly ``n`` snippets (CO2-Net ``random_perturb``, docs/method.md §3).

    ``[0, length)`` is split into ``n`` equal real-valued bins ``[i·length/n, (i+1)·length/n)``; one
    point is drawn uniformly in each and floored to a snippet index. The result is non-decreasing;
    ``length == n`` gives ``0..n-1`` exactly; for ``length < n`` consecutive bins share snippets, so
    indices repeat (a short video is stretched, every snippet ~n/length times).
    """
    if length < 1:
        raise ValueError(f"mcwes.resample_indices: expected length to be >= 1, got {length}")
    points = (np.arange(n) + rng.random(n)) * (length / n)
    return np.minimum(np.floor(points).astype(np.int64), length - 1)


class PairBatchSampler:
    """Batches of ``batch_size`` videos: ``n_pairs`` label-sharing pairs, then random videos.

    A pair ``(v1, v2)`` is two distinct videos sharing >= 1 positive label: v1 is drawn uniformly
    among the videos that have such a partner, v2 uniformly among v1's partners. The remaining
    ``batch_size − 2·n_pairs`` videos are drawn uniformly without replacement (with replacement when
    the dataset is smaller than that); they may repeat videos of the pairs.

    Args:
        labels: ``[N, n]`` 0/1 video-level labels.
        batch_size, n_pairs: as in :class:`~mcwes.config.TrainConfig`.
        rng: the NumPy generator all draws come from.
    """

    def __init__(self, labels: np.ndarray, batch_size: int, n_pairs: int, rng: np.random.Generator) -> None:
        labels = np.asarray(labels, dtype=np.int64)
        if labels.ndim != 2 or labels.shape[0] == 0:
            raise ValueError(f"mcwes.PairBatchSampler: expected at least one video's labels, got shape {labels.shape}")
        self.batch_size, self.n_pairs, self.rng = batch_size, n_pairs, rng
        self.n_videos = labels.shape[0]
        shares = (labels @ labels.T) > 0
        np.fill_diagonal(shares, False)
        self.partners = [np.flatnonzero(row) for row in shares]
        self.eligible = np.flatnonzero(shares.any(axis=1))
        if n_pairs > 0 and self.eligible.size == 0:
            raise ValueError(
                "mcwes.PairBatchSampler: expected the training videos to include two that share a positive "
                f"label (train.n_pairs = {n_pairs} label-sharing pairs per batch), got none among "
                f"{self.n_videos} videos; add such videos or set train.n_pairs = 0")

    def sample(self) -> tuple[list[int], list[tuple[int, int]]]:
        """One batch: (video indices, pairs as positions in the batch: (0,1), (2,3), ...)."""
        videos: list[int] = []
        for _ in range(self.n_pairs):
            v1 = int(self.rng.choice(self.eligible))
            videos += [v1, int(self.rng.choice(self.partners[v1]))]
        n_random = self.batch_size - len(videos)
        replace = self.n_videos < n_random
        videos += [int(v) for v in self.rng.choice(self.n_videos, size=n_random, replace=replace)]
        return videos, [(2 * p, 2 * p + 1) for p in range(self.n_pairs)]


def resolve_device(device: Union[str, torch.device, None] = None) -> torch.device:
    """``device`` as a torch.device; None picks CUDA when torch can use a GPU, else the CPU."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    from .checks import device as checked_device

    return checked_device(device, "mcwes.Trainer", "device")


def _check_items(items: Sequence[TrainingItem], config: Config) -> tuple[list[torch.Tensor], np.ndarray]:
    if len(items) == 0:
        raise ValueError("mcwes.Trainer: expected train_items to hold at least one video, got an empty sequence")
    width, n = 2 * config.model.feature_dim, config.model.n_classes
    feats, labels = [], []
    for i, item in enumerate(items):
        name = getattr(item, "video", "") or f"#{i}"
        x = torch.as_tensor(np.asarray(item.features) if not isinstance(item.features, torch.Tensor) else item.features)
        if x.dim() != 2 or x.shape[1] != width or x.shape[0] < 1:
            raise ValueError(f"mcwes.Trainer: expected the features of video {name} to have shape [T >= 1, 2D = {width}], "
                             f"got {tuple(x.shape)}")
        x = x.detach().to(device="cpu", dtype=torch.float32)
        if not bool(torch.isfinite(x).all()):
            raise ValueError(f"mcwes.Trainer: expected the features of video {name} to be finite, got NaN or inf")
        y = np.asarray(item.labels).reshape(-1)
        if y.shape != (n,) or not np.isin(y, (0, 1)).all():
            raise ValueError(f"mcwes.Trainer: expected the labels of video {name} to be {n} values in {{0, 1}} "
                             f"(MaE, ME), got {np.asarray(item.labels).tolist()}")
        feats.append(x)
        labels.append(y.astype(np.int64))
    return feats, np.stack(labels)


class Trainer:
    """Trains one MC-WES model on ``train_items`` (docs/method.md §3).

    Args:
        config: the run's :class:`~mcwes.config.Config` (``train`` and ``data.train_snippets`` drive training).
        train_items: the training videos (:class:`TrainingItem`).
        device: torch device; None: CUDA when available, else CPU.
        out_dir: where ``config.yaml``, ``metrics.jsonl`` (one JSON line per iteration: every loss
            term) and ``checkpoint.pt`` go; None: nothing is written.
        progress: show progress with the loss terms (a tqdm bar on a terminal, else a line every 10 %).
        kernels: compiled kernels (True) or the plain-PyTorch path (False) in the model and losses;
            None (default): whatever ``mcwes.ops.set_backend`` / ``use_backend`` says.
        checkpoint_every: also checkpoint every this many iterations (None: only at the end of ``fit``).

    Seeding: the weights are initialised and dropout draws under torch's generator seeded with
    ``train.seed`` — the Trainer keeps its own copy of that generator state and swaps it in only
    around its own work, so other torch RNG use (or another Trainer) does not change its run — and
    one ``numpy.random.Generator(train.seed)`` draws batches and resampling. Checkpoints store these
    states, so a resumed run continues exactly.
    """

    def __init__(self, config: Config, train_items: Sequence[TrainingItem], device: Union[str, torch.device, None] = None,
                 out_dir: Union[str, Path, None] = None, progress: bool = True, kernels: bool | None = None,
                 checkpoint_every: Optional[int] = None) -> None:
        if not isinstance(config, Config):
            raise TypeError(f"mcwes.Trainer: expected config to be a mcwes.Config, got {type(config).__name__}")
        self.config = config
        self.features, self.labels = _check_items(train_items, config)
        self.device = resolve_device(device)
        self.progress, self.checkpoint_every = progress, checkpoint_every
        tc = config.train
        self.rng = np.random.default_rng(tc.seed)
        self.sampler = PairBatchSampler(self.labels, tc.batch_size, tc.n_pairs, self.rng)
        with torch.random.fork_rng(devices=self._cuda_devices()):
            torch.manual_seed(tc.seed)
            self.model = MCWES(config, kernels=kernels)
            self.model.fit_normalization(self.features)
            self.model.to(self.device)
            self._torch_rng = self._get_torch_rng()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
        self.iteration = 0
        #: Every iteration's record (loss terms and attention shape), as written to ``metrics.jsonl``.
        self.history: list[dict[str, float]] = []
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self._metrics_started = False
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            config.to_yaml(self.out_dir / "config.yaml")

    @property
    def checkpoint_path(self) -> Optional[Path]:
        return self.out_dir / "checkpoint.pt" if self.out_dir is not None else None

    def _batch(self, videos: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        n = self.config.data.train_snippets
        x = torch.stack([self.features[v][torch.from_numpy(resample_indices(len(self.features[v]), n, self.rng))]
                         for v in videos])
        y = torch.from_numpy(self.labels[list(videos)]).to(torch.float32)
        lengths = torch.full((len(videos),), n, dtype=torch.int64)
        return x.to(self.device), y.to(self.device), lengths.to(self.device)

    def _cuda_devices(self) -> list[int]:
        if self.device.type != "cuda":
            return []
        return [self.device.index if self.device.index is not None else torch.cuda.current_device()]

    def _get_torch_rng(self) -> dict[str, torch.Tensor]:
        state = {"torch": torch.get_rng_state()}
        for index in self._cuda_devices():
            state["cuda"] = torch.cuda.get_rng_state(index)
        return state

    @contextlib.contextmanager
    def _own_rng(self) -> Iterator[None]:
        """Run under this Trainer's torch generator state; the global state is left as it was."""
        with torch.random.fork_rng(devices=self._cuda_devices()):
            torch.set_rng_state(self._torch_rng["torch"])
            for index in self._cuda_devices():
                torch.cuda.set_rng_state(self._torch_rng["cuda"], index)
            yield
            self._torch_rng = self._get_torch_rng()

    def step(self) -> dict[str, float]:
        """One iteration (one batch, one Adam step). Returns ``{"iteration": i, term: value, ..., "total": value}``."""
        self.model.train()
        videos, pairs = self.sampler.sample()
        x, y, lengths = self._batch(videos)
        with self._own_rng():
            out = self.model(x, lengths)
        terms = mcwes_losses(out, y, self.config.train, pairs, kernels=self.model.kernels)
        total = terms["total"]
        if not math.isfinite(float(total.detach())):
            raise RuntimeError(f"mcwes.Trainer: the loss became non-finite at iteration {self.iteration + 1}: "
                               f"{ {k: float(v) for k, v in terms.items()} }")
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        self.optimizer.step()
        self.iteration += 1
        with torch.no_grad():  # the attention's shape, for the training-health report (mcwes.health)
            valid = out.A[:, : x.shape[1]]
            shape = {"attention_mean": float(valid.mean()), "attention_spread": float(valid.std(dim=1).mean())}
        record = {"iteration": self.iteration, **{k: float(v.detach()) for k, v in terms.items()}, **shape}
        self.history.append(record)
        if self.out_dir is not None:
            self._write_metrics(self.out_dir / "metrics.jsonl", record)
        return record

    def _write_metrics(self, path: Path, record: dict[str, float]) -> None:
        """Appends ``record`` to ``metrics.jsonl``. The first write of this trainer first drops the
        file's lines of iterations it is about to redo: a fresh run (or a fold restarted after its job
        was killed) starts a new file, a resumed one keeps the lines up to its checkpoint's iteration,
        so the file is always one line per iteration of this run's history."""
        if not self._metrics_started:
            self._metrics_started = True
            kept = []
            if path.exists() and self.iteration > 1:
                for line in path.read_text().splitlines():
                    try:
                        if int(json.loads(line)["iteration"]) < self.iteration:
                            kept.append(line + "\n")
                    except (ValueError, KeyError, TypeError):
                        continue  # a line cut short by a kill: dropped, the iteration is redone
            path.write_text("".join(kept))
        with open(path, "a") as fh:
            fh.write(json.dumps(record) + "\n")

    def fit(self, iterations: Optional[int] = None) -> MCWES:
        """Train until ``iterations`` iterations are done in total (default ``train.iterations``;
        a resumed trainer continues where it stopped). Checkpoints at the end when ``out_dir`` is set.
        Returns the model (left in eval mode)."""
        target = self.config.train.iterations if iterations is None else int(iterations)
        with progress_bar(target, initial=self.iteration, desc="mcwes train", enabled=self.progress) as bar:
            while self.iteration < target:
                record = self.step()
                bar.update(1)
                bar.set_postfix({k: f"{v:.3f}" for k, v in record.items() if k != "iteration"}, refresh=False)
                if self.checkpoint_every and self.iteration % self.checkpoint_every == 0:
                    self.save()
        if self.out_dir is not None:
            self.save()
        log.info("mcwes train: %d iterations done on %s", self.iteration, self.device)
        return self.model.eval()

    def _rng_state(self) -> dict[str, Any]:
        return {"numpy": self.rng.bit_generator.state, **self._torch_rng}

    def save(self, path: Union[str, Path, None] = None) -> Path:
        """Checkpoint weights, config, optimizer, iteration and RNG states (default ``out_dir/checkpoint.pt``)."""
        target = Path(path) if path is not None else self.checkpoint_path
        if target is None:
            raise ValueError("mcwes.Trainer: expected a checkpoint path (or an out_dir), got neither")
        return save_checkpoint(target, self.model, self.config, self.optimizer, self.iteration,
                               extra={"rng": self._rng_state()})

    @classmethod
    def resume(cls, checkpoint_path: Union[str, Path], train_items: Sequence[TrainingItem],
               device: Union[str, torch.device, None] = None, out_dir: Union[str, Path, None] = None,
               progress: bool = True, kernels: bool | None = None) -> "Trainer":
        """A Trainer restored from a checkpoint written by :meth:`save`: weights, optimizer, iteration and
        RNG states, so ``fit()`` continues exactly as the uninterrupted run would have (same items).
        ``out_dir`` defaults to the checkpoint's folder (metrics are appended, the checkpoint updated)."""
        model, config, state = load_checkpoint(checkpoint_path)
        out_dir = Path(checkpoint_path).parent if out_dir is None else out_dir
        if state["optimizer"] is None:
            raise ValueError(f"mcwes.Trainer.resume: {checkpoint_path} holds no optimizer state (not a training checkpoint)")
        trainer = cls(config, train_items, device=device, out_dir=out_dir, progress=progress, kernels=kernels)
        trainer.model.load_state_dict(model.state_dict())
        trainer.optimizer.load_state_dict(state["optimizer"])
        trainer.iteration = int(state["iteration"])
        rng = (state["extra"] or {}).get("rng", {})
        if "numpy" in rng:
            trainer.rng.bit_generator.state = rng["numpy"]
        if "torch" in rng:
            trainer._torch_rng["torch"] = rng["torch"]
        if "cuda" in rng and trainer.device.type == "cuda":
            trainer._torch_rng["cuda"] = rng["cuda"]
        return trainer
