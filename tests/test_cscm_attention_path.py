"""cscm_attention's two paths (fused kernel, composite softmax(s·QQᵀ)Q) against the float64 twin, and
the rule that picks one (mcwes.ops.cscm_attention_path / set_cscm_attention_path)."""
from __future__ import annotations

import importlib
import os
import subprocess
import sys

import pytest
import torch
from hypothesis import given

import mcwes
from conftest import TOL, assert_close
from test_cscm_attention import _cases as attention_cases
from mcwes import reference
from mcwes.ops import cscm_attention, cscm_attention_path, get_cscm_attention_path, set_cscm_attention_path

# The module (mcwes.ops.cscm_attention is the op).
MODULE = importlib.import_module("mcwes.ops.cscm_attention")
F32 = dict(rtol=1e-4, atol=1e-4)


def _tol(dtype: torch.dtype) -> dict:
    return F32 if dtype == torch.float32 else TOL[dtype]


def _cases():
    return attention_cases(max_t=90, max_d=24)


@pytest.mark.parametrize("path", ["fused", "composite"])
@given(case=_cases())
def test_each_path_matches_reference(path, case):
    B, T, D, lengths, dtype, scale, seed = case
    q = torch.randn((B, T, D), dtype=dtype, generator=torch.Generator().manual_seed(seed))
    # NaN in the padded rows must not leak into either path's values or gradients.
    q = torch.where(torch.arange(T)[None, :, None] < lengths[:, None, None], q, torch.nan)
    set_cscm_attention_path(path)
    assert cscm_attention_path(q) == path
    qk = q.clone().requires_grad_(True)
    qr = q.clone().to(torch.float64).requires_grad_(True)
    out = cscm_attention(qk, lengths, scale)
    ref = reference.cscm_attention(qr, lengths, scale)
    assert out.dtype == q.dtype and out.shape == q.shape
    assert_close(out, ref, **_tol(dtype))
    g = torch.randn(q.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed + 1))
    (out.to(torch.float64) * g).sum().backward()
    (ref * g).sum().backward()
    assert_close(qk.grad, qr.grad, **_tol(dtype))


@pytest.mark.parametrize("path", ["fused", "composite"])
@pytest.mark.parametrize("scale", [1.0, 0.3])
@pytest.mark.parametrize("lengths", [None, [7, 7], [7, 3]])
def test_full_and_padded_videos_on_each_path(path, scale, lengths):
    # All videos full length: the composite path skips its masking passes (a separate branch).
    q = torch.randn((2, 7, 5), generator=torch.Generator().manual_seed(7))
    set_cscm_attention_path(path)
    qk = q.clone().requires_grad_(True)
    qr = q.clone().to(torch.float64).requires_grad_(True)
    out = cscm_attention(qk, lengths, scale)
    ref = reference.cscm_attention(qr, lengths, scale)
    assert_close(out, ref, **F32)
    out.sum().backward()
    ref.sum().backward()
    assert_close(qk.grad, qr.grad, **F32)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_paths_agree_at_d1024(dtype):
    # The paper's setting (scale 1, D = 1024): logits near ±1000, nearly one-hot rows.
    q = torch.randn((2, 130, 1024), dtype=dtype, generator=torch.Generator().manual_seed(5))
    results = {}
    for path in ("fused", "composite"):
        set_cscm_attention_path(path)
        x = q.clone().requires_grad_(True)
        out = cscm_attention(x, [130, 71])
        out.backward(torch.ones_like(out))
        results[path] = (out.detach(), x.grad)
    tol = dict(rtol=1e-4, atol=5e-4) if dtype == torch.float32 else TOL[dtype]
    for a, b in zip(results["fused"], results["composite"]):
        assert_close(a, b, **tol)


@pytest.fixture
def isa(monkeypatch):
    """Sets the instruction set the rule sees, so it can be tested on any CPU."""
    def set_isa(name: str) -> None:
        monkeypatch.setattr(MODULE, "_kernel_isa", lambda: name)
    return set_isa


def _q(B: int, T: int, dtype=torch.float32, grad: bool = False) -> torch.Tensor:
    # The rule reads shape, dtype, device and requires_grad only: D = 1 keeps huge T cheap.
    return torch.empty((B, T, 1), dtype=dtype).requires_grad_(grad)


@pytest.mark.cscm_attention_path("auto")
def test_auto_is_the_default_outside_the_tests():
    assert get_cscm_attention_path() == "auto"


@pytest.mark.cscm_attention_path("auto")
@pytest.mark.parametrize("kernel_isa", ["avx2", "scalar"])
def test_auto_takes_the_composite_for_short_float32_videos_without_avx512(isa, kernel_isa):
    isa(kernel_isa)
    assert cscm_attention_path(_q(1, 1)) == "composite"
    assert cscm_attention_path(_q(4, MODULE.COMPOSITE_MAX_T)) == "composite"
    assert cscm_attention_path(_q(1, MODULE.COMPOSITE_MAX_T + 1)) == "fused"
    # With a gradient the composite holds on to a longer length ...
    assert cscm_attention_path(_q(1, MODULE.COMPOSITE_MAX_T_GRAD, grad=True)) == "composite"
    assert cscm_attention_path(_q(1, MODULE.COMPOSITE_MAX_T_GRAD + 1, grad=True)) == "fused"
    with torch.no_grad():  # ... but only where one will be computed
        assert cscm_attention_path(_q(1, MODULE.COMPOSITE_MAX_T_GRAD, grad=True)) == "fused"


