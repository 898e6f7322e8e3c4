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
# The API against its OpenAPI document on a live daemon with the shipped config and these models.
scripts/check-api.sh "$dir/models"
