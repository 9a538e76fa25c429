#!/usr/bin/env bash
# Sharded item tables at 1M and 10M items: limelight-distributed-scale-bench
# as one process and as 2 ranks under mpirun (--shard-items), one thread a
# rank, for pooling and lstm: step time, each rank's peak RSS and its bytes
# sent per step against the formula. Output: the bench's lines, then a table
# of the 2-rank run's RSS over the one-process run's.
#   bench/distributed_scale.sh [BUILD_DIR] > bench/results/DATE-distributed/scale.txt
set -euo pipefail
build=${1:-build}
bench=$build/bench/limelight-distributed-scale-bench
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
summary=()
for items in 1000000 10000000; do
  for rep in pooling lstm; do
    one=$("$bench" --items "$items" --representation "$rep")
    two=$(mpirun --oversubscribe --bind-to none -np 2 "$bench" --items "$items" --representation "$rep" --shard-items)
    printf '%s\n%s\n' "$one" "$two"
    summary+=("$(python3 - "$one" "$two" <<'PY'
import json, sys
one, two = (json.loads(block.splitlines()[-1]) for block in sys.argv[1:3])
worst = max(two["peak_rss_bytes"]) / one["peak_rss_bytes"][0]
ratio = max(abs(b / two["bytes_formula"] - 1) for b in two["bytes_sent_per_step"])
print(f"{one['items']:>9} {one['representation']:<8} step {one['step_median_seconds']*1e3:7.2f} ms -> "
      f"{two['step_median_seconds']*1e3:7.2f} ms   peak RSS {one['peak_rss_bytes'][0]/1e6:7.0f} MB -> "
      f"{max(two['peak_rss_bytes'])/1e6:6.0f} MB per rank ({worst:.2f})   bytes/step vs formula within {ratio:.1%}")
PY
)")
  done
done
printf '%s\n' "" "one process -> 2 ranks with --shard-items:" "${summary[@]}"
