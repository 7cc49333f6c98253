"""Memory leaks: 10^4 calls of each op (forward, and backward for the differentiable ones)
keep the process's resident memory flat.

Resident memory is read from /proc/self/statm after a warm-up of 1000 calls (allocator pools, thread
buffers and torch's caches settle there) and again after 10^4 more; the bound is generous (20 MB),
far below what a leak of one output per call would cost (10^4 × a few hundred bytes to KB, plus the
tensor objects). Inputs are tiny. cscm_attention goes through the torch.library dispatcher (about
1 ms per forward and 4 ms per forward+backward call on a busy 2-core machine), so its two cases run
2000 calls after a 200-call warm-up (with half the bound) to keep the file near a minute.
"""
from __future__ import annotations

import gc
import os
import subprocess
import sys

import pytest
import torch

from mcwes import ops

WARMUP, CALLS = 1000, 10_000
BOUND_MB = 20.0
SLOW = {"cscm_attention": (200, 2000), "cscm_attention backward": (200, 2000)}

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc/self/statm (Linux)")


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        resident_pages = int(fh.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _inputs() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 16, 3, generator=g)
    lengths = torch.tensor([16, 9])
    bi, s, e = ops.multi_top_proposals(x[..., 0], lengths, [2, 3, 4])
    return dict(x=x, lengths=lengths, bi=bi, s=s, e=e, att=torch.rand(2, 16, generator=g),
                p=torch.rand(2, 2, generator=g), q=torch.randn(2, 16, 4, generator=g),
                scores=torch.rand(bi.numel(), generator=g))


def _backward(fn, t: torch.Tensor):  # type: ignore[no-untyped-def]
    def call() -> None:
        leaf = t.detach().requires_grad_()
        fn(leaf).sum().backward()
    return call


def _calls():  # type: ignore[no-untyped-def]
    d = _inputs()
    x, att, lengths = d["x"], d["att"], d["lengths"]
    return {
        "topk_pool": lambda: ops.topk_pool(x, 3, lengths),
        "topk_pool backward": _backward(lambda t: ops.topk_pool(t, 3, lengths), x),
        "topk_k": lambda: ops.topk_k(lengths, (7, 9, 5)),
        "cscm_attention": lambda: ops.cscm_attention(d["q"], lengths),
        "cscm_attention backward": _backward(lambda t: ops.cscm_attention(t, lengths), d["q"]),
        "duration_mask": lambda: ops.duration_mask(att, lengths, eta=2, omega_l=1.2, omega_u=1.4),
        "multi_top_proposals": lambda: ops.multi_top_proposals(att, lengths, [2, 3, 4, 5]),
        "outer_inner_scores": lambda: ops.outer_inner_scores(x[..., :2], lengths, d["bi"], d["s"], d["e"], d["p"],
                                                             psi=0.25, varsigma=0.15),
        "nms_1d": lambda: ops.nms_1d(d["bi"], d["s"], d["e"], d["scores"], 0.2),
        "spot_postprocess": lambda: ops.spot_postprocess(att, x[..., :2], d["p"], lengths, m_values=[2, 3, 4, 5],
                                                         psi=0.25, varsigma=0.15),
    }


CALLS_BY_NAME = _calls()


@pytest.mark.parametrize("name", list(CALLS_BY_NAME))
def test_resident_memory_stays_flat(name):
    call = CALLS_BY_NAME[name]
    warmup, calls = SLOW.get(name, (WARMUP, CALLS))
    for _ in range(warmup):
        call()
    gc.collect()
    before = _rss_mb()
    for _ in range(calls):
        call()
    gc.collect()
    grown = _rss_mb() - before
    bound = BOUND_MB if calls == CALLS else BOUND_MB / 2
    assert grown < bound, f"{name}: resident memory grew by {grown:.1f} MB over {calls} calls"


def test_a_leak_would_be_seen():
    """The measurement itself: keeping 10^4 outputs of ~4 KB each alive is visible (> 10 MB). Run in a
    fresh interpreter: in this one, memory freed by earlier tests would be reused without growing RSS."""
    code = (
        "import torch, test_memory as m\n"
        "before = m._rss_mb()\n"
        f"kept = [torch.ones(1024) + i for i in range({CALLS // 2})]\n"
        "print(m._rss_mb() - before)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=os.path.dirname(__file__))
    assert float(out.stdout.strip().splitlines()[-1]) > 10
