"""Shared by the benchmark programs: timing with warm-up and medians, a table on stdout, JSON lines,
and the machine facts every JSON line carries.

Benchmarks are programs, not tests: each one checks correctness first, then times every contender in
the same run so that ratios (not absolute times, which are noisy on shared machines) are reported.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from typing import Any

import torch
from torch.utils import benchmark


def parser(op: str, threads: int | None = 1) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=f"Benchmark mcwes.ops.{op} against its baselines.")
    p.add_argument("--out", default=f"bench_out/{op}.jsonl", help="JSON lines output path")
    p.add_argument("--quick", action="store_true", help="a short grid and fewer repeats")
    p.add_argument("--threads", type=int, default=threads,
                   help=f"torch/mcwes CPU threads (default {threads or 'torch default'})")
    return p


def set_threads(n: int | None) -> None:
    if n:
        torch.set_num_threads(n)


def machine(device: str = "cpu") -> dict[str, Any]:
    """What each JSON line records about the run."""
    import mcwes

    return {
        "machine": platform.machine(), "cpu_count": os.cpu_count(), "threads": torch.get_num_threads(),
        "torch": torch.__version__, "mcwes": mcwes.__version__,
        "device": torch.cuda.get_device_name() if device == "cuda" else (platform.processor() or "cpu"),
    }


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


def write_rows(path: str, rows: list[dict]) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")


def print_table(rows: list[dict], columns: list[str]) -> None:
    widths = [max(len(c), *(len(_fmt(r.get(c))) for r in rows)) for c in columns]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    for r in rows:
        print("  ".join(_fmt(r.get(c)).ljust(w) for c, w in zip(columns, widths)))


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "" if v is None else str(v)
