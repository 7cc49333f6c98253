"""Shared test settings: Hypothesis profiles, the tolerance table, output poisoning, CUDA skipping."""
from __future__ import annotations

import os

# torch.compile's on-disk caches key compiled graphs by their FX code, not by the Python custom ops
# they call: a graph cached against an earlier mcwes can call an op that no longer exists. The tests
# always compile afresh.
os.environ.setdefault("TORCHINDUCTOR_FX_GRAPH_CACHE", "0")
os.environ.setdefault("TORCHINDUCTOR_AUTOGRAD_CACHE", "0")
# cscm_attention's fused kernel in this process and in every process a test starts (the launcher's
# jobs compare with in-process runs bit for bit); the fixture below sets it per test as well.
os.environ["MCWES_CSCM_ATTENTION_PATH"] = "fused"

import pytest  # noqa: E402
import torch  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

import mcwes  # noqa: E402
from mcwes.ops import _util  # noqa: E402

# dev: quick local runs; ci: what `make test` uses; edge: the sanitizer job (more, nastier cases).
settings.register_profile("dev", max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile(
    "ci", max_examples=60, deadline=None, derandomize=True, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "edge", max_examples=300, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

# One tolerance table keyed by dtype, used by every comparison against a float64 reference.
TOL = {
    torch.float32: dict(rtol=1e-5, atol=1e-5),
    torch.float64: dict(rtol=1e-10, atol=1e-12),
}

GPU = mcwes.build_info()["gpu_usable"] and torch.cuda.is_available()
_NO_GPU = "needs a CUDA build of mcwes, a GPU and a CUDA build of torch"
requires_cuda = pytest.mark.skipif(not GPU, reason=_NO_GPU)

#: Devices a test runs on when it takes the ``device`` fixture: the CPU always, CUDA when usable (those
#: cases are marked ``cuda`` and skip without a GPU).
DEVICES = ["cpu", pytest.param("cuda", marks=requires_cuda)]


@pytest.fixture(params=DEVICES)
def device(request) -> torch.device:
    return torch.device(request.param)


KERNEL_TEST_FILES = {f"test_{name}.py" for name in mcwes.ops.__all__} | {"test_kernels_edge.py"}


def pytest_collection_modifyitems(config, items):
    """Mark the kernel tests (test_<op>.py for every op in mcwes.ops) so the sanitizer job can select
    them, the torch.compile tests, which it leaves out (inductor's compiler runs under LD_PRELOAD), and
    the tests that need a GPU (``cuda``: ``pytest -m cuda`` runs exactly those, tools/gpu_check.sh)."""
    for item in items:
        if any(m.kwargs.get("reason") == _NO_GPU for m in item.iter_markers("skipif")):
            item.add_marker(pytest.mark.cuda)
        if item.path.name in KERNEL_TEST_FILES:
            item.add_marker(pytest.mark.kernel)
        if "compile" in item.name:
            item.add_marker(pytest.mark.compile)


def pytest_sessionstart(session):
    if os.environ.get("MCWES_REQUIRE_GPU", "") not in ("", "0") and not GPU:
        raise pytest.UsageError(
            f"MCWES_REQUIRE_GPU is set, but the CUDA tests would skip: mcwes ({mcwes.__file__}) reports "
            f"{mcwes.build_info()}, torch.cuda.is_available() = {torch.cuda.is_available()}"
        )
    expected = os.environ.get("MCWES_EXPECT_SANITIZE")
    if expected and mcwes.build_info()["sanitize"] != expected:
        raise pytest.UsageError(
            f"MCWES_EXPECT_SANITIZE={expected}, but the imported mcwes ({mcwes.__file__}) was built with "
            f"sanitize={mcwes.build_info()['sanitize']!r}"
        )


@pytest.fixture(autouse=True)
def _poison_outputs():
    """Every kernel output starts as NaN/-1/True, so an element a kernel forgets to write shows up."""
    _util.set_poison(True)
    yield
    _util.set_poison(False)


@pytest.fixture(autouse=True)
def _cscm_attention_path(request):
    """cscm_attention takes its fused kernel in every test (the "auto" rule would hand short float32
    videos on AVX2-only CPUs to the composite, and the kernel tests would stop testing the kernel). A
    test that wants another path says so: ``@pytest.mark.cscm_attention_path("auto")``."""
    marker = request.node.get_closest_marker("cscm_attention_path")
    previous = mcwes.ops.get_cscm_attention_path()
    mcwes.ops.set_cscm_attention_path(marker.args[0] if marker else "fused")
    yield
    mcwes.ops.set_cscm_attention_path(previous)


def assert_close(actual: torch.Tensor, expected: torch.Tensor, dtype: torch.dtype | None = None, **kw) -> None:
    tol = dict(TOL[dtype or actual.dtype])
    tol.update(kw)
    torch.testing.assert_close(actual.to(torch.float64), expected.to(torch.float64), equal_nan=True, **tol)
