#!/usr/bin/env bash
# Makes sure a Docker-compatible engine answers, for the container tests (test/container.test.ts).
# When none runs and we are root: installs Debian's docker.io and debootstrap (the base image is
# built from Debian's archive, deploy/make-base-image.sh) and starts dockerd without a bridge or
# iptables rules: our containers use host networking and listen on 127.0.0.1 only.
# Prints nothing on success; exits non-zero, saying why, when no engine can be had.
set -euo pipefail
cache="${XDG_CACHE_HOME:-$HOME/.cache}/modelbay"

docker info >/dev/null 2>&1 && command -v debootstrap >/dev/null && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "container-engine: no engine answers on ${DOCKER_HOST:-/var/run/docker.sock} and starting one needs root" >&2
  exit 1
fi
if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null; then
  echo "[container-engine] installing docker.io and debootstrap from Debian" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq docker.io debootstrap >/dev/null || {
    echo "container-engine: apt-get install docker.io debootstrap failed" >&2
    exit 1
  }
fi
if ! docker info >/dev/null 2>&1; then
  mkdir -p "$cache"
  echo "[container-engine] starting dockerd (log: $cache/dockerd.log)" >&2
  nohup dockerd --host unix:///var/run/docker.sock --iptables=false --ip6tables=false --bridge=none \
    >"$cache/dockerd.log" 2>&1 &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && exit 0
    sleep 0.5
  done
  tail -20 "$cache/dockerd.log" >&2
  echo "container-engine: dockerd did not answer within 30 s (log above)" >&2
  exit 1
fi
