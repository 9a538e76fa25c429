#!/usr/bin/env bash
# One call on the GPU machine: configures and builds the CUDA build with Meson
# (build-gpu/, -Dcuda=enabled), runs the GPU parity tests, then the short GPU
# benchmark, and prints a compact table last. Budget: under 6 minutes (the
# build is limited to the targets it runs; each step has its own timeout:
# configure ~10 s, build <= 200 s, tests <= 60 s, benchmark <= 60 s).
#   bench/gpu_check.sh            # from anywhere; BUILD=dir to change the build folder
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build-gpu}
JOBS=$(nproc 2>/dev/null || echo 4)
LOG=$(mktemp -d)
t0=$(date +%s)
stamp() { echo "[gpu_check] $(( $(date +%s) - t0 ))s: $*"; }

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || stamp "nvidia-smi unavailable"
command -v nvcc >/dev/null || export PATH="/usr/local/cuda/bin:$PATH"

stamp "configure $BUILD"
if [ -d "$BUILD" ]; then
  meson configure "$BUILD" -Dcuda=enabled -Dtests=true -Dbench=true >"$LOG/setup.txt" 2>&1
else
  meson setup "$BUILD" -Dcuda=enabled -Dtests=true -Dbench=true --buildtype=release >"$LOG/setup.txt" 2>&1
fi || { tail -30 "$LOG/setup.txt"; echo "gpu_check: FAILED at configure"; exit 1; }

stamp "build (ninja -j$JOBS)"
if ! timeout 200 ninja -C "$BUILD" -j"$JOBS" tests/gpu/test_gpu bench/limelight-gpu-bench >"$LOG/build.txt" 2>&1; then
  grep -E "error|FAILED" -A5 "$LOG/build.txt" | head -60
  echo "gpu_check: FAILED at build"
  exit 1
fi

stamp "GPU tests"
timeout 60 "$BUILD/tests/gpu/test_gpu" >"$LOG/tests.txt" 2>&1
test_rc=$?
grep -vE "^\[doctest\] (doctest version|run with)" "$LOG/tests.txt" | tail -40

stamp "GPU benchmark"
timeout 60 "$BUILD/bench/limelight-gpu-bench" >"$LOG/bench.txt" 2>&1
bench_rc=$?

echo
echo "================ gpu_check ($(( $(date +%s) - t0 ))s) ================"
echo "tests: $(grep -E '^\[doctest\] test cases' "$LOG/tests.txt" | sed 's/\[doctest\] //') (rc=$test_rc)"
cat "$LOG/bench.txt"
echo "bench rc=$bench_rc"
[ "$test_rc" -eq 0 ] && [ "$bench_rc" -eq 0 ]
