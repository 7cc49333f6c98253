"""Shared by the benchmark programs: timing with warm-up and medians, a table on stdout, JSON lines,
and the machine facts every JSON line carries (CPU model, the instruction set mcwes's kernels and
torch's ran with).

``--isa avx2`` (every benchmark) measures a machine as if it had no AVX-512: it caps mcwes
(``MCWES_CPU_ISA``) and, for a fair baseline, torch's own kernels (``ATEN_CPU_CAPABILITY``), MKL
(``MKL_ENABLE_INSTRUCTIONS``) and oneDNN (``ONEDNN_MAX_CPU_ISA``). The caps must be in the environment
before torch loads, so this module reads ``--isa`` from the command line when it is imported (before
it imports torch) and, if torch was imported first, restarts the program with the caps set.

Benchmarks are programs, not tests: each one checks correctness first, then times every contender in
the same run so that ratios (not absolute times, which are noisy on shared machines) are reported.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from typing import Any

# The environment each --isa value sets; "native" leaves every library on what the CPU offers.
ISA_CAPS: dict[str, dict[str, str]] = {
    "native": {},
    "avx2": {"MCWES_CPU_ISA": "avx2", "ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2",
             "ONEDNN_MAX_CPU_ISA": "AVX2"},
    "scalar": {"MCWES_CPU_ISA": "scalar", "ATEN_CPU_CAPABILITY": "default", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2",
               "ONEDNN_MAX_CPU_ISA": "SSE41"},
}


def _isa_from_argv(argv: list[str]) -> str:
    for i, a in enumerate(argv):
        if a == "--isa" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("--isa="):
            return a.split("=", 1)[1]
    return "native"


def _apply_isa_cap() -> str:
    isa = _isa_from_argv(sys.argv[1:])
    if isa not in ISA_CAPS:
        raise SystemExit(f"--isa: expected one of {', '.join(ISA_CAPS)}, got {isa!r}")
    missing = {k: v for k, v in ISA_CAPS[isa].items() if os.environ.get(k) != v}
    if missing:
        os.environ.update(missing)
        if "torch" in sys.modules:  # too late for torch's dispatch: start again with the caps set
            os.execv(sys.executable, [sys.executable, *sys.argv])
    return isa


ISA = _apply_isa_cap()

import torch  # noqa: E402
from torch.utils import benchmark  # noqa: E402


def add_isa_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--isa", choices=list(ISA_CAPS), default="native",
                   help="cap the instruction set of mcwes and torch (MKL, oneDNN) alike; avx2 = an AVX2-only "
                        "CPU (default native: what this CPU offers)")


def parser(op: str, threads: int | None = 1) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=f"Benchmark mcwes.ops.{op} against its baselines.")
    p.add_argument("--out", default=f"bench_out/{op}.jsonl", help="JSON lines output path")
    p.add_argument("--quick", action="store_true", help="a short grid and fewer repeats")
    p.add_argument("--threads", type=int, default=threads,
                   help=f"torch/mcwes CPU threads (default {threads or 'torch default'})")
    add_isa_argument(p)
    return p


def set_threads(n: int | None) -> None:
    if n:
        torch.set_num_threads(n)


def kernel_isas(info: dict[str, Any]) -> dict[str, str]:
    """The instruction set each compiled CPU kernel actually runs. cscm_attention and tvl1_flow have
    paths per instruction set, picked at each call under the cap (``cpu_isa``); every other kernel
    is compiled once for the baseline target, so ``--isa`` changes only its torch baselines."""
    x86 = platform.machine().lower() in ("x86_64", "amd64")
    base = "x86-64 baseline (SSE2)" if x86 else f"portable ({platform.machine()})"
    return {"cscm_attention": info["cpu_isa"], "tvl1_flow": info["cpu_isa"], "other_kernels": base}


def machine(device: str = "cpu") -> dict[str, Any]:
    """What each JSON line records about the run: the CPU model, the instruction set mcwes's CPU
    kernels ran (``cpu_isa``: cscm_attention's path; ``kernel_isa``: per kernel) and the best one
    the CPU offers, torch's (ATen) CPU capability, the --isa cap, the cscm_attention path setting
    ("auto": the rule of mcwes.ops.cscm_attention_path), threads and versions."""
    import mcwes

    info = mcwes.build_info()
    return {
        "machine": platform.machine(), "cpu_model": info["cpu_model"], "cpu_count": os.cpu_count(),
        "threads": torch.get_num_threads(), "torch": torch.__version__, "mcwes": mcwes.__version__,
        "cpu_isa": info["cpu_isa"], "cpu_isa_supported": info["cpu_isa_supported"], "kernel_isa": kernel_isas(info),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(), "isa_cap": ISA,
        "cscm_attention_path": mcwes.ops.get_cscm_attention_path(),
        "device": torch.cuda.get_device_name() if device == "cuda" else (platform.processor() or "cpu"),
    }


def describe(device: str = "cpu") -> str:
    """One line for the top of a benchmark's output: CPU, instruction sets, threads."""
    m = machine(device)
    return (f"{m['cpu_model']}: mcwes cscm_attention {m['cpu_isa']} (CPU offers {m['cpu_isa_supported']}), other "
            f"kernels {m['kernel_isa']['other_kernels']}, "
            f"torch {m['torch']} {m['torch_cpu_capability']}, --isa {m['isa_cap']}, threads {m['threads']}")


def rotating(fn: Callable[[int], object], n: int) -> Callable[[], object]:
    """A timing callable that runs fn(i) on the next of n input sets at every call. Benchmarks
    rotate over distinct inputs: one input repeated lets the branch predictor learn data-dependent
    branches (selections, sorts) and flatters the kernels that have them."""
    state = {"i": 0}

    def run() -> object:
        state["i"] = (state["i"] + 1) % n
        return fn(state["i"])
    return run


def median_seconds(fn: Callable[[], object], min_run_time: float, device: str = "cpu") -> float:
    """Median time of one call (torch.utils.benchmark: warm-up, then blocks of calls)."""
    fn()
    if device == "cuda":
        torch.cuda.synchronize()
    return benchmark.Timer(stmt="fn()", globals={"fn": fn}).blocked_autorange(min_run_time=min_run_time).median


def time_once(fn: Callable[[], object], repeat: int = 3) -> float:
    """Median of a few single calls, for contenders too slow for blocked timing (pure-Python twins)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def alternating_medians(contenders: dict[str, Callable[[int], object]], n_inputs: int, rounds: int,
                        device: str = "cpu") -> dict[str, float]:
    """Median seconds of one call per contender, for whole pipelines too slow for blocked timing: every
    round calls each contender once on the round's input set (fn(i), i rotating over n_inputs), in an
    order that alternates round by round, after one warm-up call each. On a shared machine a burst of
    load then hits both contenders alike instead of whichever was being timed at the moment."""
    names = list(contenders)
    for name in names:
        contenders[name](0)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            if device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            contenders[name](r % n_inputs)
            if device == "cuda":
                torch.cuda.synchronize()
            times[name].append(time.perf_counter() - start)
    return {name: sorted(t)[len(t) // 2] for name, t in times.items()}


def write_rows(path: str, rows: list[dict], device: str = "cpu") -> None:
    """Writes one JSON line per row, each with machine(device)'s facts (a row's own keys win)."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    meta = machine(device)
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps({**meta, **r}) + "\n")


def print_table(rows: list[dict], columns: list[str]) -> None:
    widths = [max(len(c), *(len(_fmt(r.get(c))) for r in rows)) for c in columns]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    for r in rows:
        print("  ".join(_fmt(r.get(c)).ljust(w) for c, w in zip(columns, widths)))


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "" if v is None else str(v)
