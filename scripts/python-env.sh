#!/usr/bin/env bash
# Prints the path of a Python with tensorflow-cpu==2.18.0, creating a venv in the user cache dir
# on first use (the wheel cached by the native provisioning is reused; dependencies come from PyPI).
# Used by the Keras parity test and the benchmarks.
set -euo pipefail
cache="${MODELBAY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/modelbay}"
venv="$cache/bench-venv-tf2.18.0"
if ! "$venv/bin/python" -c "import tensorflow" >/dev/null 2>&1; then
  echo "[python-env] creating $venv with tensorflow-cpu==2.18.0" >&2
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check --find-links "$cache/wheels" "tensorflow-cpu==2.18.0" >&2
fi
echo "$venv/bin/python"
