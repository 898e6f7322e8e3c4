#!/usr/bin/env bash
# deploy/install.sh into a temporary root: files in place, the installed config loads, a second
# run changes nothing, an upgrade keeps an edited config, --uninstall keeps data, --purge not.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${1:-.build/debug/linesight}")
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
fail() { echo "check-deploy: $*" >&2; exit 1; }
DESTDIR=$root deploy/install.sh --binary "$bin" >/dev/null
for f in usr/local/bin/linesight etc/linesight/linesight.toml etc/systemd/system/linesight.service \
         etc/systemd/system/linesight-retrain.service etc/systemd/system/linesight-retrain.timer var/lib/linesight/models; do
    [[ -e $root/$f ]] || fail "$f missing"
done
grep -q '^database = "/var/lib/linesight/inspection.sqlite"' "$root/etc/linesight/linesight.toml" || fail "config paths not set for /var/lib"
grep -q '^token_file = "/etc/linesight/token"' "$root/etc/linesight/linesight.toml" || fail "the installed config names no token file"
[[ $(stat -c %a "$root/etc/linesight/token") == 640 && $(wc -c <"$root/etc/linesight/token") -ge 33 ]] || fail "no token, or others can read it"
first_token=$(cat "$root/etc/linesight/token")
sed 's#/var/lib/linesight#'"$root"'/var/lib/linesight#g' "$root/etc/linesight/linesight.toml" > "$root/check.toml"
"$bin" models list --config "$root/check.toml" >/dev/null || fail "the installed config does not load"
DESTDIR=$root deploy/install.sh --binary "$bin" >/dev/null
echo "# edited by the line engineer" >> "$root/etc/linesight/linesight.toml"
out=$(DESTDIR=$root deploy/install.sh --binary "$bin")
grep -q "kept your" <<<"$out" || fail "an upgrade must keep an edited config"
[[ $(cat "$root/etc/linesight/token") == "$first_token" ]] || fail "an upgrade must keep the token"
grep -q "edited by the line engineer" "$root/etc/linesight/linesight.toml" || fail "config overwritten"
touch "$root/var/lib/linesight/models/stage1.safetensors"
DESTDIR=$root deploy/install.sh --uninstall >/dev/null
[[ ! -e $root/usr/local/bin/linesight && -e $root/var/lib/linesight/models/stage1.safetensors ]] || fail "uninstall must remove the binary and keep the data"
DESTDIR=$root deploy/install.sh --uninstall --purge >/dev/null
[[ ! -e $root/var/lib/linesight ]] || fail "--purge must delete the data"
echo "check-deploy: install, reinstall, upgrade, uninstall and purge into a temporary root: ok"