@pytest.mark.cscm_attention_path("auto")
def test_auto_takes_the_fused_kernel_where_the_composite_would_not_fit(isa):
    isa("avx2")
    T = MODULE.COMPOSITE_MAX_T
    fit = MODULE.COMPOSITE_MAX_BYTES // (3 * T * T * 4)  # videos of length T whose [B, T, T] buffers fit
    assert cscm_attention_path(_q(fit, T)) == "composite"
    assert cscm_attention_path(_q(fit + 1, T)) == "fused"
    assert cscm_attention_path(_q(1, 100_000)) == "fused"  # a long video: memory stays O(T·D)


@pytest.mark.cscm_attention_path("auto")
def test_auto_takes_the_fused_kernel_with_avx512_float64_or_cuda(isa):
    isa("avx512")
    assert cscm_attention_path(_q(1, 10)) == "fused"
    isa("avx2")
    assert cscm_attention_path(_q(1, 10, dtype=torch.float64)) == "fused"
    assert cscm_attention_path(torch.empty((1, 10, 1), device="meta")) == "fused"


@pytest.mark.cscm_attention_path("auto")
def test_auto_follows_the_kernels_instruction_set_cap():
    if mcwes.build_info()["cpu_isa_supported"] == "scalar":
        pytest.skip("this CPU has no AVX2: the cap cannot select it")
    previous = mcwes.set_cpu_isa("avx2")
    try:
        assert cscm_attention_path(_q(1, 250)) == "composite"
    finally:
        mcwes.set_cpu_isa(previous)


@pytest.mark.parametrize("forced", ["fused", "composite"])
def test_a_forced_path_holds_at_any_shape_and_isa(isa, forced):
    set_cscm_attention_path(forced)
    for kernel_isa in ("scalar", "avx2", "avx512"):
        isa(kernel_isa)
        for q in (_q(1, 10), _q(1, 100_000), _q(1, 10, dtype=torch.float64), _q(2, 10, grad=True)):
            assert cscm_attention_path(q) == forced


@pytest.mark.parametrize("bad", ["fast", "Fused", "", None, 1])
def test_bad_path_names_the_allowed_values(bad):
    with pytest.raises(ValueError, match=r"expected path to be one of \('auto', 'fused', 'composite'\)"):
        set_cscm_attention_path(bad)
    assert get_cscm_attention_path() == "fused"  # unchanged


@pytest.mark.parametrize("path", ["fused", "composite"])
def test_the_chosen_path_runs(monkeypatch, path):
    calls = []
    real = MODULE.cscm_attention_torch

    def spy(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)
    monkeypatch.setattr(MODULE, "cscm_attention_torch", spy)
    set_cscm_attention_path(path)
    cscm_attention(torch.randn(1, 5, 3), [4])
    assert len(calls) == (path == "composite")


@pytest.mark.parametrize("path", ["fused", "composite"])
def test_both_paths_check_their_arguments(path):
    set_cscm_attention_path(path)
    q = torch.randn(2, 5, 3)
    with pytest.raises(ValueError, match="lengths"):
        cscm_attention(q, [6, 1])
    with pytest.raises(ValueError, match="scale"):
        cscm_attention(q, None, float("nan"))
    with pytest.raises(TypeError, match="q"):
        cscm_attention(q.to(torch.int32))


@pytest.mark.parametrize("path", ["fused", "composite"])
def test_torch_compile_matches_eager_on_each_path(path):
    set_cscm_attention_path(path)
    q = torch.randn((2, 37, 9), generator=torch.Generator().manual_seed(6))
    lengths = torch.tensor([37, 20])
    compiled = torch.compile(lambda x, n: cscm_attention(x, n), fullgraph=True)
    assert_close(compiled(q, lengths), cscm_attention(q, lengths))
    with pytest.raises(ValueError, match=r"expected lengths to lie in \[0, 37\], got 38"):
        compiled(q, torch.tensor([38, 20]))


@pytest.mark.parametrize("value, expected", [("composite", "composite"), (" Fused ", "fused"), ("", "auto")])
def test_environment_sets_the_path_of_a_new_process(value, expected):
    # Worker processes (the launcher's jobs) inherit the path through MCWES_CSCM_ATTENTION_PATH.
    env = {**os.environ, "MCWES_CSCM_ATTENTION_PATH": value}
    out = subprocess.run([sys.executable, "-c", "import mcwes; print(mcwes.ops.get_cscm_attention_path())"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == expected


def test_a_bad_path_in_the_environment_is_named_at_import():
    env = {**os.environ, "MCWES_CSCM_ATTENTION_PATH": "fastest"}
    out = subprocess.run([sys.executable, "-c", "import mcwes"], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode != 0
    assert "MCWES_CSCM_ATTENTION_PATH" in out.stderr and "'fastest'" in out.stderr and "composite" in out.stderr
