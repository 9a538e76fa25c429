#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/) with clang, AddressSanitizer and
# UndefinedBehaviorSanitizer in build-fuzz/, then runs each target for a
# bounded time, starting from its seed corpus in fuzz/corpus/<target>/.
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     (default 60, all targets)
# Env: LIMELIGHT_FUZZ_PARALLEL=N runs N targets at once (default 1);
# LIMELIGHT_FUZZ_BUILD_DIR (default build-fuzz). New corpus entries go to
# $build/corpus/<target>/, crashes to $build/artifacts/<target>/; each run
# appends "target seconds executions" (seconds actually run) to $build/fuzz-stats.tsv, and the script
# prints executions per target. Exit status 1 when any target found a crash.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
shift || true
build=${LIMELIGHT_FUZZ_BUILD_DIR:-build-fuzz}
parallel=${LIMELIGHT_FUZZ_PARALLEL:-1}
all_targets=(fuzz_json fuzz_safetensors fuzz_model_file fuzz_delimited fuzz_movielens fuzz_sequence_input)
targets=("$@")
((${#targets[@]})) || targets=("${all_targets[@]}")

san="-fsanitize=address,undefined -fno-sanitize-recover=all"
if [ ! -f "$build/build.ninja" ]; then
  CC=${CC:-clang-14} CXX=${CXX:-clang++-14} meson setup "$build" \
    -Dfuzz=true -Dtests=false -Dbench=false -Dcuda=disabled -Dbuildtype=debugoptimized \
    -Db_lundef=false -Dcpp_args="$san -fsanitize=fuzzer-no-link" -Dcpp_link_args="$san" >/dev/null
fi
ninja -C "$build" -j"${LIMELIGHT_FUZZ_NINJA_JOBS:-1}" "${targets[@]/#/fuzz/}" >/dev/null

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

run_one() {
  local t=$1 work="$build/corpus/$1" art="$build/artifacts/$1/" log="$build/logs/$1.log"
  mkdir -p "$work" "$art" "$build/logs"
  local status=0 start
  start=$(date +%s)
  # One process, one job: the machine is shared. -rss_limit_mb catches
  # inputs that make a parser allocate without bound.
  nice -n 10 "$build/fuzz/$t" "$work" "fuzz/corpus/$t" -max_total_time="$seconds" \
    -print_final_stats=1 -rss_limit_mb=2048 -max_len=65536 -timeout=20 \
    -artifact_prefix="$art" >"$log" 2>&1 || status=$?
  local execs elapsed=$(($(date +%s) - start))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  printf '%s\t%s\t%s\n' "$t" "$elapsed" "${execs:-0}" >>"$build/fuzz-stats.tsv"
  if ((status)); then
    echo "$t: FINDING (exit $status), see $log and $art"
  else
    echo "$t: ${execs:-0} executions in ${elapsed}s, no finding"
  fi
  return $status
}

failed=0
pids=()
for t in "${targets[@]}"; do
  run_one "$t" &
  pids+=($!)
  if ((${#pids[@]} >= parallel)); then
    wait "${pids[0]}" || failed=1
    pids=("${pids[@]:1}")
  fi
done
for p in "${pids[@]}"; do wait "$p" || failed=1; done

echo "totals over all runs in $build/fuzz-stats.tsv (target, seconds, executions):"
awk -F'\t' '{s[$1]+=$2; e[$1]+=$3} END {for (t in s) printf "  %-22s %6d s %12d executions\n", t, s[t], e[t]}' \
  "$build/fuzz-stats.tsv" | sort
exit $failed
