#!/usr/bin/env bash
# Runs every test of the project: formatting, lints, and the whole test suite (unit,
# integration, end-to-end tests of the real `prism` binary, doc tests), the web UI in
# headless Chromium against that binary (ui-tests/), the ONNX Runtime backend (cargo feature
# `ort`) against the library of the PyPI onnxruntime wheel, then the Python package: it is
# built into .venv-python and its pytest suite runs against the same binary. Needs Rust
# stable (rustup installs rustfmt and clippy if missing), Python >= 3.9 with pip and venv
# (packages come from PyPI, pinned: onnxruntime here, the Python package's test tools in
# python/requirements-test.txt, Ray, PySpark and google-cloud-aiplatform included), Java 17
# or later for the local Spark job of python/tests/test_spark.py, and Node >= 20 with npm
# (playwright-core, pinned in ui-tests/package-lock.json); Chromium comes from apt-get when
# /usr/bin/chromium is missing, and so does PostgreSQL (Debian's `postgresql`, whose server
# binaries the registry tests run a throwaway cluster with) when /usr/lib/postgresql/*/bin
# has no initdb and PRISM_TEST_DATABASE_URL is not set.
set -euo pipefail
cd "$(dirname "$0")/.."

rustup component add rustfmt clippy >/dev/null 2>&1 || true
# The workspace and the Python crate (outside the workspace) share one target directory
# (see docs/DEVELOPMENT.md for what they share).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"

echo "== cargo fmt --check"
cargo fmt --all -- --check
cargo fmt --manifest-path python/Cargo.toml -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo clippy --manifest-path python/Cargo.toml --all-targets --locked -- -D warnings

# The registry tests (crates/server/tests/registry.rs, crates/cli/tests/cluster.rs, the
# server life cycle) also run on a real PostgreSQL: a throwaway cluster on a loopback port,
# made with the server binaries of Debian's package (in /usr/lib/postgresql/*/bin, not on
# PATH; as root, run as the `postgres` user the package creates), or the server at
# PRISM_TEST_DATABASE_URL. Without either, those tests fail: they are never skipped.
if [ -z "${PRISM_TEST_DATABASE_URL:-}" ] && [ -z "${PRISM_TEST_PG_BIN:-}" ] \
    && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    echo "installing postgresql with apt-get"
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq postgresql >/dev/null
fi

echo "== cargo test"
cargo test --workspace --locked

# The web UI in headless Chromium (Debian's package; never a downloaded browser), driven by
# playwright-core (pinned in ui-tests/package-lock.json) against the binary just built.
echo "== web UI browser tests (ui-tests/)"
if [ -z "${CHROMIUM:-}" ] && [ ! -x /usr/bin/chromium ]; then
    echo "installing chromium with apt-get"
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq chromium >/dev/null
fi
(cd ui-tests && npm ci --no-audit --no-fund --silent \
    && PRISM_BIN="$CARGO_TARGET_DIR/debug/prism" npm test --silent)

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

# Whole-workspace commands with the feature added keep every other crate's features as the
# plain build has them, so tract is not compiled again; `--test ort --test ort_missing`
# runs only the ort test targets (model and engine).
ORT_FEATURES=prism-model/ort,prism-engine/ort,prism-cli/ort
echo "== cargo clippy --features ort"
cargo clippy --workspace --features "$ORT_FEATURES" --all-targets --locked -- -D warnings

echo "== cargo test --features ort (ORT_DYLIB_PATH=$ORT_DYLIB_PATH)"
cargo test --workspace --features "$ORT_FEATURES" --locked --test ort --test ort_missing

echo "== python: build prism_xai into .venv-python"
start=$(date +%s)
PYTHON="${PYTHON:-python3}"
[ -x .venv-python/bin/python ] || "$PYTHON" -m venv .venv-python
.venv-python/bin/python -m pip install --quiet --disable-pip-version-check -r python/requirements-test.txt
# maturin develop builds the dev profile (tract optimised, as for cargo test) into the
# shared target directory and installs the package into the venv (editable).
(cd python && VIRTUAL_ENV="$PWD/../.venv-python" PATH="$PWD/../.venv-python/bin:$PATH" \
    maturin develop --locked)
echo "python package ready in $(( $(date +%s) - start ))s"

echo "== pytest"
PRISM_BIN="$CARGO_TARGET_DIR/debug/prism" .venv-python/bin/python -m pytest python/tests -q
