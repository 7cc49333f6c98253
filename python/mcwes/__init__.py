"""mcwes — MC-WES weakly-supervised facial micro- and macro-expression spotting."""
from ._version import __version__
from ._ext import build_info
from . import data, ops, reference
from .config import Config

__all__ = ["__version__", "build_info", "data", "ops", "reference", "Config"]
from .proposals import Proposal
from .metrics import EvaluationResult, evaluate

__all__ += ["Proposal", "EvaluationResult", "evaluate"]
