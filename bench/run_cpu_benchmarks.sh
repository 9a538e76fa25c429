#!/usr/bin/env bash
# Builds limelight's benchmarks (release), runs limelight-bench and then
# compare_pytorch.py (when torch is importable) on the same data and settings,
# one after the other, prints a combined table with ratios and writes a PNG of
# training sequences/s per representation. Optionally runs the op
# micro-benchmarks too. Settings come from the environment:
#   BUILD_DIR (build-bench), OUT_DIR (BUILD_DIR/bench-results), THREADS (2),
#   EPOCHS (5), DATASET (both), LOSSES (bpr), REPRESENTATIONS (all four),
#   REPETITIONS (2000), PYTHON (python3), JOBS (ninja -j, 1), OPS (1: also run
#   limelight-ops-bench), MOVIELENS (the MovieLens 100K folder), STEPS (1: also
#   time train steps on random sequences of 50 over STEPS_ITEMS items, 10000,
#   pooling and lstm, in limelight-scale-bench and compare_pytorch.py), SCALE
#   (1: limelight-scale-bench's adam, train at 10K-10M items, serve and int8
#   sections, and the plot of step time against catalogue size), LOADER (1:
#   limelight-loader-bench on CSV, made by make_interactions_csv.py when
#   missing; default /tmp/limelight-10m.csv), LINE (1: limelight-line-bench).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${BUILD_DIR:-$root/build-bench}
out=${OUT_DIR:-$build/bench-results}
threads=${THREADS:-2}
epochs=${EPOCHS:-5}
dataset=${DATASET:-both}
losses=${LOSSES:-bpr}
representations=${REPRESENTATIONS:-pooling,cnn,lstm,mixture}
repetitions=${REPETITIONS:-2000}
python=${PYTHON:-python3}
movielens=${MOVIELENS:-${LIMELIGHT_SHARED:-$root/../shared}/data/movielens-100k}

cd "$root"
if [[ ! -f "$build/build.ninja" ]]; then
  meson setup "$build" -Dbuildtype=release -Dcuda=disabled -Dtests=false -Dbench=true
else
  meson configure "$build" -Dbuildtype=release -Dbench=true
fi
ninja -C "$build" -j"${JOBS:-1}" bench/limelight-bench bench/limelight-ops-bench bench/limelight-scale-bench \
  bench/limelight-loader-bench bench/limelight-line-bench src/cli/limelight

mkdir -p "$out"
common=(--dataset "$dataset" --losses "$losses" --representations "$representations" --epochs "$epochs"
        --threads "$threads" --repetitions "$repetitions" --movielens "$movielens")
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  lscpu | grep -E '^(Model name|CPU\(s\)|Thread|Core|Socket|L2|L3)' || true
  echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$out/machine.txt"

echo "== limelight-bench (threads $threads) =="
"$build/bench/limelight-bench" "${common[@]}" --export-sequences "$out/sequences" --json | tee "$out/limelight.jsonl"

: > "$out/pytorch.jsonl"
if "$python" -c 'import torch' 2>/dev/null; then
  echo "== compare_pytorch.py (threads $threads) =="
  "$python" "$root/bench/compare_pytorch.py" "${common[@]}" --sequences "$out/sequences" --json |
    tee "$out/pytorch.jsonl"
else
  echo "== compare_pytorch.py skipped: torch is not importable by $python =="
fi
if [[ "${STEPS:-1}" == 1 ]]; then
  steps_items=${STEPS_ITEMS:-10000}
  echo "== train steps on random sequences, $steps_items items, length 50, batch 256 =="
  "$build/bench/limelight-scale-bench" --sections train --items "$steps_items" --representations pooling,lstm \
    --steps 12 --threads "$threads" | tee "$out/steps_limelight.txt"
  if "$python" -c 'import torch' 2>/dev/null; then
    "$python" "$root/bench/compare_pytorch.py" --steps-items "$steps_items" --steps-length 50 --steps 12 \
      --representations pooling,lstm --threads "$threads" --json | tee "$out/steps_pytorch.jsonl"
  fi
fi
if [[ "${SCALE:-1}" == 1 ]]; then
  echo "== limelight-scale-bench: 10M-item passes, train steps at 10K-10M items, serving, int8 table =="
  "$build/bench/limelight-scale-bench" --sections adam --threads "$threads" --repeats 3 | tee "$out/scale.txt"
  "$build/bench/limelight-scale-bench" --sections train --items 10000,100000,1000000,10000000 \
    --representations pooling,lstm --steps 8 --threads "$threads" | tee -a "$out/scale.txt"
  "$build/bench/limelight-scale-bench" --sections serve,int8 --threads "$threads" --repeats 5 | tee -a "$out/scale.txt"
  "$python" "$root/bench/plot_scale.py" "$out/scale.txt" --output "$out/step_time_vs_items.png" \
    --title "Train step against catalogue size, $threads threads, $(date -u +%Y-%m-%d)" || true
fi
if [[ "${LOADER:-1}" == 1 ]]; then
  csv=${CSV:-/tmp/limelight-10m.csv}
  [[ -f "$csv" ]] || "$python" "$root/bench/make_interactions_csv.py" "$csv"
  echo "== limelight-loader-bench $csv =="
  "$build/bench/limelight-loader-bench" "$csv" --threads "1,$threads" --repeats 3 | tee "$out/loader.txt"
fi
if [[ "${LINE:-1}" == 1 ]]; then
  echo "== limelight-line-bench =="
  "$build/bench/limelight-line-bench" "$build/src/cli/limelight" --lines 2000 --repeats 5 | tee "$out/line.txt"
fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/machine.txt"

if [[ "${OPS:-1}" == 1 ]]; then
  echo "== limelight-ops-bench =="
  OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=$threads "$build/bench/limelight-ops-bench" \
    --benchmark_out="$out/ops.json" --benchmark_out_format=json | tee "$out/ops.txt"
fi

echo "== combined (x: how many times faster limelight is) =="
"$python" "$root/bench/plot_benchmarks.py" --limelight "$out/limelight.jsonl" --pytorch "$out/pytorch.jsonl" \
  --output "$out/sequences_per_second.png" --title "Training sequences/s, $threads threads, $(date -u +%Y-%m-%d)" |
  tee "$out/combined.txt"
echo "results in $out"
