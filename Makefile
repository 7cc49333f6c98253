# The two set-up commands of the README: `make demo` (the main job) and `make test` (the whole test
# suite). Both create .venv, install torch==2.13.0 there when torch is missing, build and install
# mcwes, then run. Nothing needs to be installed by hand first.
#
# CUDA kernels (docs/decisions.md, "Build"): `make test` (CI) builds them whenever nvcc is found, so
# they are always compile-checked; `make demo` builds them only when a GPU is visible (nvidia-smi lists
# one), because without a GPU they cannot run and compiling them for three architectures is most of a
# fresh clone's build time. `make demo` also installs only what the demo needs (no test/lint extras).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
CXX ?= c++
BUILD_DEPS := "scikit-build-core>=0.10" "pybind11>=3" "cmake>=3.24" ninja

.PHONY: demo test lint format test-unit test-sanitize install install-demo venv bench gpu-check clean

# AUTO (build the CUDA kernels when nvcc is found) on a machine with a visible GPU, else OFF; an
# MCWES_CUDA set in the environment wins.
DEMO_CUDA := $(or $(MCWES_CUDA),$(shell nvidia-smi -L 2>/dev/null | grep -q '^GPU' && echo AUTO || echo OFF))

venv:
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -c "import torch" 2>/dev/null || $(PIP) install "torch==2.13.0"
	$(PIP) install -q $(BUILD_DEPS)

install: venv
	$(PIP) install --no-build-isolation ".[test,lint]"

install-demo: venv
	MCWES_CUDA=$(DEMO_CUDA) $(PIP) install --no-build-isolation .

demo: install-demo
	$(VENV)/bin/mcwes demo

test: lint test-unit test-sanitize

# The C++ and CUDA sources clang-format checks and `make format` rewrites (style: .clang-format).
CXX_SOURCES = $(shell find csrc cuda -type f \( -name '*.h' -o -name '*.cpp' -o -name '*.cuh' -o -name '*.cu' \) | sort)

# ruff and mypy (both configured in pyproject.toml) over the Python code, clang-format over csrc/ and cuda/;
# any finding fails `make test` before the tests run. The three tools come with the `lint` extra.
lint: install
	$(PY) -m ruff check .
	$(PY) -m mypy python/mcwes
	$(VENV)/bin/clang-format --dry-run --Werror $(CXX_SOURCES)

# Rewrite csrc/ and cuda/ in the .clang-format style (what `make lint` checks).
format:
	test -x $(VENV)/bin/clang-format || $(MAKE) install
	$(VENV)/bin/clang-format -i $(CXX_SOURCES)

test-unit: install
	$(PY) -m pytest -q -p no:cacheprovider --hypothesis-profile=ci tests

# The kernel tests again, against a copy of the extension built with ASan + UBSan, with the Hypothesis
# profile that favours edge cases (tools/run_sanitized_tests.sh).
test-sanitize: install
	PY=$(PY) CXX=$(CXX) tools/run_sanitized_tests.sh

# On a machine with an NVIDIA GPU: build with CUDA, run every CUDA test and the CUDA benchmarks, print a
# summary for benchmarks/RESULTS.md (tools/gpu_check.sh says what it needs; it downloads nothing). Without
# a GPU it says so and exits 0.
gpu-check:
	tools/gpu_check.sh

bench: install
	for b in benchmarks/bench_*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf build dist *.egg-info
