"""mcwes — MC-WES weakly-supervised facial micro- and macro-expression spotting."""
from ._version import __version__
from ._ext import build_info
from . import ops, reference
from .config import Config

__all__ = ["__version__", "build_info", "ops", "reference", "Config"]
from .model import MCWES, MCWESOutput
from . import losses
from .checkpoint import load_checkpoint, save_checkpoint
from .train import Trainer, VideoItem

__all__ += ["MCWES", "MCWESOutput", "losses", "load_checkpoint", "save_checkpoint", "Trainer", "VideoItem"]
