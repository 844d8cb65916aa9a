#!/usr/bin/env bash
# Generates the Python and Go clients from proto/ (the generated folders are never edited and not
# committed), installing their pinned tools into the user cache dir on first use.
#   scripts/clients.sh python   creates the client venv (clients/python/requirements.txt), generates
#                               clients/python/modelbay/v1 with grpcio-tools, prints the venv's python
#   scripts/clients.sh kserve   creates a venv with tritonclient[grpc] (requirements-kserve.txt) for the
#                               KServe v2 adapter's interop test, prints its python
#   scripts/clients.sh go       installs protoc-gen-go / protoc-gen-go-grpc, generates clients/go/gen
#                               through buf, and downloads the Go module's dependencies
set -euo pipefail
cd "$(dirname "$0")/.."
cache="${MODELBAY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/modelbay}"

# A venv in the cache made from a requirements file, rebuilt when the file changes.
venv_for() {
  local venv="$cache/$1" requirements="$2" stamp
  stamp="$(sha256sum "$requirements" | cut -c1-16)"
  if [ "$(cat "$venv/.requirements" 2>/dev/null)" != "$stamp" ]; then
    echo "[clients] creating $venv from $requirements" >&2
    rm -rf "$venv"
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements" >&2
    echo "$stamp" >"$venv/.requirements"
  fi
  echo "$venv"
}

python_client() {
  local venv
  venv="$(venv_for client-venv clients/python/requirements.txt)"
  local out=clients/python/modelbay/v1 includes
  includes="$("$venv/bin/python" -c 'import grpc_tools, os; print(os.path.join(os.path.dirname(grpc_tools.__file__), "_proto"))')"
  rm -rf "$out"
  "$venv/bin/python" -m grpc_tools.protoc -I proto -I "$includes" \
    --python_out=clients/python --pyi_out=clients/python --grpc_python_out=clients/python \
    proto/modelbay/v1/*.proto >&2
  touch "$out/__init__.py"
  echo "$venv/bin/python"
}

go_client() {
  export GOBIN="$cache/go-bin"
  [ -x "$GOBIN/protoc-gen-go" ] || go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
  [ -x "$GOBIN/protoc-gen-go-grpc" ] || go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.0
  rm -rf clients/go/gen
  PATH="$GOBIN:$PATH" npx buf generate --template buf.gen.go.yaml
  (cd clients/go && go mod download && go vet ./...) >&2
}

case "${1:-}" in
  python) python_client ;;
  kserve) echo "$(venv_for kserve-venv clients/python/requirements-kserve.txt)/bin/python" ;;
  go) go_client ;;
  *)
    echo "usage: scripts/clients.sh python|kserve|go" >&2
    exit 2
    ;;
esac
