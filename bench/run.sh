#!/usr/bin/env bash
# Runs the Prism vs shap benchmark: makes the virtual environment .venv-bench (Python >= 3.12)
# if needed, builds prism-cli in release mode, prints the table and appends it to
# docs/benchmarks.md. Arguments go to bench/shapley_vs_shap.py (e.g. --no-record).
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv-bench
if [ ! -x "$venv/bin/python" ]; then
    python=""
    for candidate in "${PYTHON:-}" python3.13 python3.12 python3 \
        "$HOME"/.pyenv/versions/3.13*/bin/python3 "$HOME"/.pyenv/versions/3.12*/bin/python3; do
        [ -n "$candidate" ] || continue
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
            python="$candidate"
            break
        fi
    done
    if [ -z "$python" ]; then
        echo "bench/run.sh: shap 0.54 needs Python >= 3.12; set PYTHON=/path/to/python3.12" >&2
        exit 1
    fi
    "$python" -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r bench/requirements.txt
# Prism's ort backend uses the same ONNX Runtime library the Python side runs.
if [ -z "${ORT_DYLIB_PATH:-}" ]; then
    ORT_DYLIB_PATH=$(ls "$PWD/$venv"/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.* | head -n 1)
    export ORT_DYLIB_PATH
fi
exec "$venv/bin/python" bench/shapley_vs_shap.py "$@"
