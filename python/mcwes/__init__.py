"""mcwes — MC-WES weakly-supervised facial micro- and macro-expression spotting.

``mcwes.spot(features)`` spots expressions with the default model (``mcwes.load(checkpoint)``);
``mcwes.Trainer`` trains one model, ``mcwes.loso`` / ``mcwes.split`` (module ``mcwes.crossval``)
cross-validate by subject; ``mcwes.evaluate`` scores predictions the MEGC way;
``mcwes.ops`` holds the compiled kernels and ``mcwes.reference`` their naive twins.
"""
from ._version import __version__
from ._ext import build_info
from . import crossval, data, losses, ops, reference, spotting
from .config import Config
from .model import MCWES, MCWESOutput
from .checkpoint import load_checkpoint, save_checkpoint
from .train import Trainer, VideoItem
from .proposals import Proposal, Proposals
from .metrics import EvaluationResult, evaluate
from .inference import load, spot
from .crossval import LosoResult, loso, split

__all__ = [
    "__version__", "build_info", "crossval", "data", "spotting", "losses", "ops", "reference", "Config", "MCWES", "MCWESOutput",
    "load_checkpoint", "save_checkpoint", "Trainer", "VideoItem", "Proposal", "Proposals", "EvaluationResult",
    "evaluate", "load", "spot", "LosoResult", "loso", "split",
]
