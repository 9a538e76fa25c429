#!/usr/bin/env bash
# Set up and build, then run the whole test suite with `meson test`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
meson test -C "${LIMELIGHT_BUILD_DIR:-build}" --print-errorlogs "$@"
