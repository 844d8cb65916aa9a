#!/usr/bin/env bash
# Builds a minimal base image from this machine's own files, for hosts with a container engine but
# no image registry: a root filesystem holding this machine's `node`, the shared libraries it and
# a compiler toolchain need, and enough of /etc for users, then `docker import`s it as
# modelbay-base:local. Use it with: docker build --build-arg BASE_IMAGE=modelbay-base:local ...
# Needs: docker (or podman's docker-compatible CLI), and it must run as root (it copies /usr).
set -euo pipefail
engine="${CONTAINER_ENGINE:-docker}"
root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT

copy() { # copies paths with their parents, following symlinks into real files where needed
  for p in "$@"; do [ -e "$p" ] && cp -a --parents "$p" "$root" 2>/dev/null || true; done
}
copy_with_libs() {
  for bin in "$@"; do
    copy "$bin"
    ldd "$bin" 2>/dev/null | awk '/=> \//{print $3} /^\s*\//{print $1}' | while read -r lib; do copy "$lib" "$(readlink -f "$lib")"; done
  done
}

node_bin="$(command -v node)"
copy_with_libs "$node_bin" /bin/sh /bin/bash /usr/bin/env /usr/bin/readlink /bin/cp /bin/mkdir /bin/rm /bin/ls /usr/bin/getent /usr/sbin/groupadd /usr/sbin/useradd
# npm, node headers (the addon build) and a C++ toolchain plus Python for the build stage.
copy /usr/lib/node_modules /usr/include/node /usr/share/nodejs /usr/bin/npm /usr/bin/npx
copy_with_libs "$(command -v python3)" "$(command -v g++)" "$(command -v make)"
copy /usr/lib/python3 /usr/lib/python3.11 /usr/lib/gcc /usr/libexec/gcc /usr/include /usr/lib/x86_64-linux-gnu
copy /etc/ssl /etc/ca-certificates /usr/share/ca-certificates /etc/nsswitch.conf /etc/resolv.conf
mkdir -p "$root/etc" "$root/tmp" && chmod 1777 "$root/tmp"
printf 'root:x:0:0:root:/root:/bin/bash\n' >"$root/etc/passwd"
printf 'root:x:0:\n' >"$root/etc/group"
tar -C "$root" -c . | "$engine" import - modelbay-base:local
echo "imported modelbay-base:local from $(node --version) on $(uname -m)"
