#!/usr/bin/env bash
# Runs the kernel tests against an ASan + UBSan build of the CPU code, with the Hypothesis profile that
# favours edge cases. Called by `make test-sanitize` (part of `make test`). Any sanitizer report aborts
# the run and fails it; the log (with Hypothesis statistics) is kept in build/sanitize.log.
set -euo pipefail
PY=${PY:-.venv/bin/python}
CXX=${CXX:-c++}
SITE=build/asan-site
LOG=build/sanitize.log

MCWES_CUDA=OFF MCWES_SANITIZE=address,undefined "$PY" -m pip install -q --no-build-isolation --no-deps \
  --upgrade --target "$SITE" -Cbuild-dir=build/asan .

# `python -S` skips .pth files, so an editable install of mcwes cannot shadow the sanitized copy; the
# environment's site-packages still comes second on the path for torch, pytest and the rest.
purelib=$("$PY" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
preload="$("$CXX" -print-file-name=libasan.so) $("$CXX" -print-file-name=libubsan.so)"
status=0
env PYTHONPATH="$SITE:$purelib" LD_PRELOAD="$preload" \
  ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:allocator_may_return_null=1 \
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  MCWES_EXPECT_SANITIZE=address,undefined \
  "$PY" -S -m pytest -q -p no:cacheprovider --hypothesis-profile=edge --hypothesis-show-statistics \
  -m "kernel and not compile" tests >"$LOG" 2>&1 || status=$?

grep -E "ERROR: AddressSanitizer|runtime error:|FAILED|Error" "$LOG" | head -40 || true
cases=$( (grep -oE "[0-9]+ passing" "$LOG" || true) | awk '{s += $1} END {print s + 0}')
echo "sanitizer run: ${cases} generated cases passed under ASan+UBSan (log: $LOG)"
tail -n 1 "$LOG"
exit "$status"
