#!/usr/bin/env bash
# Makes sure a Docker-compatible engine answers, for the container tests (test/container.test.ts).
# When none runs and we are root: installs Debian's docker.io and debootstrap (the base image is
# built from Debian's archive, deploy/make-base-image.sh) and starts dockerd without a bridge or
# iptables rules: our containers use host networking and listen on 127.0.0.1 only. Debian's
# docker-compose too, where no compose answers, for the test of deploy/compose.yaml.
# Prints nothing on success; exits non-zero, saying why, when no engine can be had.
set -euo pipefail
cache="${XDG_CACHE_HOME:-$HOME/.cache}/modelbay"

has_compose() { docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null; }
if docker info >/dev/null 2>&1 && command -v debootstrap >/dev/null; then
  has_compose && exit 0
  # The engine runs; only compose is missing, and installing it needs root.
  [ "$(id -u)" != 0 ] && echo "container-engine: no docker compose here; its test will say so" >&2 && exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "container-engine: no engine answers on ${DOCKER_HOST:-/var/run/docker.sock} and starting one needs root" >&2
  exit 1
fi
if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null || ! has_compose; then
  echo "[container-engine] installing docker.io, docker-compose and debootstrap from Debian" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq docker.io docker-compose debootstrap >/dev/null || {
    echo "container-engine: apt-get install docker.io docker-compose debootstrap failed" >&2
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
