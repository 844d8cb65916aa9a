#!/usr/bin/env bash
# Prints the path of a Python with tensorflow-cpu==2.18.0, keras and tf-keras pinned, creating a venv
# in the user cache dir on first use (the wheel cached by the native provisioning is reused; the rest
# comes from PyPI). Used by the Keras parity test, the Python fixtures and clients, and the benchmarks.
set -euo pipefail
cache="${MODELBAY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/modelbay}"
venv="$cache/bench-venv-tf2.18.0"
if ! "$venv/bin/python" -c "import tensorflow, tf_keras; assert tensorflow.__version__ == '2.18.0'" >/dev/null 2>&1; then
  echo "[python-env] creating $venv with tensorflow-cpu==2.18.0, keras==3.15.1, tf-keras==2.18.0" >&2
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  pip=("$venv/bin/pip" install --quiet --disable-pip-version-check --find-links "$cache/wheels")
  "${pip[@]}" "tensorflow-cpu==2.18.0" "keras==3.15.1" >&2
  # tf-keras declares a dependency on "tensorflow", which would pull a second TensorFlow over the
  # -cpu one; it needs nothing that tensorflow-cpu does not provide.
  "${pip[@]}" --no-deps "tf-keras==2.18.0" >&2
fi
echo "$venv/bin/python"
