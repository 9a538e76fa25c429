#!/usr/bin/env bash
# The main job: set up, build, then fit a sequence model on the built-in
# synthetic data and print its test metrics. Extra arguments go to `limelight fit`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec "${LIMELIGHT_BUILD_DIR:-build}/src/cli/limelight" fit "$@"
