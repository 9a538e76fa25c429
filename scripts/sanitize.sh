#!/usr/bin/env bash
# Runs the whole test suite under AddressSanitizer and
# UndefinedBehaviorSanitizer in build-asan/, the CUDA backend built against
# the emulator (tests/cuda_emulator) so that the GPU suite runs there too:
# one build checks the CPU and the emulated GPU code (-O1 -g1: what ASan
# recommends, line tables for its stack traces, and 40% less compile time
# than -O2 -g; the test programs and the CLI at -O0, meson.build says why).
# Any sanitizer report fails the run: UBSan halts on its first error and
# ASan's leak check is on. Extra arguments go to `meson test`.
#   scripts/sanitize.sh [MESON_TEST_ARGS...]
#   scripts/sanitize.sh --build-only
# Env: LIMELIGHT_ASAN_BUILD_DIR (default build-asan), LIMELIGHT_NINJA_JOBS.
set -euo pipefail
cd "$(dirname "$0")/.."

build=${LIMELIGHT_ASAN_BUILD_DIR:-build-asan}
if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" -Db_sanitize=address,undefined -Db_lundef=false -Doptimization=1 -Ddebug=false \
    -Dcpp_args=-g1 -Dc_args=-g1 -Dbench=false -Dgpu_emulator=true >/dev/null
fi
begin=$SECONDS
ninja -C "$build" ${LIMELIGHT_NINJA_JOBS:+-j"$LIMELIGHT_NINJA_JOBS"} >"$build/sanitize-build.log" 2>&1 ||
  { tail -n 40 "$build/sanitize-build.log"; exit 1; }
echo "sanitize: built in $((SECONDS - begin)) s"
if [ "${1:-}" = "--build-only" ]; then exit 0; fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# OpenMP and OpenBLAS threads stay at one per core of this machine's share.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
# Every test but the install check (it links a program against the
# installed library, which ASan's runtime cannot be preloaded for) and the
# quality floors (`model_quality`: many epochs of the training that the
# model, parity and CLI tests already run under the sanitizers, on every
# representation and the fixtures' CNN shapes; 28 s of the pass; the
# floors are the release suite's), and `gpu_ops`, the op case list's second
# registration (the `ops` test runs it here, on the emulated CUDA backend
# too). `--list` prints "project[:suite] / name".
tests=$(meson test -C "$build" --list --no-rebuild 2>/dev/null | awk -F' / ' '{print $NF}' | sort -u |
  grep -vx -e 'cli_install' -e 'model_quality' -e 'gpu_ops')
# shellcheck disable=SC2086
meson test -C "$build" --no-rebuild --print-errorlogs --timeout-multiplier=3 "$@" $tests
