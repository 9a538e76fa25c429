#!/usr/bin/env bash
# The Python package's tests: scripts/setup_python.sh into a virtual
# environment (default build-python/venv), then pytest on python/tests. The
# JUnit report (build-python/pytest.xml) is what scripts/count_tests.py counts.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${LIMELIGHT_PYTHON_BUILD_DIR:-build-python}")
mkdir -p "$out"
scripts/setup_python.sh "$out/venv"
"$out/venv/bin/python" -m pip install -q pytest
# The tests import the installed package (python/tests has no limelight folder of its own).
cd python/tests
exec "$out/venv/bin/python" -m pytest -q --junitxml="$out/pytest.xml" "$@"
