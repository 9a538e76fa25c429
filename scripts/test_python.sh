#!/usr/bin/env bash
# The Python package's tests: installs python3-venv and python3-dev from
# Debian when missing, creates a virtual environment (default build-python/venv),
# runs `pip install .` into it (meson-python and nanobind come from PyPI as
# build requirements), then runs pytest on python/tests. The JUnit report
# (build-python/pytest.xml) is what scripts/count_tests.py counts.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for p in python3-venv python3-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "limelight: installing ${missing[*]}" >&2
  if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

out=$(realpath -m "${LIMELIGHT_PYTHON_BUILD_DIR:-build-python}")
venv="$out/venv"
mkdir -p "$out"
[ -x "$venv/bin/python" ] || /usr/bin/python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q pytest
"$venv/bin/python" -m pip install -q .
# The tests import the installed package (python/tests has no limelight folder of its own).
cd python/tests
exec "$venv/bin/python" -m pytest -q --junitxml="$out/pytest.xml" "$@"
