#!/usr/bin/env bash
# Runs every test of the project: formatting, lints, and the whole test suite (unit,
# integration, end-to-end tests of the real `prism` binary, doc tests).
# Needs only Rust stable (rustup installs rustfmt and clippy if missing).
set -euo pipefail
cd "$(dirname "$0")/.."

rustup component add rustfmt clippy >/dev/null 2>&1 || true

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo test"
cargo test --workspace --locked
