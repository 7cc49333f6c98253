#!/usr/bin/env bash
# The GPU check: on a machine with an NVIDIA GPU, build mcwes with its CUDA kernels, run every CUDA test
# and the kernel tests against that build, run every benchmark that has a CUDA path with
# `--device cuda --quick`, and print a summary to paste into benchmarks/RESULTS.md. `make gpu-check`.
#
#   tools/gpu_check.sh               the whole check (about 5 minutes on one H200, build included)
#   tools/gpu_check.sh --build-only  only build with MCWES_CUDA=ON and check the CUDA kernels are in it:
#                                    needs nvcc, not a GPU (what to run after editing a .cu file)
#
# Without a GPU (no nvidia-smi listing one, no /dev/nvidia0) it says so and exits 0.
#
# Nothing is downloaded: GPU machines are often offline. The script uses a Python that already has a
# CUDA build of torch: $PY if set, else the first of .venv/bin/python, python3, python whose torch sees
# a GPU. mcwes requires torch >= 2.13 (what CI tests), but a GPU image often holds an older one that
# cannot be replaced offline (the lent H200 image had 2.11): the check accepts torch >= 2.11 (the op
# tests pass on the CPU with 2.11.0 and pybind11 2.13.6, checked 2026-12-03) and says so in the summary.
# That Python must also have the build tools (scikit-build-core, pybind11 >= 2.13, cmake,
# ninja) and, for the tests, pytest and hypothesis; mcwes's other dependencies (numpy, pandas, pyyaml,
# matplotlib, tqdm) for the benchmarks. A carried .venv made by `make venv` on an x86-64 Linux
# machine works if its torch is a CUDA build; a stock CUDA/PyTorch image usually has everything.
# nvcc is taken from $CUDACXX, PATH, or /usr/local/cuda/bin.
#
# mcwes is built into build/gpu-check/site (build tree build/gpu-check/build) with pip's --target, so
# the environment's own packages are left alone; architectures: the project's default list (sm_80,
# sm_90, compute_90 PTX) for --build-only, the GPU's own (nvidia-smi's compute_cap, e.g. "90-real") for the
# whole check, or MCWES_CUDA_ARCHITECTURES when set.
# Everything the run prints goes to build/gpu-check/log; the summary also to build/gpu-check/summary.md.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
WORK=${MCWES_GPU_CHECK_DIR:-build/gpu-check}
case "$WORK" in /*) ;; *) WORK=$ROOT/$WORK ;; esac  # absolute: the tests run from elsewhere too
SITE=$WORK/site
LOG=$WORK/log
SUMMARY=$WORK/summary.md
BUILD_ONLY=0
case "${1:-}" in
  --build-only) BUILD_ONLY=1 ;;
  "") ;;
  *) echo "usage: tools/gpu_check.sh [--build-only]" >&2; exit 2 ;;
esac

say() { echo "gpu-check: $*"; }
die() { echo "gpu-check: FAILED: $*" >&2; exit 1; }

# ---- 1. is there a GPU? ---------------------------------------------------------------------------
gpu_name=""
if command -v nvidia-smi >/dev/null 2>&1; then
  gpu_name=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -n 1)
fi
if [ "$BUILD_ONLY" = 0 ] && [ -z "$gpu_name" ] && [ ! -e /dev/nvidia0 ]; then
  say "no NVIDIA GPU on this machine (nvidia-smi lists none, no /dev/nvidia0): nothing to check here."
  say "run it on a machine with a GPU; \`tools/gpu_check.sh --build-only\` checks that the CUDA code compiles."
  exit 0
fi

# ---- 2. a Python with torch (a CUDA build of it unless --build-only) -----------------------------
pick_python() {
  local candidates=() c report=""
  if [ -n "${PY:-}" ]; then candidates=("$PY"); else candidates=(.venv/bin/python python3 python); fi
  for c in "${candidates[@]}"; do
    command -v "$c" >/dev/null 2>&1 || { report+="  $c: not found"$'\n'; continue; }
    local out
    out=$("$c" - "$BUILD_ONLY" <<'EOF' 2>&1
import sys
try:
    import torch
except Exception as e:  # noqa: BLE001
    print(f"no torch ({e})"); sys.exit(1)
major, minor = (int(v) for v in torch.__version__.split("+")[0].split(".")[:2])
if (major, minor) < (2, 11):
    print(f"torch {torch.__version__} is older than 2.11, the oldest this check has run with"); sys.exit(1)
if sys.argv[1] == "0" and not torch.cuda.is_available():
    print(f"torch {torch.__version__} sees no GPU (CUDA build: {torch.version.cuda or 'no'})"); sys.exit(1)
note = "" if (major, minor) >= (2, 13) else " (older than 2.13, the release mcwes requires and CI tests: figures are for this torch)"
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}{note}")
EOF
)
    if [ $? = 0 ]; then PYBIN=$(command -v "$c"); TORCH_INFO=$out; return 0; fi
    report+="  $c: $out"$'\n'
  done
  echo "gpu-check: FAILED: no Python with a usable torch; tried:" >&2
  printf '%s' "$report" >&2
  echo "gpu-check: set PY=/path/to/python (one whose torch is a CUDA build, >= 2.11)" >&2
  exit 1
}
pick_python
say "python: $PYBIN ($TORCH_INFO)"

missing=$("$PYBIN" - <<'EOF'
import importlib.util, shutil
need = ["scikit_build_core", "pybind11", "numpy", "yaml", "pandas", "matplotlib", "tqdm", "pytest", "hypothesis"]
missing = [m for m in need if importlib.util.find_spec(m) is None]
if importlib.util.find_spec("cmake") is None and shutil.which("cmake") is None:
    missing.append("cmake")
if importlib.util.find_spec("ninja") is None and shutil.which("ninja") is None:
    missing.append("ninja")
print(" ".join(missing))
EOF
)
[ -z "$missing" ] || die "$PYBIN lacks: $missing (pip install them into it, or carry their wheels to an offline machine)"

if [ -z "${CUDACXX:-}" ]; then
  if command -v nvcc >/dev/null 2>&1; then CUDACXX=$(command -v nvcc)
  elif [ -x /usr/local/cuda/bin/nvcc ]; then CUDACXX=/usr/local/cuda/bin/nvcc
  else die "no CUDA compiler: nvcc is not on PATH nor in /usr/local/cuda/bin (set CUDACXX)"; fi
fi
export CUDACXX
nvcc_version=$("$CUDACXX" --version | sed -n 's/.*release \([0-9.]*\).*/\1/p')
say "nvcc: $CUDACXX ($nvcc_version)"

