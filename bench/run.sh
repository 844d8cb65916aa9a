#!/usr/bin/env bash
# `npm run bench`: Keras (pip tensorflow-cpu, a bench-only dependency in a cached venv) against
# modelbay's compute layer on the same models, data, batch sizes and epochs; prints ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
cache="${MODELBAY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/modelbay}"
venv="$cache/bench-venv-tf2.18.0"
if ! "$venv/bin/python" -c "import tensorflow" >/dev/null 2>&1; then
  echo "[bench] creating $venv with tensorflow-cpu==2.18.0" >&2
  python3 -m venv "$venv"
  # The wheel cached by the native provisioning is reused; its dependencies come from PyPI.
  "$venv/bin/pip" install --quiet --disable-pip-version-check --find-links "$cache/wheels" "tensorflow-cpu==2.18.0"
fi
MODELBAY_BENCH_PYTHON="$venv/bin/python" exec npx tsx bench/native-vs-keras.ts "$@"
