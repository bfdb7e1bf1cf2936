#!/usr/bin/env bash
# Runs every test of the project: formatting, lints, and the whole test suite (unit,
# integration, end-to-end tests of the real `prism` binary, doc tests), then the ONNX
# Runtime backend (cargo feature `ort`) against the library of the PyPI onnxruntime wheel.
# Needs Rust stable (rustup installs rustfmt and clippy if missing) and, for the ort step,
# Python 3 with pip (the wheel goes into .venv-ort, made once).
set -euo pipefail
cd "$(dirname "$0")/.."

rustup component add rustfmt clippy >/dev/null 2>&1 || true

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo test"
cargo test --workspace --locked

# The ONNX Runtime backend loads the library at run time from ORT_DYLIB_PATH; the wheel
# ships it as onnxruntime/capi/libonnxruntime.so.<version>.
ORT_VERSION=1.31.1
venv=.venv-ort
if ! "$venv/bin/python" -c "import importlib.metadata as m; assert m.version('onnxruntime') == '$ORT_VERSION'" 2>/dev/null; then
    echo "== installing onnxruntime==$ORT_VERSION into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps "onnxruntime==$ORT_VERSION"
fi
ORT_DYLIB_PATH=$(ls "$PWD/$venv"/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.* | head -n 1)
export ORT_DYLIB_PATH

echo "== cargo clippy --features ort"
cargo clippy -p prism-model -p prism-engine -p prism-cli --features ort --all-targets --locked -- -D warnings

echo "== cargo test --features ort (ORT_DYLIB_PATH=$ORT_DYLIB_PATH)"
cargo test -p prism-model -p prism-engine --features ort --locked
