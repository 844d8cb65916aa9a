#!/usr/bin/env bash
# Every check CI runs: contract lint and breaking-change guard, type check, formatting/lint, tests.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "[test] buf lint" >&2
npx buf lint

# Compare the contract with the previous commit's, when it had one.
if git rev-parse --verify -q HEAD~1 >/dev/null && git cat-file -e HEAD~1:proto 2>/dev/null; then
  echo "[test] buf breaking against HEAD~1" >&2
  npx buf breaking proto --against ".git#ref=HEAD~1,subdir=proto"
fi

echo "[test] deploy manifests (kubeconform)" >&2
bash scripts/validate-deploy.sh

echo "[test] tsc --noEmit" >&2
npx tsc --noEmit -p .

echo "[test] biome check" >&2
npx biome check src test bench scripts

# On linux-x64 the native backend is what we ship, so the tests expect it unless told otherwise.
if [ -z "${MODELBAY_EXPECT_BACKEND:-}" ] && [ -z "${MODELBAY_BACKEND:-}" ] && [ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ]; then
  export MODELBAY_EXPECT_BACKEND=tensorflow
fi

# The Keras parity test needs Python TensorFlow (a cached venv; set MODELBAY_PARITY_PYTHON=skip to
# run without it, which the test reports as skipped).
if [ -z "${MODELBAY_PARITY_PYTHON:-}" ]; then
  MODELBAY_PARITY_PYTHON="$(bash scripts/python-env.sh)"
  export MODELBAY_PARITY_PYTHON
fi

# The Python and Go clients are generated from the same contract and run against a live server
# (test/clients.test.ts); their tools and dependencies are cached in the user cache dir.
if [ -z "${MODELBAY_CLIENT_PYTHON:-}" ]; then
  echo "[test] generating the Python client" >&2
  MODELBAY_CLIENT_PYTHON="$(bash scripts/clients.sh python)"
  export MODELBAY_CLIENT_PYTHON
fi
if [ -z "${MODELBAY_KSERVE_PYTHON:-}" ]; then
  MODELBAY_KSERVE_PYTHON="$(bash scripts/clients.sh kserve)"
  export MODELBAY_KSERVE_PYTHON
fi
if [ -z "${MODELBAY_CLIENT_GO:-}" ]; then
  echo "[test] generating the Go client" >&2
  bash scripts/clients.sh go
  export MODELBAY_CLIENT_GO=1
fi

# The container tests (test/container.test.ts) build the image and run it; they need an engine.
if [ -z "${MODELBAY_CONTAINER_ENGINE:-}" ]; then
  if bash scripts/container-engine.sh; then
    export MODELBAY_CONTAINER_ENGINE=1
  else
    echo "[test] no container engine: the container tests will fail under CI and skip otherwise" >&2
  fi
fi

echo "[test] node --test" >&2
node --import tsx --test --test-reporter=spec test/*.test.ts