mkdir -p "$WORK"
: >"$LOG"
start_all=$(date +%s)

# ---- 3. build with CUDA ---------------------------------------------------------------------------
# With a GPU and no MCWES_CUDA_ARCHITECTURES: build for that GPU alone (e.g. 90-real on an H200), a third
# of the default list's compile time; --build-only keeps the default list (what a wheel ships).
if [ -z "${MCWES_CUDA_ARCHITECTURES:-}" ] && [ "$BUILD_ONLY" = 0 ] && command -v nvidia-smi >/dev/null 2>&1; then
  cap=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n 1 | tr -d ' .')
  case "$cap" in ''|*[!0-9]*) ;; *) MCWES_CUDA_ARCHITECTURES="$cap-real" ;; esac
fi
arch_opt=()
[ -z "${MCWES_CUDA_ARCHITECTURES:-}" ] || arch_opt=("-Ccmake.define.MCWES_CUDA_ARCHITECTURES=$MCWES_CUDA_ARCHITECTURES")
say "building mcwes with MCWES_CUDA=ON (architectures: ${MCWES_CUDA_ARCHITECTURES:-the default list}) into $SITE (log: $LOG)"
t0=$(date +%s)
if ! MCWES_CUDA=ON CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)} \
    "$PYBIN" -m pip install --no-build-isolation --no-deps --no-index --upgrade --target "$SITE" \
    -Cbuild-dir="$WORK/build" "${arch_opt[@]}" . >>"$LOG" 2>&1; then
  tail -n 40 "$LOG" >&2
  die "the CUDA build failed (whole log: $LOG)"
fi
build_s=$(( $(date +%s) - t0 ))

