#!/usr/bin/env bash
# Builds the modelbay image (deploy/Dockerfile) on a base made locally from Debian's archive and
# this machine's Node (deploy/make-base-image.sh), since there is no image registry here. The build
# stage reaches npm and PyPI over the host's network. Prints the image tag on stdout.
# Usage: scripts/container-image.sh [TAG]   (MODELBAY_IMAGE_NO_CACHE=1 rebuilds every layer)
set -euo pipefail
cd "$(dirname "$0")/.."
tag="${1:-modelbay:local}"
engine="${CONTAINER_ENGINE:-docker}"
build_stage_tag="modelbay-build:cache"

bash deploy/make-base-image.sh >&2
flags=(--network host --build-arg BASE_IMAGE=modelbay-base:local -f deploy/Dockerfile)
[ "${MODELBAY_IMAGE_NO_CACHE:-0}" = 1 ] && flags+=(--no-cache)
build() {
  local log
  log="$(mktemp)"
  if ! "$engine" build "${flags[@]}" "$@" . >"$log" 2>&1; then
    tail -40 "$log" >&2
    echo "container-image: $engine build $* failed (last lines above)" >&2
    rm -f "$log"
    exit 1
  fi
  rm -f "$log"
}
# Docker's classic builder keeps the build stage's image untagged (its layers are the next build's
# cache), and a rebuild untags the previous image under the same tag: every build left ~4.5 GB of
# images behind, until the disk filled. The build stage gets a tag of its own, and what a rebuild
# untagged (labelled io.modelbay.image in deploy/Dockerfile) is pruned.
build --target build -t "$build_stage_tag"
build -t "$tag"
"$engine" image prune -f --filter label=io.modelbay.image >/dev/null
echo "$tag"
