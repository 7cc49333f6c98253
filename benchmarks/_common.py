"""Shared by the benchmark programs: timing with warm-up and medians, a table on stdout, JSON lines."""
from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable

import torch
from torch.utils import benchmark


def parser(op: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=f"Benchmark mcwes.ops.{op} against its baselines.")
    p.add_argument("--out", default=f"bench_out/{op}.jsonl", help="JSON lines output path")
    p.add_argument("--quick", action="store_true", help="a short grid and fewer repeats")
    p.add_argument("--threads", type=int, default=1, help="torch/mcwes CPU threads (default 1)")
    return p


def median_seconds(fn: Callable[[], object], min_run_time: float) -> float:
    """Median time of one call (torch.utils.benchmark: warm-up, then blocks of calls)."""
    fn()
    return benchmark.Timer(stmt="fn()", globals={"fn": fn}).blocked_autorange(min_run_time=min_run_time).median


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


def set_threads(n: int) -> None:
    torch.set_num_threads(n)
