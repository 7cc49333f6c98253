"""Fuzz suite of the public Python API: the Hypothesis properties of ``api_worker.py`` (spot, the model
and the losses on padded batches, topk_k, checkpoints, the CSV readers, open_features, evaluate, and
fixed bad calls of the rest), run in a subprocess so that a crash in a compiled kernel fails this
test instead of killing pytest. Every outcome must be a clear error or a correct result (see the
worker's docstring for the classification)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

WORKER = Path(__file__).with_name("api_worker.py")


def _run(*names: str, examples: int = 30, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "MCWES_FUZZ_EXAMPLES": str(examples)}
    return subprocess.run([sys.executable, str(WORKER), *names], capture_output=True, text=True, env=env,
                          timeout=timeout)


def test_public_api_fuzz():
    proc = _run()
    report = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"exit code {proc.returncode} (negative: killed by a signal)\n{report[-6000:]}"
    passed = [line for line in proc.stdout.splitlines() if line.startswith("PASS ")]
    assert len(passed) >= 9, report


def test_worker_reports_a_failing_property():
    """The harness can fail: a property name that does not exist is reported, not passed over."""
    proc = _run("no_such_property", examples=1, timeout=300)
    assert proc.returncode != 0
