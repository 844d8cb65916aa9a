#!/usr/bin/env bash
# Validates deploy/k8s with kubeconform (strict) against the Kubernetes JSON schemas from PyPI's
# kubernetes-validate wheel (schema hosts are unreachable here), both pinned and cached in the user
# cache dir. A deliberately broken manifest must fail too, so a pass means something.
set -euo pipefail
cd "$(dirname "$0")/.."
cache="${MODELBAY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/modelbay}"
k8s_version="1.33.0"
schemas="$cache/k8s-schemas-1.37.0-r3"
export GOBIN="$cache/go-bin"

[ -x "$GOBIN/kubeconform" ] || go install github.com/yannh/kubeconform/cmd/kubeconform@v0.7.0
if [ ! -d "$schemas/v$k8s_version-local-strict" ]; then
  echo "[deploy] fetching Kubernetes schemas (kubernetes-validate==1.37.0 from PyPI)" >&2
  tmp="$(mktemp -d)"
  python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: -d "$tmp" kubernetes-validate==1.37.0 >&2
  mkdir -p "$schemas"
  python3 - "$tmp" "$schemas" "$k8s_version" <<'PY'
import glob, json, os, sys, zipfile
tmp, out, version = sys.argv[1:]
prefix = f"kubernetes_validate/kubernetes-json-schema/v{version}-local-strict/"
with zipfile.ZipFile(glob.glob(os.path.join(tmp, "*.whl"))[0]) as z:
    for name in z.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            target = os.path.join(out, f"v{version}-local-strict", name[len(prefix):])
            os.makedirs(os.path.dirname(target), exist_ok=True)
            # The wheel's schemas carry an https $id and refer to "/api/_definitions.json" under it;
            # without the $id and with a relative ref they resolve to the file next to them.
            schema = json.loads(z.read(name).replace(b'"/api/_definitions.json#', b'"_definitions.json#'))
            schema.pop("$id", None)
            with open(target, "w") as f:
                json.dump(schema, f)
PY
  rm -rf "$tmp"
fi

check() {
  "$GOBIN/kubeconform" -strict -summary -kubernetes-version "$k8s_version" \
    -schema-location "$schemas/{{ .NormalizedKubernetesVersion }}-local-strict/{{ .ResourceKind }}{{ .KindSuffix }}.json" "$@"
}

check deploy/k8s/*.yaml deploy/k8s/gpu/*.yaml

broken="$(mktemp --suffix=.yaml)"
sed 's/replicas: 1/replicas: "one"/' deploy/k8s/deployment.yaml >"$broken"
if check "$broken" >/dev/null 2>&1; then
  echo "[deploy] kubeconform accepted a broken manifest: the validation proves nothing" >&2
  rm -f "$broken"
  exit 1
fi
rm -f "$broken"
echo "[deploy] manifests valid; a broken one is rejected" >&2
