#!/usr/bin/env bash
# Checks the systemd units offline (no systemd needed): `systemd-analyze verify` must print
# nothing on stderr, and `systemd-analyze security` must score each service <= 2.0.
#   scripts/check-units.sh [BINARY]   (BINARY replaces /usr/local/bin/linesight, which verify needs to exist)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${1:-.build/debug/linesight}")
[[ -x $bin ]] || { echo "check-units: $bin is not built" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for f in systemd/*.service systemd/*.timer; do
    sed "s#/usr/local/bin/linesight#$bin#g" "$f" > "$tmp/$(basename "$f")"
done
status=0
for f in "$tmp"/*.service "$tmp"/*.timer; do
    err=$(systemd-analyze verify "$f" 2>&1 >/dev/null | grep -v "^$" || true)
    if [[ -n $err ]]; then echo "verify $(basename "$f"):"; echo "$err"; status=1; else echo "verify $(basename "$f"): ok"; fi
done
for f in "$tmp"/*.service; do
    score=$(systemd-analyze security --offline=true "$f" 2>/dev/null | tail -1)
    echo "security $(basename "$f"): ${score#→ }"
    systemd-analyze security --offline=true --threshold=20 "$f" >/dev/null 2>&1 || { echo "  exposure above 2.0"; status=1; }
done
exit $status
