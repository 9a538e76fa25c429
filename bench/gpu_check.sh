#!/usr/bin/env bash
# One call on the GPU machine: configures and builds the CUDA build with Meson
# (build-gpu/, -Dcuda=enabled), runs the GPU parity tests and the op case
# list (tests/ops, through the Backend interface, GPU beside CPU), trains each
# representation on MovieLens 100K with --device cuda and --device cpu
# (training sequences/s and test MRR side by side), then the short GPU
# benchmark, and prints a compact table last. Budget: under 6 minutes (the
# build is limited to the targets it runs; each step has its own timeout:
# configure ~10 s, build <= 200 s, tests <= 60 s, fits <= 100 s, benchmark
# <= 120 s). MOVIELENS=dir points at MovieLens 100K (default ../shared/data).
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
if ! timeout 200 ninja -C "$BUILD" -j"$JOBS" tests/gpu/test_gpu tests/ops/test_ops bench/limelight-gpu-bench src/cli/limelight >"$LOG/build.txt" 2>&1; then
  grep -E "error|FAILED" -A5 "$LOG/build.txt" | head -60
  echo "gpu_check: FAILED at build"
  exit 1
fi

stamp "GPU tests"
LIMELIGHT_SHARED=${LIMELIGHT_SHARED:-$(realpath -m ../shared)} LIMELIGHT_CLI="$BUILD/src/cli/limelight" \
  timeout 60 "$BUILD/tests/gpu/test_gpu" >"$LOG/tests.txt" 2>&1
test_rc=$?
grep -vE "^\[doctest\] (doctest version|run with)" "$LOG/tests.txt" | tail -40
# The op case list through the Backend interface, on the GPU beside the CPU.
LIMELIGHT_SOURCE=$PWD timeout 60 "$BUILD/tests/ops/test_ops" --test-case='backend ops:*' >"$LOG/ops.txt" 2>&1
ops_rc=$?
grep -E "MESSAGE|ERROR|FAIL|test cases" "$LOG/ops.txt" | tail -10

# Training on the device against the CPU: the same seed, data and settings
# (docs/benchmarks.md's protocol, 5 epochs), one JSON line per epoch.
MOVIELENS=${MOVIELENS:-../shared/data/movielens-100k}
stamp "fit on MovieLens, cuda against cpu"
: >"$LOG/fit.txt"
for rep in pooling cnn lstm mixture; do
  for device in cuda cpu; do
    extra=()
    [ "$rep" = cnn ] && extra=(--num-layers 3 --kernel-width 3,3,3 --dilation 1,2,4 --nonlinearity relu)
    if timeout 100 "$BUILD/src/cli/limelight" fit --movielens "$MOVIELENS" --representation "$rep" --loss bpr \
        --max-sequence-length 200 --min-sequence-length 20 --step-size 200 --n-iter 5 --device "$device" \
        "${extra[@]}" --json >"$LOG/fit-$rep-$device.jsonl" 2>"$LOG/fit-$rep-$device.err"; then
      python3 - "$rep" "$device" "$LOG/fit-$rep-$device.jsonl" >>"$LOG/fit.txt" <<'PY'
import json, statistics, sys
rep, device, path = sys.argv[1:4]
lines = [json.loads(l) for l in open(path) if l.strip()]
epochs = [l["seconds"] for l in lines if "epoch" in l][1:]  # the first epoch warms up
summary = [l for l in lines if "mrr" in l][-1]
rate = summary["train_sequences"] / statistics.median(epochs)
print(f"fit {rep:<8} {device:<5} {rate:10.0f} seq/s  MRR {summary['mrr']:.4f}  last loss {lines[len(epochs)]['loss']:.5f}")
PY
    else
      echo "fit $rep $device FAILED: $(tail -1 "$LOG/fit-$rep-$device.err")" >>"$LOG/fit.txt"
    fi
  done
done

stamp "GPU benchmark"
timeout 120 "$BUILD/bench/limelight-gpu-bench" >"$LOG/bench.txt" 2>&1
bench_rc=$?

echo
echo "================ gpu_check ($(( $(date +%s) - t0 ))s) ================"
echo "tests: $(grep -E '^\[doctest\] test cases' "$LOG/tests.txt" | sed 's/\[doctest\] //') (rc=$test_rc)"
echo "op case list: $(grep -E '^\[doctest\] test cases' "$LOG/ops.txt" | sed 's/\[doctest\] //') (rc=$ops_rc)"
cat "$LOG/fit.txt"
cat "$LOG/bench.txt"
echo "bench rc=$bench_rc"
[ "$test_rc" -eq 0 ] && [ "$ops_rc" -eq 0 ] && [ "$bench_rc" -eq 0 ]
