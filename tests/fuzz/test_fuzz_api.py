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


def test_judge_flags_silent_results_and_vague_errors():
    """The worker's classifier itself (in-process: judging runs no kernel): a result for invalid input,
    an error for valid input and a message that does not name the function are failures."""
    import pytest
    from api_worker import Failure, judge

    with pytest.raises(Failure, match="silent result"):
        judge(False, ("ok", 1, []), "f", "invalid")
    with pytest.raises(Failure, match="refused"):
        judge(True, ("error", ValueError("mcwes.f: expected x to be y, got z"), []), "f", "valid")
    with pytest.raises(Failure, match="unclear error"):
        judge(False, ("error", ValueError("Overflow when unpacking long"), []), "f", "invalid")
    assert judge(False, ("error", ValueError("mcwes.f: expected x to be y, got z"), []), "f", "invalid") is not None
