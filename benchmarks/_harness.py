"""Shared benchmark plumbing: medians with warm-up, a JSON line per case, a table on stdout.

Benchmarks are programs, not tests: each one checks correctness first, then times every contender in
the same run so that ratios (not absolute times, which are noisy on shared machines) are reported.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils import benchmark as tbench


def parser(name: str, description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--out", default=f"bench_out/{name}.jsonl", help="JSON lines output (one per case)")
    p.add_argument("--quick", action="store_true", help="a short grid for a smoke run")
    p.add_argument("--threads", type=int, default=None, help="torch/mcwes CPU threads (default: torch's)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--min-run-time", type=float, default=0.4, help="seconds of timing per contender and case")
    return p


def setup(args: argparse.Namespace) -> dict[str, Any]:
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: torch sees no CUDA device")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("")
    import mcwes

    return {
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "mcwes": mcwes.__version__,
        "device": torch.cuda.get_device_name() if args.device == "cuda" else platform.processor() or "cpu",
    }


def time_it(fn: Callable[[], Any], min_run_time: float, device: str = "cpu") -> float:
    """Median seconds per call (torch.utils.benchmark: warm-up, then blocks of runs)."""
    fn()
    if device == "cuda":
        torch.cuda.synchronize()
    timer = tbench.Timer(stmt="fn()", globals={"fn": fn})
    return float(timer.blocked_autorange(min_run_time=min_run_time).median)


def time_once(fn: Callable[[], Any], repeat: int = 3) -> float:
    """Median of a few single calls, for contenders too slow for blocked timing (pure-Python twins)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def emit(path: str, record: dict[str, Any]) -> None:
    with open(path, "a") as fh:
        fh.write(json.dumps(record) + "\n")


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.3g}" if abs(v) < 1e4 else f"{v:.3e}"
        return str(v)

    cells = [[fmt(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) if cells else len(c) for i, c in enumerate(columns)]
    lines = [" | ".join(c.rjust(w) for c, w in zip(columns, widths)), "-+-".join("-" * w for w in widths)]
    lines += [" | ".join(v.rjust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)
