"""Extraction settings and the named presets (one home for every number of the recipe)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional, Union

from ..data.facts import DATASETS

__all__ = ["ExtractOptions", "PRESETS", "TVL1Params"]

FLOW_BACKENDS = ("auto", "mcwes", "opencv")
LAYOUTS = ("npy", "npz")


@dataclass(frozen=True)
class TVL1Params:
    """TV-L1 parameters; the defaults are OpenCV's ``DualTVL1OpticalFlow_create()`` defaults."""

    tau: float = 0.25
    lambda_: float = 0.15
    theta: float = 0.3
    nscales: int = 5
    warps: int = 5
    epsilon: float = 0.01
    inner_iterations: int = 30
    outer_iterations: int = 10
    scale_step: float = 0.8
    gamma: float = 0.0
    median_filtering: int = 5


@dataclass(frozen=True)
class ExtractOptions:
    """Every setting of the video → features pipeline (docs/extraction.md explains each).

    Attributes:
        window, stride: frames per I3D window and the step between windows: ``T = (F − window) // stride + 1``
            for F = N − 1 frames (the RGB stream drops the last frame).
        frame_steps: resample by taking frames 0, s0, s0+s1, … cycling the steps (``(6, 7, 7)``: 200 → ~30
            fps); None = native frame rate.
        fps: frame rate of the source when the container does not give one (frame folders).
        crop: ``"none"``, ``"detect"`` (dlib HOG on the first ``detect_frames`` frames, box held fixed,
            grown by ``detect_margin`` on each side) or a box ``(x, y, width, height)`` in pixels.
        flow_backend: ``"mcwes"`` (``mcwes.ops.tvl1_flow``), ``"opencv"`` (``cv2.optflow`` DualTVL1) or
            ``"auto"`` (the first when the op is built, else OpenCV).
        flow_bound: flow is clipped to ±bound and divided by it.
        flow_jpeg: reproduce the authors' uint8 JPEG (quality 95) round trip of the flow images.
        image_size: side of the square I3D input (224 is what I3D was trained on).
        batch_size: windows per I3D forward.
        device: torch device for I3D (None: CUDA when available, else CPU).
        fast_i3d: run I3D as :func:`~mcwes.extract.i3d.fuse_i3d` makes it (BatchNorm folded, the 1×1×1
            branches of each Inception block merged, channels-last on the CPU): the same features up to
            float32 rounding, about half the CPU time.
        layout: ``"npy"`` (``<video>.npy`` ``[T, 2048]``) or ``"npz"`` (``-rgb``/``-flow`` pairs).
    """

    window: int = 8
    stride: int = 8
    frame_steps: Optional[tuple[int, ...]] = None
    fps: float = 30.0
    crop: Union[str, tuple[int, int, int, int]] = "none"
    detect_frames: int = 10
    detect_margin: float = 0.2
    flow_backend: str = "auto"
    flow_bound: float = 15.0
    flow_jpeg: bool = False
    tvl1: TVL1Params = field(default_factory=TVL1Params)
    image_size: int = 224
    batch_size: int = 16
    device: Optional[str] = None
    fast_i3d: bool = True
    layout: str = "npy"

    def __post_init__(self) -> None:
        def bad(name: str, want: str) -> ValueError:
            return ValueError(f"mcwes.extract: expected {name} to be {want}, got {getattr(self, name)!r}")

        for name in ("window", "stride", "image_size", "batch_size", "detect_frames"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise bad(name, "a positive int")
        if not isinstance(self.fast_i3d, bool):
            raise bad("fast_i3d", "True or False")
        if self.frame_steps is not None:
            steps = tuple(self.frame_steps)
            if not steps or not all(isinstance(s, int) and s >= 1 for s in steps):
                raise bad("frame_steps", "None or positive ints such as (6, 7, 7)")
            object.__setattr__(self, "frame_steps", steps)
        if not self.fps > 0:
            raise bad("fps", "> 0")
        if not self.flow_bound > 0:
            raise bad("flow_bound", "> 0")
        if not 0 <= self.detect_margin <= 2:
            raise bad("detect_margin", "in [0, 2]")
        if self.flow_backend not in FLOW_BACKENDS:
            raise bad("flow_backend", f"one of {FLOW_BACKENDS}")
        if self.layout not in LAYOUTS:
            raise bad("layout", f"one of {LAYOUTS}")
        if isinstance(self.crop, str):
            if self.crop not in ("none", "detect"):
                raise bad("crop", '"none", "detect" or a box (x, y, width, height)')
        else:
            box = tuple(self.crop)
            if len(box) != 4 or not all(isinstance(v, int) for v in box) or box[0] < 0 or box[1] < 0 \
                    or box[2] < 2 or box[3] < 2:
                raise bad("crop", "a box (x >= 0, y >= 0, width >= 2, height >= 2) of ints")
            object.__setattr__(self, "crop", box)
        if isinstance(self.tvl1, dict):
            object.__setattr__(self, "tvl1", TVL1Params(**self.tvl1))

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> "ExtractOptions":
        """The options of a named preset (:data:`PRESETS`), with some fields replaced."""
        if name not in PRESETS:
            raise ValueError(f"mcwes.extract: expected preset to be one of {sorted(PRESETS)}, got {name!r}")
        unknown = set(overrides) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise TypeError(f"mcwes.extract: unknown extraction options {sorted(unknown)}; known: "
                            f"{[f.name for f in dataclasses.fields(cls)]}")
        return dataclasses.replace(PRESETS[name], **overrides)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["frame_steps"] = list(self.frame_steps) if self.frame_steps else None
        d["crop"] = self.crop if isinstance(self.crop, str) else list(self.crop)
        return d


def _snippets(dataset: str) -> ExtractOptions:
    """Non-overlapping snippets of the dataset's g frames at its native fps, as MC-WES assumes
    (casme2 / casme3: 8 frames at 30 fps; samm_lv: 32 at 200; mcwes.data.facts)."""
    facts = DATASETS[dataset]
    return ExtractOptions(window=facts.snippet_frames, stride=facts.snippet_frames, fps=facts.fps)


PRESETS: dict[str, ExtractOptions] = {
    "casme2": _snippets("casme2"),
    "casme3": _snippets("casme3"),
    "samm_lv": _snippets("samm_lv"),
    # The authors' released features: 8-frame windows at stride 2, flow through uint8 JPEG at bound 15.
    # For SAMM-LV add frame_steps=(6, 7, 7) (200 → ~30 fps), as their tools do.
    "lgsnet": ExtractOptions(window=8, stride=2, fps=30.0, flow_jpeg=True),
}
