#!/usr/bin/env bash
# ONNX Runtime (PyPI) in a venv under .build/, for the tests and benchmarks that check
# `linesight export --format onnx` and compare int8 speed: prints the venv's python.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.build/onnx-venv
if ! "$venv/bin/python" -c 'import onnxruntime, onnx, numpy, sympy' 2>/dev/null; then
    rm -rf "$venv"
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install -q --disable-pip-version-check 'onnxruntime>=1.17,<2' 'onnx>=1.15,<2' 'numpy>=1.24' sympy >&2
fi
echo "$PWD/$venv/bin/python"
