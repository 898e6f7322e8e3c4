#!/usr/bin/env bash
# make bench-pipeline: the inspection pipeline at line speed (replay of 640x480 MJPEG,
# small ResNet at 128x128, ~10% to stage 2, verdicts group-committed to SQLite). Prints a
# table and writes the figures as JSON (its path is the last line).
# MODELS=DIR runs trained models (what `linesight train` wrote) instead of the random pair.
#   SECONDS_PER_RATE=8 RATES=200,400,600,700,800 [MODELS=DIR] Benchmarks/pipeline/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
swift build -c release --product linesight-pipeline-bench >&2
out=bench-results/$(date +%Y%m%d-%H%M%S)
mkdir -p "$out"
.build/release/linesight-pipeline-bench "$out/work" --seconds "${SECONDS_PER_RATE:-8}" \
    --rates "${RATES:-200,400,600,700,800}" ${MODELS:+--models "$MODELS"} > "$out/pipeline.json"
rm -rf "$out/work"
python3 - "$out/pipeline.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"Inspection pipeline: {r['frames']}, {r['stage1']}, {r['workers']} workers, {r['seconds_per_rate']:.0f} s per rate")
print(f"{'rate fps':>9}{'achieved':>10}{'dropped':>9}{'late':>6}{'stage 2':>9}{'p50 ms':>8}{'p99 ms':>8}  sustained")
for x in r["runs"]:
    print(f"{x['rate']:>9.0f}{x['achieved_fps']:>10.1f}{x['dropped']:>9}{x['timed_out']:>6}{x['stage2_share']*100:>8.0f}%"
          f"{x['p50_ms']:>8.2f}{x['p99_ms']:>8.2f}  {'yes' if x['sustained'] else 'no'}")
p99 = r.get("sustained_p99_ms")
print(f"sustained: {r['sustained_fps']:.0f} frames/s with zero drops, p99 {p99:.2f} ms" if p99 is not None else "sustained: none")
print(f"SQLite with group commit: {r['sqlite_verdicts_per_second']:.0f} verdicts/s")
print(f"target: {r['target']}")
PY

# Trigger to reject signal: the shipped binary, a station of two views, triggers over MQTT,
# outputs to a real mosquitto broker and a libmodbus server standing in for the PLC.
scripts/install-deps.sh --test >&2   # mosquitto
swift build -c release --product linesight >&2
swift build -c release --product linesight-line-bench >&2
.build/release/linesight-line-bench "$out/line-work" --seconds "${LINE_SECONDS:-20}" > "$out/line.json"
rm -rf "$out/line-work"
python3 - "$out/line.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print()
print(f"Trigger to reject signal: {r['parts_triggered']} parts at {r['rate_per_second']:.0f}/s, {r['views']} views per part "
      f"(synthetic cameras at {r['camera_fps']} fps: a software trigger waits for the next frame), {r['models']}, {r['cores']} cores")
print(f"{'output':>8}{'received':>10}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
for k in ("mqtt", "modbus"):
    x = r[k]
    print(f"{k:>8}{x['received']:>10}{x['p50_ms']:>9.1f}{x['p99_ms']:>9.1f}{x['max_ms']:>9.1f}")
print(f"parts decided {r['parts_decided']:.0f}, late parts {r['late_parts']:.0f}")
print(f"target: {r['target']}")
PY
echo "$out/pipeline.json"
echo "$out/line.json"
