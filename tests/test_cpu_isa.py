"""The CPU instruction-set query and cap, and cscm_attention against its float64 twin on every
instruction-set path this CPU can run (scalar, AVX2 + FMA, AVX-512), switched in-process."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import mcwes
from conftest import assert_close
from mcwes import reference
from mcwes.ops import cscm_attention

ORDER = ["scalar", "avx2", "avx512"]
SUPPORTED = mcwes.build_info()["cpu_isa_supported"]
AVAILABLE = ORDER[: ORDER.index(SUPPORTED) + 1]


@pytest.fixture
def restore_cap():
    previous = mcwes.set_cpu_isa(None)
    mcwes.set_cpu_isa(previous)
    yield
    mcwes.set_cpu_isa(previous)


def test_query_and_build_info(restore_cap):
    info = mcwes.build_info()
    assert info["cpu_isa"] in ORDER and info["cpu_isa_supported"] in ORDER and info["cpu_isa_cap"] in ORDER
    assert ORDER.index(info["cpu_isa"]) <= ORDER.index(info["cpu_isa_supported"])
    assert isinstance(info["cpu_model"], str) and info["cpu_model"]
    assert mcwes.cpu_isa() == info["cpu_isa"]


@pytest.mark.parametrize("cap", ORDER)
def test_cap_limits_the_level(cap, restore_cap):
    mcwes.set_cpu_isa(cap)
    assert mcwes.cpu_isa() == ORDER[min(ORDER.index(cap), ORDER.index(SUPPORTED))]
    assert mcwes.build_info()["cpu_isa_cap"] == cap
    previous = mcwes.set_cpu_isa(None)
    assert previous == cap and mcwes.cpu_isa() == SUPPORTED


def test_bad_cap(restore_cap):
    with pytest.raises(ValueError, match=r'mcwes\.set_cpu_isa: expected one of "scalar", "avx2", "avx512", got "sse"'):
        mcwes.set_cpu_isa("sse")
    with pytest.raises(TypeError, match=r"mcwes\.set_cpu_isa: expected name to be a str or None, got int"):
        mcwes.set_cpu_isa(2)  # type: ignore[arg-type]
    assert mcwes.cpu_isa() == SUPPORTED  # a rejected cap changes nothing


def _import_with(value: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MCWES_CPU_ISA": value}
    return subprocess.run([sys.executable, "-c", "import mcwes; print(mcwes.cpu_isa())"], env=env,
                          capture_output=True, text=True, timeout=300)


def test_environment_variable_caps_at_import():
    done = _import_with("scalar")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "scalar"
    bad = _import_with("avx3")
    assert bad.returncode != 0
    assert 'environment variable MCWES_CPU_ISA: expected one of "scalar", "avx2", "avx512", got "avx3"' in bad.stderr


@st.composite
def _cases(draw):
    # Shapes that cross the 64-row blocks, the 6- and 12-row register tiles and the 16-column strips.
    B = draw(st.integers(1, 2))
    T = draw(st.integers(1, 140))
    D = draw(st.integers(1, 70))
    lengths = [draw(st.integers(0, T)) for _ in range(B)]
    dtype = draw(st.sampled_from([torch.float32, torch.float64]))
    scale = draw(st.sampled_from([1.0, 0.3, -0.5]))
    seed = draw(st.integers(0, 2**31 - 1))
    return B, T, D, lengths, dtype, scale, seed


# Kernel tests (the sanitizer job runs them too); at most 60 cases per path whatever the profile.
@pytest.mark.kernel
@pytest.mark.parametrize("isa", AVAILABLE)
@settings(max_examples=min(settings.default.max_examples, 60))
@given(case=_cases())
def test_cscm_attention_matches_reference_on_each_isa(isa, case):
    B, T, D, lengths, dtype, scale, seed = case
    q = torch.randn((B, T, D), dtype=dtype, generator=torch.Generator().manual_seed(seed))
    previous = mcwes.set_cpu_isa(isa)
    try:
        assert mcwes.cpu_isa() == isa
        qk = q.clone().requires_grad_(True)
        out = cscm_attention(qk, lengths, scale)
        g = torch.randn(q.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed + 1))
        (out.to(torch.float64) * g).sum().backward()
    finally:
        mcwes.set_cpu_isa(previous)
    qr = q.to(torch.float64).requires_grad_(True)
    ref = reference.cscm_attention(qr, lengths, scale)
    (ref * g).sum().backward()
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == torch.float32 else {}
    assert_close(out, ref, dtype, **tol)
    assert_close(qk.grad, qr.grad, dtype, **tol)


@pytest.mark.kernel
def test_paths_agree_at_paper_size(restore_cap):
    # D = 1024, scale 1: logits near ±1000 on random features. Every path gives the same output and
    # gradient to float32 rounding (they differ only in summation order and the exp polynomial).
    q = torch.randn((2, 150, 1024), generator=torch.Generator().manual_seed(5))
    g = torch.randn(q.shape, generator=torch.Generator().manual_seed(6))
    results = {}
    for isa in AVAILABLE:
        mcwes.set_cpu_isa(isa)
        x = q.clone().requires_grad_(True)
        out = cscm_attention(x, [150, 77])
        (out * g).sum().backward()
        results[isa] = (out.detach(), x.grad)
    base_out, base_grad = results["scalar"]
    for _isa, (out, grad) in results.items():
        assert_close(out, base_out, rtol=1e-5, atol=1e-5)
        assert_close(grad, base_grad, rtol=1e-4, atol=5e-4)
