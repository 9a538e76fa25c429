#!/usr/bin/env bash
# Builds the CUDA backend against the CPU emulator (tests/cuda_emulator) and
# runs the GPU suite on it; prints `N passed, N failed` last. No GPU and no
# CUDA toolkit needed: the kernels of kernels/ compile as C++ and each CUDA
# thread runs as an OS thread (docs/gpu.md, "The emulator").
#   scripts/test_gpu_emulated.sh          build-gpu-emulated/, full sizes, then
#                                         limelight-gpu-bench's emulator counts
#   scripts/test_gpu_emulated.sh --tsan   build-gpu-tsan/, ThreadSanitizer
#                                         (smaller top-k cases); any race fails
# Extra arguments go to `meson test`. Env: LIMELIGHT_NINJA_JOBS.
set -euo pipefail
cd "$(dirname "$0")/.."

# -O1 with line tables only: sanitizer reports keep file and line, and the
# build takes 40% less time than at -O2 -g.
options=(-Dgpu_emulator=true -Doptimization=1 -Ddebug=false -Dcpp_args=-g1 -Dc_args=-g1)
targets=(tests/gpu/test_gpu src/cli/limelight)
suites=(--suite gpu)
counts=
if [ "${1:-}" = "--tsan" ]; then
  shift
  options+=(-Dbench=false)
  build=${LIMELIGHT_GPU_TSAN_BUILD_DIR:-build-gpu-tsan}
  options+=(-Db_sanitize=thread -Db_lundef=false)
  # Any report fails the test; the top-k cases, slowest under the
  # sanitizer, take smaller catalogues (tests/gpu/gpu_test.hpp).
  export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:exitcode=66:second_deadlock_stack=1}
  export LIMELIGHT_GPU_TEST_REDUCED=1
  # The CPU reference runs single-threaded: OpenMP's own barriers are not
  # instrumented and would be reported as races that are not there.
  export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
else
  build=${LIMELIGHT_GPU_EMULATED_BUILD_DIR:-build-gpu-emulated}
  options+=(-Dbench=true)
  # The op case list on the emulated device (gpu_ops), and the benchmark's
  # emulator counts (shuffles per item, a step's kernels and host waits)
  # after the suite; only these targets are built.
  targets+=(tests/ops/test_ops bench/limelight-gpu-bench)
  suites+=(--suite gpu_ops)
  counts=1
fi

if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" "${options[@]}" >/dev/null
elif [ -n "$counts" ] && ! grep -q '"bench", "value": true' "$build/meson-info/intro-buildoptions.json" 2>/dev/null; then
  meson configure "$build" -Dbench=true >/dev/null  # a directory set up before the counts
fi
# Only what the GPU suite needs: the backend, its tests and the CLI (and the
# op case list and the benchmark in the plain pass).
begin=$SECONDS
ninja -C "$build" ${LIMELIGHT_NINJA_JOBS:+-j"$LIMELIGHT_NINJA_JOBS"} "${targets[@]}" \
  >"$build/gpu-build.log" 2>&1 || { tail -n 40 "$build/gpu-build.log"; exit 1; }
echo "gpu: built in $((SECONDS - begin)) s"
status=0
meson test -C "$build" --no-rebuild --print-errorlogs "${suites[@]}" "$@" || status=1
if [ -n "$counts" ]; then
  "$build/bench/limelight-gpu-bench" || status=1
fi
python3 scripts/count_tests.py "$build/meson-logs/testlog.json"
exit $status