# Run Python with the fresh build first on the path. An editable install of mcwes in that environment
# would still win through its import hook; then fall back to `python -S` (no .pth files), with the
# environment's site-packages after the build, as tools/run_sanitized_tests.sh does.
purelib=$("$PYBIN" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
PYRUN=(env PYTHONPATH="$SITE" "$PYBIN")
where=$("${PYRUN[@]}" -c "import mcwes; print(mcwes.__file__)" 2>>"$LOG")
case "$where" in
  "$SITE"/*) ;;
  *) PYRUN=(env PYTHONPATH="$SITE:$purelib" "$PYBIN" -S) ;;
esac
info=$("${PYRUN[@]}" - "$SITE" <<'EOF' 2>&1
import json, sys
import mcwes
assert mcwes.__file__.startswith(sys.argv[1]), f"imported {mcwes.__file__}, not the fresh build"
info = mcwes.build_info()
assert info["cuda"], f"the build has no CUDA kernels: {info}"
print(json.dumps(info))
EOF
) || die "the fresh build does not import as a CUDA build: $info"
say "built in ${build_s}s: $info"
if [ "$BUILD_ONLY" = 1 ]; then
  say "build-only: the CUDA kernels compile and load (no GPU needed for this part)"
  exit 0
fi
"${PYRUN[@]}" -c "import mcwes, sys; sys.exit(0 if mcwes.build_info()['gpu_usable'] else 1)" \
  || die "the CUDA build finds no usable GPU: $info"

# ---- 4. tests: every CUDA test, then the other kernel tests, against the CUDA build ----------------
failures=()
ops=$("${PYRUN[@]}" -c "import mcwes; print(' '.join(mcwes.ops.__all__))")
files=()
for f in tests/test_build.py tests/test_kernels_edge.py; do [ -e "$f" ] && files+=("$f"); done
for op in $ops; do [ -e "tests/test_$op.py" ] && files+=("tests/test_$op.py"); done
run_tests() {  # $1: label, $2: marker expression
  local line
  say "pytest -m \"$2\" (${#files[@]} files)"
  MCWES_REQUIRE_GPU=1 "${PYRUN[@]}" -m pytest -q -p no:cacheprovider --hypothesis-profile=ci -m "$2" "${files[@]}" \
    >"$WORK/tests-$1.log" 2>&1
  local rc=$?
  cat "$WORK/tests-$1.log" >>"$LOG"
  line=$(tail -n 1 "$WORK/tests-$1.log")
  test_lines+=("| $1 (\`-m \"$2\"\`) | $line |")
  if [ $rc != 0 ]; then
    failures+=("tests $1")
    grep -E "^(FAILED|ERROR)" "$WORK/tests-$1.log" | head -n 20 >&2
  fi
  say "$1: $line"
}
test_lines=()
t0=$(date +%s)
run_tests cuda "cuda"
run_tests kernel "kernel and not cuda"
tests_s=$(( $(date +%s) - t0 ))

# ---- 5. benchmarks with a CUDA path -----------------------------------------------------------------
# bench_nms_1d, bench_spot_postprocess and bench_evaluate have no CUDA path: nms_1d and spot_postprocess
# are host ops (their inputs are a few KB; csrc/README.md says why) and evaluation is NumPy.
benches=(
  "bench_topk_pool.py --quick --device cuda --min-run-time 0.2"
  "bench_cscm_attention.py --quick --device cuda"
  "bench_outer_inner_scores.py --quick --device cuda"
  "bench_spot.py --quick --device cuda --min-run-time 0.3"
  "bench_train_step.py --quick --device cuda"
)
bench_blocks=()
t0=$(date +%s)
for b in "${benches[@]}"; do
  name=${b%%.py*}
  say "benchmarks/$b"
  # shellcheck disable=SC2086
  timeout 240 "${PYRUN[@]}" benchmarks/$b --out "$WORK/$name.jsonl" >"$WORK/$name.log" 2>&1
  rc=$?
  cat "$WORK/$name.log" >>"$LOG"
  if [ $rc != 0 ]; then
    failures+=("$name (exit $rc)")
    tail -n 15 "$WORK/$name.log" >&2
    bench_blocks+=("#### \`python benchmarks/$b\` — FAILED (exit $rc, log $WORK/$name.log)")
  else
    bench_blocks+=("#### \`python benchmarks/$b\`"$'\n\n```\n'"$(cat "$WORK/$name.log")"$'\n```')
  fi
done
bench_s=$(( $(date +%s) - t0 ))
total_s=$(( $(date +%s) - start_all ))

# ---- 6. the summary -----------------------------------------------------------------------------------
{
  echo "### GPU check, $(date -u +%Y-%m-%d) (\`make gpu-check\`, commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'))"
  echo
  echo "GPU: ${gpu_name:-unknown (no nvidia-smi)}; nvcc $nvcc_version; $TORCH_INFO; CPU: $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1), $(nproc) cores."
  echo "Build (${build_s}s): \`$info\`"
  echo
  echo "| tests | result |"
  echo "|---|---|"
  printf '%s\n' "${test_lines[@]}"
  echo
  echo "Times: build ${build_s}s, tests ${tests_s}s, benchmarks ${bench_s}s, total ${total_s}s."
  echo
  printf '%s\n\n' "${bench_blocks[@]}"
  if [ ${#failures[@]} = 0 ]; then echo "All passed."; else echo "FAILED: ${failures[*]}"; fi
} >"$SUMMARY"
echo
echo "================ summary (also in $SUMMARY) ================"
cat "$SUMMARY"
[ ${#failures[@]} = 0 ]
