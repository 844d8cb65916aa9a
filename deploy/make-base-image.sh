#!/usr/bin/env bash
# Builds a base image locally, for hosts with a container engine but no image registry: a minimal
# Debian root filesystem from Debian's own package archive (debootstrap --variant=minbase), plus
# this machine's Node.js (binary, bundled npm, headers for the addon build), `docker import`ed as
# modelbay-base:local. Use it with:
#   docker build --network host --build-arg BASE_IMAGE=modelbay-base:local -f deploy/Dockerfile .
# Needs root, debootstrap (apt-get install debootstrap) and a docker-compatible CLI.
# Idempotent: an existing image is kept unless MODELBAY_REBUILD_BASE=1.
set -euo pipefail
engine="${CONTAINER_ENGINE:-docker}"
tag="${MODELBAY_BASE_TAG:-modelbay-base:local}"
suite="${DEBIAN_SUITE:-bookworm}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

if [ "${MODELBAY_REBUILD_BASE:-0}" != 1 ] && "$engine" image inspect "$tag" >/dev/null 2>&1; then
  echo "base image $tag already present"
  exit 0
fi
command -v debootstrap >/dev/null || {
  echo "make-base-image: debootstrap is missing (Debian: apt-get install debootstrap)" >&2
  exit 1
}

root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase "$suite" "$root" "$mirror" >"$root.log" 2>&1 || {
  tail -20 "$root.log" >&2
  echo "make-base-image: debootstrap of $suite from $mirror failed (log above)" >&2
  exit 1
}
rm -f "$root.log"

# Node.js from this machine: the same version the tests ran on. Its npm and headers come along so
# the image's build stage can install packages and compile the TensorFlow addon.
node_bin="$(command -v node)"
node_prefix="$(cd "$(dirname "$(readlink -f "$node_bin")")/.." && pwd)"
install -D -m 0755 "$(readlink -f "$node_bin")" "$root/usr/local/bin/node"
mkdir -p "$root/usr/local/lib/node_modules" "$root/usr/local/include"
cp -a "$node_prefix/lib/node_modules/npm" "$root/usr/local/lib/node_modules/npm"
cp -a "$node_prefix/include/node" "$root/usr/local/include/node"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
# Node's own dynamic dependencies must be satisfied by the Debian root (it is glibc-linked only).
missing="$(chroot "$root" /usr/local/bin/node --version 2>&1 >/dev/null || true)"
[ -z "$missing" ] || {
  echo "make-base-image: node does not run in the $suite root: $missing" >&2
  exit 1
}
# The machine's trust store goes in too, so builds behind the same TLS-inspecting egress can reach
# the registries; Node reads it through NODE_EXTRA_CA_CERTS, apt and pip through /etc/ssl/certs.
mkdir -p "$root/usr/local/share/ca-certificates" "$root/etc/ssl/certs"
cp -a /usr/local/share/ca-certificates/. "$root/usr/local/share/ca-certificates/" 2>/dev/null || true
[ -f /etc/ssl/certs/ca-certificates.crt ] && cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*

tar -C "$root" -c . | "$engine" import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
  --change 'CMD ["/bin/bash"]' - "$tag" >/dev/null
echo "imported $tag: Debian $suite minbase + Node $(node --version) on $(uname -m)"
