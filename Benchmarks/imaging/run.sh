#!/usr/bin/env bash
# make bench-imaging: camera JPEG -> normalized model input, Linesight (TurboJPEG scaled
# decode + area resample) vs OpenCV (imdecode reduced + resize INTER_AREA), single thread,
# same files. Prints a table and writes the figures as JSON (its path is the last line).
#   ITERATIONS=200 Benchmarks/imaging/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
iterations=${ITERATIONS:-200}
venv=.build/imaging-venv
[[ -x $venv/bin/python ]] || /usr/bin/python3 -m venv "$venv"
"$venv/bin/python" -c "import cv2, numpy" 2>/dev/null || "$venv/bin/pip" install -q opencv-python-headless numpy
swift build -c release --product linesight-imaging-bench >&2
out=bench-results/$(date +%Y%m%d-%H%M%S)
mkdir -p "$out/frames"
.build/release/linesight-imaging-bench "$out/frames" --iterations "$iterations" > "$out/linesight-imaging.json"
"$venv/bin/python" Benchmarks/imaging/opencv_bench.py "$out/linesight-imaging.json" "$out/frames" "$iterations" > "$out/imaging.json"
python3 - "$out/imaging.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"JPEG frame -> normalized model input, 1 thread, median per frame (OpenCV {r['opencv']})")
print(f"{'frame':<22}{'input':<12}{'Linesight ms':>13}{'OpenCV ms':>11}{'ratio':>8}   decode scale (ours / OpenCV)")
for c in r["cases"]:
    print(f"{c['frame']:<22}{c['input']:<12}{c['swift_ms']:>13.3f}{c['opencv_ms']:>11.3f}{c['ratio']:>7.2f}x   {c['decode_scale']} / {c['opencv_reduction']}")
print("ratio = Linesight time / OpenCV time (target <= 1.0)")
PY
echo "$out/imaging.json"
