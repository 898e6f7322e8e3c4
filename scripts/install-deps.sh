#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages Linesight builds against, if any are missing.
# Usage: scripts/install-deps.sh [--bench|--test|--line]   (both add PyTorch: the benchmarks' reference, the tests' torchvision export)
set -euo pipefail

# systemd: only its systemd-analyze, to check the units offline in `make test`; sqlite3: the CLI the demo suggests;
# tmux: the review UI is tested in a real terminal; libmosquitto-dev, libmodbus-dev, libgpiod-dev: the MQTT, Modbus TCP and GPIO outputs;
# libv4l-dev: libv4lconvert, for camera formats the pipeline does not read as they come.
packages=(pkg-config linux-libc-dev libopenblas-dev zlib1g-dev libturbojpeg0-dev libjpeg-dev libsqlite3-dev sqlite3 dataset-fashion-mnist systemd tmux libmosquitto-dev libmodbus-dev libgpiod-dev libv4l-dev)
if [[ "${1:-}" == "--bench" ]]; then
    packages+=(python3-torch python3-torchvision python3-pip python3-venv)
fi
# --test: PyTorch exports the torchvision model the weight import is tested against; the MQTT
# output is tested against a real broker (mosquitto) and client (mosquitto_sub); the operator
# screen is loaded in headless Chromium and its screenshot read back with tesseract (OCR); python3-venv:
# ONNX Runtime (PyPI, scripts/onnx-venv.sh) checks `linesight export`; qemu-user runs the build as a CPU without AVX
# (scripts/check-baseline.sh)
if [[ "${1:-}" == "--test" ]]; then
    packages+=(python3-torch python3-torchvision python3-venv python3-pip mosquitto mosquitto-clients chromium tesseract-ocr tesseract-ocr-eng qemu-user)
fi
# --line: make demo LINE=1 runs a real broker and talks to the daemon with curl
if [[ "${1:-}" == "--line" ]]; then
    packages+=(mosquitto mosquitto-clients curl)
fi

missing=()
for p in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [[ $status == *"install ok installed"* ]] || missing+=("$p")
done

if ((${#missing[@]})); then
    echo "installing: ${missing[*]}"
    sudo=""
    [[ $(id -u) -ne 0 ]] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v swift >/dev/null; then
    echo "error: the Swift toolchain (6.0 or newer) is not on PATH; see https://www.swift.org/install/linux/" >&2
    exit 1
fi
