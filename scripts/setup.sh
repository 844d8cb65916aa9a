#!/usr/bin/env bash
# Idempotent set-up shared by `npm run demo` and `npm test`: installs npm dependencies when the
# lockfile changed, provisions native TensorFlow (cached under the user cache dir), generates code.
set -euo pipefail
cd "$(dirname "$0")/.."

lock_stamp=node_modules/.modelbay-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$lock_stamp" ] || [ "$(cat "$lock_stamp")" != "$want" ]; then
  echo "[setup] installing npm dependencies" >&2
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$lock_stamp"
fi

if ! node scripts/provision-native.mjs; then
  # Under CI (or when asked) a missing native backend is an error, not a silent fallback.
  if [ "${CI:-}" = "true" ] || [ "${MODELBAY_REQUIRE_NATIVE:-}" = "1" ]; then
    echo "[setup] native TensorFlow is required here; see the message above" >&2
    exit 1
  fi
fi

# Restores map checkpoint files with this addon; without it they copy (slower, same results).
if ! node scripts/build-mapped-file.mjs; then
  if [ "${CI:-}" = "true" ] || [ "${MODELBAY_REQUIRE_NATIVE:-}" = "1" ]; then
    echo "[setup] the mapped-file addon is required here; see the message above" >&2
    exit 1
  fi
fi

bash scripts/gen.sh
