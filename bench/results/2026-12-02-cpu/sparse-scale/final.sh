#!/bin/bash
# limelight-scale-bench of the tree before the row-sparse changes (A) against
# this tree (B), alternated in one script; run under the build lock.
A=${A:-base/limelight-scale-bench}; B=${B:-build/bench/limelight-scale-bench}  # the tree at f50a531, and this one
uptime
for round in 1 2 3; do for bin in $A $B; do echo "--- $bin 10K round $round"; $bin --sections train --items 10000 --steps 100 | tail -n +3; done; done
for round in 1 2; do for bin in $A $B; do echo "--- $bin 10M round $round"; $bin --sections train --items 10000000 --steps 20 | tail -n +3; done; done
uptime
