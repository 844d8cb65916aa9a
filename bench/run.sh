#!/usr/bin/env bash
# `npm run bench`: Keras (pip tensorflow-cpu, a bench-only dependency in a cached venv) against
# modelbay's compute layer on the same models, data, batch sizes and epochs; prints ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
python="$(bash scripts/python-env.sh)"
MODELBAY_BENCH_PYTHON="$python" exec npx tsx bench/native-vs-keras.ts "$@"
