#!/usr/bin/env bash
# Installs the Python package into a virtual environment (default .venv, or
# the first argument): Debian's python3-venv and python3-dev plus the C++
# build packages when missing, then `pip install .` (meson-python and
# nanobind come from PyPI as build requirements; numpy at run time).
# Env: LIMELIGHT_PYTHON_MESON_DIR keeps meson-python's build in that folder
# (else a temporary one); CI names a sibling of build/, so that ccache finds
# the release build's objects there (the same relative paths: .ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install_packages.sh g++ pkg-config libopenblas-dev zlib1g-dev python3-venv python3-dev

venv=$(realpath -m "${1:-.venv}")
[ -x "$venv/bin/python" ] || /usr/bin/python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q . ${LIMELIGHT_PYTHON_MESON_DIR:+--config-settings=build-dir="$LIMELIGHT_PYTHON_MESON_DIR"}
echo "limelight: installed into $venv (try: $venv/bin/python examples/spotlight_sequence.py)" >&2
