#!/bin/bash
# limelight-scale-bench --sparse pooling steps of the tree before (A, 6704d78)
# against this tree (B), alternated in one script; run under the build lock.
# Each line: build, round, items, median step ms of that round.
A=${A:-before/limelight-scale-bench}; B=${B:-build-bench/bench/limelight-scale-bench}
uptime
for round in 1 2 3 4 5 6; do
  for bin in "$A" "$B"; do
    name=A; [ "$bin" = "$B" ] && name=B
    for spec in "10000 100" "10000000 20"; do
      set -- $spec
      "$bin" --sections train --items "$1" --representations pooling --steps "$2" --modes sparse |
        awk -v b=$name -v r=$round '/^pooling/{print b, r, $2, $4}'
    done
  done
done
uptime
