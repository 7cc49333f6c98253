"""Benchmark of mcwes.ops.cscm_attention against the two PyTorch ways of computing it.

Contenders (same inputs, same thread count, same run):
  composite  softmax(scale · q qᵀ + key mask) q, the [B, T, T] matrix materialised
  sdpa       torch.nn.functional.scaled_dot_product_attention(q, q, q, attn_mask, scale=scale)
  fused      the fused kernel (mcwes.ops.set_cscm_attention_path("fused") for its calls)
  mcwes      mcwes.ops.cscm_attention as users call it (path "auto": fused, or the composite where
             mcwes.ops.cscm_attention_path says so; the column "path" records which)
Correctness first (every contender vs the float64 composite on a small case), then the median time of
the forward and of forward + backward (the contenders take turns, one call each per round), and the
peak memory of one forward + backward: CPU resident-set
growth over the call (VmHWM after resetting it via /proc/self/clear_refs, with glibc made to return large
blocks to the OS at once) or torch.cuda.max_memory_allocated on CUDA.

  python benchmarks/bench_cscm_attention.py [--quick] [--threads 2] [--device cpu|cuda] [--isa avx2] [--out FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

# Large blocks must go back to the OS when freed, or resident-set growth under-reports peaks. The
# timings then include the page faults of every large block, for every contender; --no-peak keeps
# glibc's default (a long-running program reusing its heap) and leaves the memory columns out.
if os.environ.get("MALLOC_MMAP_THRESHOLD_") is None and "--no-peak" not in sys.argv:
    os.environ["MALLOC_MMAP_THRESHOLD_"] = "65536"
    os.execv(sys.executable, [sys.executable, *sys.argv])

from _common import add_isa_argument, describe, machine  # applies --isa before torch loads

import torch
import torch.nn.functional as F

import mcwes

SCALE = 1.0


def composite(q: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    s = SCALE * (q @ q.transpose(1, 2))
    if mask is not None:
        s = s.masked_fill(~mask, float("-inf"))
    return torch.softmax(s, dim=-1) @ q


def sdpa(q: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    return F.scaled_dot_product_attention(q, q, q, attn_mask=mask, scale=SCALE)


def ours(q: torch.Tensor, lengths: torch.Tensor, path: str = "auto") -> torch.Tensor:
    previous = mcwes.ops.get_cscm_attention_path()
    mcwes.ops.set_cscm_attention_path(path)
    try:
        return mcwes.ops.cscm_attention(q, lengths, SCALE)
    finally:
        mcwes.ops.set_cscm_attention_path(previous)


def key_mask(lengths: torch.Tensor, T: int) -> torch.Tensor:
    return (torch.arange(T, device=lengths.device)[None, :] < lengths[:, None])[:, None, :]  # [B, 1, T]


def contenders(lengths: torch.Tensor, T: int, full: bool) -> dict:
    mask = None if full else key_mask(lengths, T)
    return {
        "composite": lambda x: composite(x, mask),
        "sdpa": lambda x: sdpa(x, mask),
        "fused": lambda x: ours(x, lengths, "fused"),
        "mcwes": lambda x: ours(x, lengths),
    }


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


CLOCK = {"wall": time.perf_counter, "cpu": time.process_time}


def median_times(fns: dict, reps: int, device: str, clock=time.perf_counter) -> dict:
    """Median time of one call of each contender. The contenders take turns (one call each per
    round), so load from other jobs on a shared machine hits all of them alike and the ratios hold.
    clock=time.process_time measures the CPU time the process got instead of wall time: with one
    thread on a loaded machine, the work done, not the waits for a core."""
    times: dict = {name: [] for name in fns}
    for fn in fns.values():
        fn()
        sync(device)
    for _ in range(reps):
        for name, fn in fns.items():
            start = clock()
            fn()
            sync(device)
            times[name].append(clock() - start)
    return {name: sorted(t)[len(t) // 2] for name, t in times.items()}


def fwd_bwd(f, q: torch.Tensor):
    def run() -> None:
        x = q.detach().requires_grad_(True)
        out = f(x)
        out.backward(torch.ones_like(out))
    return run


def _status_kib(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key):
            return int(line.split()[1])
    raise RuntimeError(key)


def peak_bytes(fn, device: str) -> float:
    """Peak memory above the level before the call (bytes)."""
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        fn()
        torch.cuda.synchronize()
        return float(torch.cuda.max_memory_allocated() - base)
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current resident set
    base = _status_kib("VmRSS:")
    fn()
    return float(_status_kib("VmHWM:") - base) * 1024.0


def check(device: str) -> None:
    g = torch.Generator().manual_seed(0)
    q = (0.04 * torch.randn((3, 300, 1024), generator=g)).to(device)  # logits ~ ±1: a soft softmax
    lengths = torch.tensor([300, 211, 1], device=device)
    valid = torch.arange(300, device=device)[None, :, None] < lengths[:, None, None]
    ref = composite(q.double(), key_mask(lengths, 300)) * valid
    for name, f in contenders(lengths, 300, full=False).items():
        out = f(q)
        if name not in ("mcwes", "fused"):  # baselines give garbage in padded rows; compare valid rows only
            out = out * (torch.arange(300, device=device)[None, :, None] < lengths[:, None, None])
        err = (out.double() - ref).abs().max().item()
        assert err < 1e-3, f"{name}: max error {err} vs the float64 composite"
        print(f"check {name}: max |error| vs float64 = {err:.2e}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="bench_out/cscm_attention.jsonl")
    p.add_argument("--quick", action="store_true", help="B=1, T in {250, 1000}")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--batches", type=int, nargs="+", default=[1, 10], help="B values of the full grid")
    p.add_argument("--lengths", type=int, nargs="+", default=[250, 368, 1000, 4000], help="T values of the full grid")
    p.add_argument("--no-peak", action="store_true",
                   help="no peak-memory measurement, and timings with glibc's default allocator settings")
    p.add_argument("--clock", choices=list(CLOCK), default="wall",
                   help="wall time, or the process's CPU time (meaningful with --threads 1 on a loaded machine)")
    add_isa_argument(p)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("")
    print(f"mcwes {mcwes.__version__}, device {args.device}; {describe(args.device)}")
    meta = machine(args.device)
    check(args.device)
    grid = [(1, 250), (1, 1000)] if args.quick else [(B, T) for B in args.batches for T in args.lengths]
    D = 1024
    header = f"{'B':>3} {'T':>5} | {'fwd ms: comp':>12} {'sdpa':>8} {'fused':>8} {'mcwes':>8} {'x best':>6} " \
             f"{'fused':>6} | {'f+b ms: comp':>12} {'sdpa':>8} {'fused':>8} {'mcwes':>8} {'x best':>6} {'fused':>6} | " \
             f"{'path f/fb':>19} | {'peak MiB: comp':>14} {'sdpa':>7} {'fused':>7}"
    print(header)
    for B, T in grid:
        g = torch.Generator().manual_seed(B * 10000 + T)
        q = torch.randn((B, T, D), generator=g).to(args.device)
        lengths = torch.full((B,), T, dtype=torch.int64, device=args.device)
        reps = args.reps if B * T * T <= 4_000_000 else max(2, args.reps // 2)
        rec = {"B": B, "T": T, "D": D, "scale": SCALE, "threads": args.threads, "device": args.device,
               "clock": args.clock}
        fns = contenders(lengths, T, full=True)
        clock = CLOCK[args.clock]
        fwd = median_times({name: (lambda f=f: f(q)) for name, f in fns.items()}, reps, args.device, clock)
        fwdbwd = median_times({name: fwd_bwd(f, q) for name, f in fns.items()}, reps, args.device, clock)
        for name, f in fns.items():
            rec[f"fwd_s_{name}"] = fwd[name]
            rec[f"fwdbwd_s_{name}"] = fwdbwd[name]
            rec[f"peak_bytes_{name}"] = None if args.no_peak else peak_bytes(fwd_bwd(f, q), args.device)
        best_f = min(rec["fwd_s_composite"], rec["fwd_s_sdpa"])
        best_fb = min(rec["fwdbwd_s_composite"], rec["fwdbwd_s_sdpa"])
        rec["speedup_fwd_vs_best"] = best_f / rec["fwd_s_mcwes"]
        rec["speedup_fwdbwd_vs_best"] = best_fb / rec["fwdbwd_s_mcwes"]
        rec["speedup_fused_fwd_vs_best"] = best_f / rec["fwd_s_fused"]
        rec["speedup_fused_fwdbwd_vs_best"] = best_fb / rec["fwdbwd_s_fused"]
        rec["path_fwd"] = mcwes.ops.cscm_attention_path(q)
        rec["path_fwdbwd"] = mcwes.ops.cscm_attention_path(q.detach().requires_grad_(True))
        with open(args.out, "a") as fh:
            fh.write(json.dumps({**meta, **rec}) + "\n")
        mib = 1 / 2**20
        print(f"{B:>3} {T:>5} | {rec['fwd_s_composite']*1e3:>12.1f} {rec['fwd_s_sdpa']*1e3:>8.1f} "
              f"{rec['fwd_s_fused']*1e3:>8.1f} {rec['fwd_s_mcwes']*1e3:>8.1f} {rec['speedup_fwd_vs_best']:>6.2f} "
              f"{rec['speedup_fused_fwd_vs_best']:>6.2f} | "
              f"{rec['fwdbwd_s_composite']*1e3:>12.1f} {rec['fwdbwd_s_sdpa']*1e3:>8.1f} "
              f"{rec['fwdbwd_s_fused']*1e3:>8.1f} {rec['fwdbwd_s_mcwes']*1e3:>8.1f} {rec['speedup_fwdbwd_vs_best']:>6.2f} "
              f"{rec['speedup_fused_fwdbwd_vs_best']:>6.2f} | {rec['path_fwd']:>9}/{rec['path_fwdbwd']:<9} | "
              + ("" if args.no_peak else f"{rec['peak_bytes_composite']*mib:>14.0f} {rec['peak_bytes_sdpa']*mib:>7.0f} "
                                         f"{rec['peak_bytes_fused']*mib:>7.0f}"), flush=True)


if __name__ == "__main__":
    main()
