#!/usr/bin/env bash
# make demo LINE=1, after the models are trained (scripts/demo.sh): a demo line on this machine.
# A station of two views (top, side) takes a part on each trigger; triggers come over MQTT
# (a photo-eye's software stand-in, TRIGGER_MS apart, each with a serial); each part's verdict
# goes to a real mosquitto broker (printed as a line's MES would see it) and to a Modbus TCP
# PLC (linesight-demo-plc: fires the reject gate on each pulse, watches the heartbeat); the
# operator screen is at http://127.0.0.1:PORT/operator. Everything runs on loopback.
#   scripts/demo-line.sh DIR DURATION PORT     (MQTT_PORT=18830 MODBUS_PORT=15020 TRIGGER_MS=250)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$1 duration=$2 port=$3
mqtt_port=${MQTT_PORT:-18830}
modbus_port=${MODBUS_PORT:-15020}
trigger_ms=${TRIGGER_MS:-250}
[[ $trigger_ms =~ ^[0-9]+$ ]] && ((trigger_ms >= 10)) || { echo "demo-line: TRIGGER_MS must be a whole number of milliseconds, 10 or more" >&2; exit 2; }
bin=.build/release/linesight
plc=.build/release/linesight-demo-plc

if ! command -v mosquitto >/dev/null || ! command -v mosquitto_pub >/dev/null; then
    scripts/install-deps.sh --line
fi
[[ -x $plc ]] || { echo "== building the demo PLC (linesight-demo-plc)"; swift build -c release --product linesight-demo-plc; }
mosquitto=$(command -v mosquitto || echo /usr/sbin/mosquitto)

# the token the software triggers over HTTP would need (the MQTT triggers do not)
[[ -f $dir/token ]] || { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$dir/token"; chmod 600 "$dir/token"; }
cat > "$dir/line.toml" <<TOML
# Written by make demo LINE=1; every key is documented in deploy/linesight.toml.
[store]
database = "data/line.sqlite"
frames = "data/line-frames"

[models]
stage1 = "models/stage1.safetensors"
stage2 = "models/stage2.safetensors"

[http]
listen = "127.0.0.1:$port"
token_file = "token"

[outputs.mqtt]
enabled = true
broker = "127.0.0.1:$mqtt_port"
topic = "demo"

[outputs.modbus]
enabled = true
server = "127.0.0.1:$modbus_port"
reject_pulse_ms = 120

[operator]
enabled = true
title = "Linesight demo line"

[[cameras]]
id = "top"
source = "synthetic"
fps = 20
width = 256
height = 192
seed = $RANDOM
defect_rate = 0.08

[[cameras]]
id = "side"
source = "synthetic"
fps = 20
width = 256
height = 192
seed = $RANDOM
defect_rate = 0.08

[[stations]]
id = "station1"
cameras = ["top", "side"]
frames = 1
deadline_ms = 400
triggers = ["mqtt", "api"]
TOML

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

echo "== the line: mosquitto on 127.0.0.1:$mqtt_port, the PLC on 127.0.0.1:$modbus_port (Modbus TCP)"
"$mosquitto" -p "$mqtt_port" > "$dir/mosquitto.log" 2>&1 & pids+=($!)
"$plc" "$modbus_port" > >(tee "$dir/plc.log") & pids+=($!)
up=0
for _ in $(seq 50); do mosquitto_pub -p "$mqtt_port" -t demo/hello -n 2>/dev/null && { up=1; break; }; sleep 0.1; done
((up)) || { cat "$dir/mosquitto.log"; echo "demo-line: the broker did not come up on port $mqtt_port (MQTT_PORT=)" >&2; exit 1; }
for _ in $(seq 50); do grep -q "^plc: listening" "$dir/plc.log" 2>/dev/null && break; sleep 0.1; done
kill -0 "${pids[1]}" 2>/dev/null && grep -q "^plc: listening" "$dir/plc.log" \
    || { echo "demo-line: the PLC did not start on port $modbus_port (MODBUS_PORT=)" >&2; exit 1; }
# what the line's MES sees: one message per part
mosquitto_sub -p "$mqtt_port" -t 'demo/parts/#' -F 'mqtt: %t %p' & pids+=($!)

echo "== inspecting parts for ${duration}s: triggers over MQTT every ${trigger_ms} ms; operator screen on http://127.0.0.1:$port/operator"
$bin serve --config "$dir/line.toml" --duration "$duration" > "$dir/serve.log" 2>&1 &
daemon=$!
pids+=($daemon)
until curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; do
    kill -0 $daemon 2>/dev/null || { tail -20 "$dir/serve.log"; echo "demo-line: the daemon did not start" >&2; exit 1; }
    sleep 0.2
done
n=0
end=$((SECONDS + duration - 2))
while ((SECONDS < end)) && kill -0 $daemon 2>/dev/null; do
    n=$((n + 1))
    mosquitto_pub -p "$mqtt_port" -q 1 -t demo/trigger/station1 -m "SN-$(printf %05d $n)"
    sleep "$(awk "BEGIN { print $trigger_ms / 1000 }")"
done
# the operator screen's view of the run, while the daemon still serves it (the last part decided)
sleep 0.6
curl -fs "http://127.0.0.1:$port/api/v1/operator/status" | python3 -c '
import json, sys
s = json.load(sys.stdin); c = s["counts"]
y = "-" if c["yield"] is None else "%.1f %%" % (c["yield"] * 100)
print("operator screen: light %s, %d %s, %d passed, %d rejected, yield %s, last part %s" %
      (s["light"], c["total"], s["unit"], c["passes"], c["fails"], y, s["last"].get("part")))' || true
wait $daemon || { tail -20 "$dir/serve.log"; echo "demo-line: the daemon failed" >&2; exit 1; }
sleep 0.5
kill "${pids[1]}" 2>/dev/null || true; wait "${pids[1]}" 2>/dev/null || true   # the PLC's summary
sleep 0.2

echo
echo "== parts of this run (SQLite: $dir/data/line.sqlite)"
sqlite3 -header -column "$dir/data/line.sqlite" \
    "SELECT decision, count(*) AS parts, round(avg(decided_ms), 1) AS avg_ms, round(max(decided_ms), 1) AS max_ms FROM parts GROUP BY decision"
echo "demo-line: $n triggers sent, $(sqlite3 "$dir/data/line.sqlite" 'SELECT count(*) FROM parts') parts decided"
cat <<EOF2

== next
  $bin serve --config $dir/line.toml     run the line again; open http://127.0.0.1:$port/operator
  curl -s -X POST -H "Authorization: Bearer \$(cat $dir/token)" 'http://127.0.0.1:$port/api/v1/trigger?serial=SN-1'
  mosquitto_pub -p $mqtt_port -t demo/trigger/station1 -m SN-2      a trigger over MQTT
  curl -s 'http://127.0.0.1:$port/api/v1/parts?limit=5'
EOF2
