#!/usr/bin/env bash
# Installs what limelight needs from Debian's packages (when missing), then
# configures and builds it in ./build (release). Sourced by quickstart.sh and
# test.sh; extra arguments go to `meson setup`.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install_packages.sh meson ninja-build g++ pkg-config libopenblas-dev zlib1g-dev libxxhash-dev libopenmpi-dev openmpi-bin doctest-dev libbenchmark-dev

build=${LIMELIGHT_BUILD_DIR:-build}
if [ -f "$build/build.ninja" ]; then
  meson setup --reconfigure "$build" "$@" >/dev/null
else
  meson setup "$build" --buildtype=release "$@" >/dev/null
fi
# Quiet unless the build fails: then its last lines say why.
begin=$SECONDS
ninja -C "$build" >"$build/setup-build.log" 2>&1 || { tail -n 40 "$build/setup-build.log" >&2; exit 1; }
echo "setup: built in $((SECONDS - begin)) s" >&2
