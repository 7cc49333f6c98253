"""The repository's tools that a machine without a GPU can exercise: tools/gpu_check.sh's no-GPU path."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None or os.path.exists("/dev/nvidia0"),
                    reason="this machine has a GPU: tools/gpu_check.sh would run the whole check")
def test_gpu_check_without_a_gpu_says_so_and_exits_0(tmp_path):
    done = subprocess.run(["bash", str(ROOT / "tools" / "gpu_check.sh")], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "MCWES_GPU_CHECK_DIR": str(tmp_path / "gpu")})
    assert done.returncode == 0, done.stderr
    assert "no NVIDIA GPU on this machine" in done.stdout
    assert not (tmp_path / "gpu").exists()  # nothing built, nothing written


def test_gpu_check_rejects_unknown_arguments():
    done = subprocess.run(["bash", str(ROOT / "tools" / "gpu_check.sh"), "--bogus"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and "usage: tools/gpu_check.sh" in done.stderr
