#!/usr/bin/env bash
# Prism's nearest-neighbour index against faiss on minilm-50k: makes .venv-neighbors if needed,
# builds the Rust driver in release mode, measures both in one run, prints the table and
# appends it to docs/benchmarks.md. Arguments go to bench/neighbors/run.py (e.g. --no-record).
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=.venv-neighbors
if [ ! -x "$venv/bin/python" ]; then
    "${PYTHON:-python3}" -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r bench/neighbors/requirements.txt
exec "$venv/bin/python" bench/neighbors/run.py "$@"
