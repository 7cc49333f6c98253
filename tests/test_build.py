"""The package tells how it was built, and the command line starts."""
from __future__ import annotations

import subprocess
import sys

import mcwes


def test_build_info_fields():
    info = mcwes.build_info()
    for key in ("version", "compiler", "openmp", "cuda", "cuda_architectures", "gpu_usable", "gpu_count", "torch"):
        assert key in info
    assert info["version"] == mcwes.__version__
    assert isinstance(info["openmp"], bool) and isinstance(info["cuda"], bool)
    if info["cuda"]:
        archs = info["cuda_architectures"].split(",")
        assert "80-real" in archs and "90-real" in archs and "90-virtual" in archs
    assert info["gpu_usable"] == (info["gpu_count"] > 0)


def test_cli_info_runs():
    out = subprocess.run([sys.executable, "-m", "mcwes", "info"], capture_output=True, text=True, check=True)
    assert '"version"' in out.stdout
