#!/usr/bin/env bash
# make demo: the whole line on this machine, under one folder (linesight-demo/ by default).
# Generates a synthetic dataset of parts with defects, trains the two inspection stages
# (or reuses them), then runs the daemon on the synthetic camera with live verdicts and
# its HTTP API on localhost, and prints the statistics at the end.
#   DURATION=60 DEMO_DIR=linesight-demo PORT=8080 scripts/demo.sh
# LINE=1: a demo line instead (scripts/demo-line.sh): parts triggered over MQTT at a station
# of two views, verdicts to a real mosquitto broker and a Modbus TCP PLC, the operator screen.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${DEMO_DIR:-linesight-demo}
duration=${DURATION:-60}
port=${PORT:-8080}
count=${COUNT:-3000}
# The demo trains smaller than the defaults (the camera's 256x192): 128x96 keeps the
# camera's aspect at a quarter of the pixels, a running line in minutes rather than an hour.
# Fewer epochs do not pay: at 30 epochs and 96x96 the line rejected 70 % of the camera's
# good parts; at 60 epochs and 128x96 it rejected a third of the held-out test split's (the
# few faintest defects hold the pass threshold down; see README).
epochs=${EPOCHS:-60}
size=${SIZE:-128x96}
bin=.build/release/linesight
mkdir -p "$dir"

cat > "$dir/linesight.toml" <<TOML
# Written by make demo; every key is documented in deploy/linesight.toml.
[store]
database = "data/inspection.sqlite"
frames = "data/frames"

[models]
stage1 = "models/stage1.safetensors"
stage2 = "models/stage2.safetensors"

[http]
listen = "127.0.0.1:$port"

[[cameras]]
id = "demo"
source = "synthetic"
fps = 10
width = 256
height = 192
seed = $RANDOM
defect_rate = 0.08
TOML

if [[ ! -f $dir/models/stage1.safetensors || ! -f $dir/models/stage2.safetensors ]]; then
    if [[ ! -f $dir/dataset/labels.csv ]]; then
        rm -rf "$dir/dataset"
        echo "== generating $count synthetic parts (256x192, six defect kinds) in $dir/dataset"
        $bin synth --out "$dir/dataset" --count "$count" --seed 1
    fi
    echo "== training stage 1 (pass/fail) and stage 2 (defect kinds) -> $dir/models"
    # --config: the models are registered as the first champions and the golden set frozen,
    # so `linesight retrain` and `linesight models list` work on the demo line too.
    $bin train --data "$dir/dataset" --config "$dir/linesight.toml" --epochs "$epochs" --input-size "$size"
else
    echo "== reusing the models in $dir/models (delete the folder to train again)"
fi

if [[ ${LINE:-0} == 1 ]]; then
    exec scripts/demo-line.sh "$dir" "$duration" "$port"
fi

echo "== inspecting the synthetic camera for ${duration}s (Ctrl-C stops early; API on http://127.0.0.1:$port)"
$bin serve --config "$dir/linesight.toml" --duration "$duration" --live
echo
echo "== statistics of this run (linesight stats)"
$bin stats --config "$dir/linesight.toml" --since 2h --by hour
cat <<EOF2

== next
  $bin serve --config $dir/linesight.toml          run the line again (Ctrl-C drains and stops)
  curl -s http://127.0.0.1:$port/metrics            Prometheus metrics while it runs
  curl -s 'http://127.0.0.1:$port/api/v1/verdicts?flagged=true&limit=5'
  curl -s -H 'Content-Type: image/jpeg' --data-binary @$dir/dataset/crack/\$(ls $dir/dataset/crack | head -1) http://127.0.0.1:$port/api/v1/classify
  sqlite3 $dir/data/inspection.sqlite 'SELECT decision, count(*) FROM verdicts GROUP BY 1'
  $bin review --config $dir/linesight.toml         review the flagged frames in this terminal (q quits)
  $bin stats --config $dir/linesight.toml --by hour          yield, fails and defect rates
  $bin stats --config $dir/linesight.toml --plot pareto --out $dir/pareto.svg
  $bin retrain --config $dir/linesight.toml --dry-run     champion vs challenger on the labels you gave
  $bin audit-labels --config $dir/linesight.toml          labels that look wrong go back to review
EOF2
