"""mcwes — MC-WES weakly-supervised facial micro- and macro-expression spotting.

``mcwes.spot(features)`` spots expressions with the default model (``mcwes.load(checkpoint)``);
``mcwes.Trainer`` trains one model, ``mcwes.loso`` / ``mcwes.split`` (module ``mcwes.crossval``)
cross-validate by subject; ``mcwes.evaluate`` scores predictions the MEGC way;
``mcwes.ops`` holds the compiled kernels and ``mcwes.reference`` their naive twins.
``mcwes.extract`` / ``mcwes.spot_video(path)`` go from videos to features and proposals.
"""
from ._version import __version__
from ._ext import build_info, cpu_isa, set_cpu_isa
from . import crossval, data, losses, ops, reference, spotting
from .config import Config
from .model import MCWES, MCWESOutput
from .checkpoint import load_checkpoint, save_checkpoint
from .train import Trainer, VideoItem
from .proposals import Proposal, Proposals
from .metrics import EvaluationResult, evaluate
from .inference import load, spot
from .crossval import LosoResult, loso, split
from .health import HealthReport, diagnose
from . import extract
from .extract import spot_video

__all__ = [
    "__version__", "build_info", "cpu_isa", "set_cpu_isa", "crossval", "data", "spotting", "losses", "ops", "reference",
    "Config", "MCWES", "MCWESOutput", "diagnose", "HealthReport",
    "load_checkpoint", "save_checkpoint", "Trainer", "VideoItem", "Proposal", "Proposals", "EvaluationResult",
    "evaluate", "load", "spot", "LosoResult", "loso", "split", "extract", "spot_video",
]
