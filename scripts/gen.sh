#!/usr/bin/env bash
# Generates TypeScript from proto/ into src/gen (ts-proto through buf) plus a descriptor set that
# the server's reflection service reads. src/gen is never edited by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf src/gen
npx buf generate
npx buf build -o src/gen/modelbay.binpb
