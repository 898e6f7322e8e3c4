#!/usr/bin/env bash
# The README's main job, short: `make demo` with a small dataset, few epochs and a short
# run, in a temporary folder; then checks that verdicts, flags and statistics were produced.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
out=$(DEMO_DIR=$dir DURATION=${DURATION:-8} COUNT=${COUNT:-400} EPOCHS=${EPOCHS:-3} PORT=${PORT:-18480} make -s demo 2>&1) \
    || { echo "$out" | tail -40; echo "check-demo: make demo failed" >&2; exit 1; }
fail() { echo "$out" | tail -20; echo "check-demo: $*" >&2; exit 1; }
grep -q "^demo: [0-9]* frames" <<<"$out" || fail "no statistics at the end"
grep -q "== next" <<<"$out" || fail "no next commands"
# the synthetic camera knows each part's truth: the summary gives the line's real figures
truth=$(grep -o "against the camera's truth: escapes [0-9]*/[0-9]* defective.*false rejects [0-9]*/[0-9]* good" <<<"$out") \
    || fail "no escapes and false rejects against the camera's truth"
read -r esc def fr good < <(sed -E 's|.*escapes ([0-9]+)/([0-9]+) defective.*false rejects ([0-9]+)/([0-9]+) good|\1 \2 \3 \4|' <<<"$truth")
((def + good > 20 && esc <= def && fr <= good)) || fail "truth figures do not add up: $truth"
grep -q "^total " <<<"$out" || fail "no linesight stats table"
verdicts=$(sqlite3 "$dir/data/inspection.sqlite" "SELECT count(*) FROM verdicts")
flagged=$(sqlite3 "$dir/data/inspection.sqlite" "SELECT count(*) FROM flags")
frames=$(find "$dir/data/frames" -name '*.jpg' | wc -l)
((verdicts > 20)) || fail "only $verdicts verdicts"
((flagged > 0)) || fail "nothing flagged"
((frames > 0)) || fail "no frames kept"
echo "check-demo: make demo produced $verdicts verdicts, $flagged flags, $frames kept frames; $truth"
# The demo line (make demo LINE=1) on the same models: parts over MQTT triggers, verdicts to
# the broker and the PLC, the operator screen serving them.
line=$(DEMO_DIR=$dir DURATION=${LINE_DURATION:-10} PORT=${PORT:-18480} MQTT_PORT=${MQTT_PORT:-18830} MODBUS_PORT=${MODBUS_PORT:-15020} \
       LINE=1 make -s demo 2>&1) || { echo "$line" | tail -40; echo "check-demo: make demo LINE=1 failed" >&2; exit 1; }
lfail() { echo "$line" | tail -30; echo "check-demo: LINE=1: $*" >&2; exit 1; }
parts=$(sqlite3 "$dir/data/line.sqlite" "SELECT count(*) FROM parts")
late=$(sqlite3 "$dir/data/line.sqlite" "SELECT count(*) FROM parts WHERE error LIKE 'deadline%'")
mqtt=$(grep -c "^mqtt: demo/parts/station1 " <<<"$line" || true)
((parts >= 15)) || lfail "only $parts parts decided"
((mqtt == parts)) || lfail "$mqtt MQTT part messages for $parts parts"
grep -q "^plc: $parts verdicts received" <<<"$line" || lfail "the PLC did not receive one verdict per part ($parts)"
grep -q "^operator screen: light [a-z]*, $parts parts" <<<"$line" || lfail "the operator screen does not count the $parts parts"
echo "check-demo: make demo LINE=1 decided $parts parts ($late late), $mqtt MQTT messages; $(grep '^plc: [0-9]* verdicts' <<<"$line")"
# The API against its OpenAPI document on a live daemon with the shipped config and these models.
scripts/check-api.sh "$dir/models"
