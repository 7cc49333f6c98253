"""Thread safety: every op and ``mcwes.spot`` called from 8 Python threads at once on shared
inputs give exactly the results of sequential calls, and the kernels release the GIL while they run."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch

import mcwes
from mcwes import ops
from mcwes.config import Config

THREADS = 8
ROUNDS = 3  # calls per thread


def _inputs() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    B, T, C = 3, 40, 3
    x = torch.randn(B, T, C, generator=g, dtype=torch.float64)
    x[1, 5, 2] = float("nan")
    lengths = torch.tensor([40, 23, 7])
    bi, s, e = ops.multi_top_proposals(x[..., 0], lengths, range(2, 9))
    return dict(x=x, att=torch.rand(B, T, generator=g, dtype=torch.float64), lengths=lengths, bi=bi, s=s, e=e,
                p=torch.rand(B, 2, generator=g, dtype=torch.float64),
                q=torch.randn(2, 70, 8, generator=g, dtype=torch.float64) * 0.5,
                scores=torch.rand(bi.numel(), generator=g, dtype=torch.float64))


def _grad(fn, t: torch.Tensor) -> torch.Tensor:  # type: ignore[no-untyped-def]
    leaf = t.detach().requires_grad_()
    out = fn(leaf)
    (g,) = torch.autograd.grad(out, leaf, torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view(out.shape))
    return g


def _calls(d: dict[str, torch.Tensor]):  # type: ignore[no-untyped-def]
    x, att, lengths = d["x"], d["att"], d["lengths"]
    return {
        "topk_pool": lambda: (ops.topk_pool(x, 4, lengths),),
        "topk_pool backward": lambda: (_grad(lambda t: ops.topk_pool(t, torch.tensor([1, 3, 50]), lengths), x),),
        "topk_k": lambda: (ops.topk_k(lengths, (7, 9, 5)),),
        "cscm_attention": lambda: (ops.cscm_attention(d["q"], [70, 33]),),
        "cscm_attention backward": lambda: (_grad(lambda t: ops.cscm_attention(t, [70, 33]), d["q"]),),
        "duration_mask": lambda: (ops.duration_mask(att, lengths, eta=2, omega_l=1.2, omega_u=1.4),),
        "multi_top_proposals": lambda: ops.multi_top_proposals(att, lengths, range(2, 12)),
        "outer_inner_scores": lambda: (ops.outer_inner_scores(x[..., :2], lengths, d["bi"], d["s"], d["e"], d["p"],
                                                              psi=0.25, varsigma=0.15),),
        "nms_1d": lambda: (ops.nms_1d(d["bi"], d["s"], d["e"], d["scores"], 0.2),),
        "spot_postprocess": lambda: tuple(ops.spot_postprocess(att, x[..., :2], d["p"], lengths, m_values=range(2, 12),
                                                               psi=0.25, varsigma=0.15, nms_threshold=0.2,
                                                               score_threshold=-float("inf"))),
    }


def _same(a: tuple[torch.Tensor, ...], b: tuple[torch.Tensor, ...]) -> None:
    assert len(a) == len(b)
    for u, v in zip(a, b):
        torch.testing.assert_close(u, v, rtol=0, atol=0, equal_nan=True)


def test_every_op_concurrently_matches_sequential():
    """All ops at once: each of 8 threads runs every op ROUNDS times on the same shared tensors."""
    inputs = _inputs()
    calls = _calls(inputs)
    expected = {name: call() for name, call in calls.items()}
    before = {k: v.clone() for k, v in inputs.items()}

    def worker(_: int) -> dict[str, list[tuple[torch.Tensor, ...]]]:
        return {name: [call() for _ in range(ROUNDS)] for name, call in calls.items()}

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(worker, range(THREADS)))
    for result in results:
        for name, outs in result.items():
            for out in outs:
                _same(out, expected[name])
    for k, v in inputs.items():  # the shared inputs are read, never written
        torch.testing.assert_close(v, before[k], rtol=0, atol=0, equal_nan=True)


def test_spot_concurrently_matches_sequential():
    torch.manual_seed(0)
    cfg = Config.preset("casme2", model={"feature_dim": 16, "attention_hidden": 8})
    net = mcwes.MCWES(cfg).eval()
    g = torch.Generator().manual_seed(1)
    videos = [torch.randn(T, 32, generator=g) for T in (60, 45, 90)]
    kw = dict(score_threshold=0.0, names=["a", "b", "c"])
    expected = mcwes.spot(videos, net, **kw)
    assert any(len(p) for p in expected)  # something to compare
    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(lambda _: [mcwes.spot(videos, net, **kw) for _ in range(ROUNDS)], range(THREADS)))
    for per_thread in results:
        for got in per_thread:
            assert got == expected


def test_kernels_release_the_gil():
    """A Python thread keeps running while another thread is inside a long cscm_attention call.

    The counting thread timestamps its progress; with the GIL held for the whole kernel it could not
    run at all in the middle of the call. Generous bound: at least 20 of its steps (each ~1 µs of
    Python) land in the middle 80% of a call that lasts tens of milliseconds or more."""
    q = torch.randn(1, 1500, 64, generator=torch.Generator().manual_seed(0))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # leave a core to the counting thread
    stamps: list[float] = []
    stop = threading.Event()

    def count() -> None:
        while not stop.is_set():
            stamps.append(time.perf_counter())
            for _ in range(200):
                pass

    try:
        ops.cscm_attention(q[:, :64])  # warm-up outside the measurement
        counter = threading.Thread(target=count)
        counter.start()
        time.sleep(0.01)
        t0 = time.perf_counter()
        ops.cscm_attention(q)
        t1 = time.perf_counter()
        stop.set()
        counter.join()
    finally:
        torch.set_num_threads(threads)
    lo, hi = t0 + 0.1 * (t1 - t0), t1 - 0.1 * (t1 - t0)
    inside = sum(lo <= s <= hi for s in stamps)
    assert inside >= 20, f"only {inside} steps of the other thread during a {t1 - t0:.3f} s kernel call"


@pytest.mark.parametrize("name", ["topk_pool", "spot_postprocess"])
def test_one_op_hammered_from_eight_threads(name):
    """One op alone from 8 threads (more overlap of the same kernel than the mixed test)."""
    call = _calls(_inputs())[name]
    expected = call()
    with ThreadPoolExecutor(THREADS) as pool:
        for out in pool.map(lambda _: call(), range(THREADS * 25)):
            _same(out, expected)
