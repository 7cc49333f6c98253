"""From videos to features: frames (PyAV or numbered images), face region, TV-L1 flow, two-stream
I3D, written in the layouts :func:`mcwes.data.open_features` reads. docs/extraction.md explains
every setting.

``extract(inputs, out, ExtractOptions.preset("casme2"), rgb_weights=..., flow_weights=...)`` writes
a feature folder and its manifest; ``spot_video(path, model)`` goes from one video to proposals.
The optional dependencies (``pip install "mcwes[video]"``: av, opencv-contrib-python-headless,
pillow; ``mcwes[detect]``: dlib-bin) are imported only when used.
"""
from .frames import FrameSource, open_frames
from .i3d import I3D_WEIGHTS_ENV, FusedI3d, InceptionI3d, expected_keys, fuse_i3d, load_i3d
from .options import PRESETS, ExtractOptions, TVL1Params
from .pipeline import VideoFeatures, extract_video
from .run import VideoInput, extract, find_videos, spot_video

__all__ = [
    "FrameSource", "FusedI3d", "I3D_WEIGHTS_ENV", "InceptionI3d", "PRESETS", "ExtractOptions", "TVL1Params", "VideoFeatures",
    "VideoInput", "expected_keys", "extract", "extract_video", "find_videos", "fuse_i3d", "load_i3d", "open_frames",
    "spot_video",
]
