"""One MC-WES training iteration (forward, the seven losses, backward, Adam step): the kernel path
vs the same model on plain PyTorch ops.

    python benchmarks/bench_train_step.py [--quick] [--device cpu|cuda|all] [--threads N]

Paths (same weights, same batch):

- ``kernels``: ``MCWES(config, kernels=True)``: the compiled ``mcwes.ops.cscm_attention`` /
  ``mcwes.ops.duration_mask`` / ``mcwes.ops.topk_pool``.
- ``plain``: ``kernels=False``: their plain-PyTorch fallbacks (the "torch" backend of
  ``mcwes.ops.set_backend``): ``softmax(s·QQᵀ)Q`` with a ``[B,T,T]`` score tensor, sort-based top-K
  pooling, cumsum duration mask.

Correctness first: in eval mode (no dropout) both paths give the same T-CAM and losses. Then each path's
iteration is timed (median after warm-up), and the kernel path is profiled (torch.profiler) to split
its time into matrix products/convolutions (``aten::*mm*``, ``*conv*``, self time) and the rest.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import time
from pathlib import Path
from typing import Any, Callable

import torch
from torch.profiler import ProfilerActivity, profile

import mcwes
from mcwes.config import Config
from mcwes.losses import mcwes_losses

MATMUL = re.compile(r"(mm|conv)", re.IGNORECASE)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="bench_out/train_step.jsonl", help="JSON lines output (one per case)")
    p.add_argument("--quick", action="store_true", help="reduced size (T=100, D=256) for a smoke run")
    p.add_argument("--threads", type=int, default=None, help="torch/mcwes CPU threads (default: torch's)")
    p.add_argument("--device", default="all", choices=["cpu", "cuda", "all"], help="all: CPU, and CUDA when usable")
    p.add_argument("--repeats", type=int, default=5, help="timed iterations per path (median reported)")
    p.add_argument("--batch", type=int, default=10)
    p.add_argument("--T", type=int, default=None, help="snippets per video (default 250; quick 100)")
    p.add_argument("--D", type=int, default=None, help="feature channels per stream (default 1024; quick 256)")
    return p.parse_args()


def select_kernels() -> dict[str, str]:
    """Which implementation the kernel path uses for each op (recorded in every JSON line)."""
    return {"cscm_attention": "mcwes.ops", "duration_mask": "mcwes.ops", "topk_pool": "mcwes.ops"}


def make_case(cfg: Config, B: int, T: int, device: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(B, T, 2 * cfg.model.feature_dim, generator=g).to(device)
    y = torch.tensor([[1, 0], [1, 1], [0, 1], [0, 1], [1, 1], [1, 0]] + [[1, 0]] * (B - 6), dtype=torch.float32)[:B].to(device)
    lengths = torch.full((B,), T, dtype=torch.int64, device=device)
    return x, y, lengths, [(0, 1), (2, 3), (4, 5)]


def check_paths_agree(model: mcwes.MCWES, cfg: Config, case) -> float:
    x, y, lengths, pairs = case
    model.eval()
    results = []
    for kernels in (True, False):
        model.kernels = kernels
        with torch.no_grad():
            out = model(x, lengths)
            terms = mcwes_losses(out, y, cfg.train, pairs, kernels=kernels)
        results.append((out.S, terms))
    (s_k, t_k), (s_p, t_p) = results
    torch.testing.assert_close(s_k, s_p, rtol=2e-3, atol=2e-3)
    for name in t_k:
        torch.testing.assert_close(t_k[name], t_p[name], rtol=2e-3, atol=2e-3)
    return float((s_k - s_p).abs().max())


def iteration(model: mcwes.MCWES, opt: torch.optim.Optimizer, cfg: Config, case) -> Callable[[], None]:
    x, y, lengths, pairs = case

    def run() -> None:
        out = model(x, lengths)
        total = mcwes_losses(out, y, cfg.train, pairs, kernels=model.kernels)["total"]
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
    return run


def median_time(fn: Callable[[], None], repeats: int, device: str) -> float:
    fn()
    fn()
    times = []
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def matmul_split(fn: Callable[[], None], device: str) -> tuple[float, float]:
    """(seconds in matrix products and convolutions, total seconds) of one call, from profiler self times."""
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])
    with profile(activities=activities) as prof:
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
    events = prof.key_averages()
    attr = "self_device_time_total" if device == "cuda" else "self_cpu_time_total"
    total = sum(getattr(e, attr) for e in events)
    mm = sum(getattr(e, attr) for e in events if MATMUL.search(e.key))
    return mm * 1e-6, total * 1e-6


def run_device(device: str, args: argparse.Namespace, used: dict[str, str]) -> list[dict[str, Any]]:
    B = args.batch
    T = args.T or (100 if args.quick else 250)
    D = args.D or (256 if args.quick else 1024)
    cfg = Config.preset("casme2", model={"feature_dim": D}, data={"train_snippets": T})
    torch.manual_seed(0)
    model = mcwes.MCWES(cfg).to(device)
    case = make_case(cfg, B, T, device)
    max_diff = check_paths_agree(model, cfg, case)
    rows = []
    state = {k: v.clone() for k, v in model.state_dict().items()}
    for path in ("kernels", "plain"):
        model.load_state_dict(state)
        model.train()
        model.kernels = path == "kernels"
        opt = torch.optim.Adam(model.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
        fn = iteration(model, opt, cfg, case)
        seconds = median_time(fn, args.repeats, device)
        mm, prof_total = matmul_split(fn, device)
        rows.append({"bench": "train_step", "device": device, "path": path, "B": B, "T": T, "D": D,
                     "seconds": seconds, "matmul_conv_s": mm, "profiled_total_s": prof_total,
                     "total_over_matmul": prof_total / mm if mm else float("nan"),
                     "max_abs_diff_S": max_diff, **{f"impl_{k}": v for k, v in used.items()}})
    rows[0]["speedup_vs_plain"] = rows[1]["seconds"] / rows[0]["seconds"]
    return rows


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = ["cpu", "cuda"] if args.device == "all" else [args.device]
    devices = [d for d in devices if d == "cpu" or torch.cuda.is_available()]
    if not devices:
        raise SystemExit("--device cuda: torch sees no CUDA device")
    used = select_kernels()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    meta = {"machine": platform.machine(), "cpu_count": os.cpu_count(), "threads": torch.get_num_threads(),
            "torch": torch.__version__, "mcwes": mcwes.__version__}
    rows = []
    with open(args.out, "w") as fh:
        for device in devices:
            for row in run_device(device, args, used):
                rows.append(row)
                fh.write(json.dumps({**row, **meta}) + "\n")
    print("kernel path implementations: " + ", ".join(f"{k} = {v}" for k, v in used.items()))
    cols = ["device", "path", "B", "T", "D", "seconds", "speedup_vs_plain", "matmul_conv_s", "profiled_total_s",
            "total_over_matmul"]
    print(" | ".join(cols))
    for r in rows:
        print(" | ".join(f"{r[c]:.4g}" if isinstance(r.get(c), float) else str(r.get(c, "")) for c in cols))


if __name__ == "__main__":
    main()
