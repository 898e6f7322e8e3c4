#!/usr/bin/env bash
# Installs Linesight as a systemd service on a line PC (idempotent; an upgrade keeps data and
# config). Run as root from a built checkout:
#   make release && sudo deploy/install.sh
#   sudo deploy/install.sh --uninstall [--purge]      (--purge also deletes config and data)
#   DESTDIR=/tmp/root deploy/install.sh --binary .build/debug/linesight   (staged, no root needed)
# Layout: /usr/local/bin/linesight, /etc/linesight/linesight.toml (documented defaults),
# /var/lib/linesight/{inspection.sqlite,frames,models,new-labels}, units in /etc/systemd/system.
set -euo pipefail
cd "$(dirname "$0")/.."
root=${DESTDIR:-}
bin=.build/release/linesight
action=install
purge=0
while (($#)); do
    case $1 in
        --uninstall) action=uninstall ;;
        --purge) purge=1 ;;
        --binary) bin=$2; shift ;;
        -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
real=0
[[ -z $root ]] && real=1
if ((real)) && [[ $(id -u) -ne 0 ]]; then echo "install.sh: run as root (or set DESTDIR for a staged install)" >&2; exit 1; fi
systemd_running() { ((real)) && [[ -d /run/systemd/system ]]; }

if [[ $action == uninstall ]]; then
    if systemd_running; then systemctl disable --now linesight.service linesight-retrain.timer 2>/dev/null || true; fi
    rm -f "$root/usr/local/bin/linesight" "$root"/etc/systemd/system/linesight{.service,-retrain.service,-retrain.timer}
    if ((purge)); then rm -rf "$root/etc/linesight" "$root/var/lib/linesight"; echo "removed Linesight, its config and its data"
    else echo "removed Linesight; kept $root/etc/linesight and $root/var/lib/linesight (--purge deletes them)"; fi
    if systemd_running; then systemctl daemon-reload; fi
    exit 0
fi

[[ -x $bin ]] || { echo "install.sh: $bin is not built (make release)" >&2; exit 1; }
if ((real)); then
    getent group linesight >/dev/null || groupadd --system linesight
    getent passwd linesight >/dev/null || useradd --system --gid linesight --home-dir /var/lib/linesight --shell /usr/sbin/nologin linesight
    getent group video >/dev/null && usermod -a -G video linesight
fi
install -D -m 0755 "$bin" "$root/usr/local/bin/linesight"
install -d -m 0750 "$root/etc/linesight" "$root/var/lib/linesight" "$root/var/lib/linesight/models" \
    "$root/var/lib/linesight/frames" "$root/var/lib/linesight/new-labels"
config=$(sed -e 's#^database = .*#database = "/var/lib/linesight/inspection.sqlite"#' \
             -e 's#^frames = .*#frames = "/var/lib/linesight/frames"#' \
             -e 's#^stage1 = .*#stage1 = "/var/lib/linesight/models/stage1.safetensors"#' \
             -e 's#^stage2 = .*#stage2 = "/var/lib/linesight/models/stage2.safetensors"#' \
             -e 's#^\# token_file = .*#token_file = "/etc/linesight/token"#' deploy/linesight.toml)
target=$root/etc/linesight/linesight.toml
if [[ ! -f $target ]]; then
    printf '%s\n' "$config" > "$target"; chmod 0640 "$target"; echo "wrote $target (documented defaults; set your cameras)"
elif [[ $(cat "$target") != "$config" ]]; then
    printf '%s\n' "$config" > "$target.new"; echo "kept your $target; the new defaults are in $target.new"
fi
# The bearer token for the API's state-changing routes: made once, readable by root and the
# service's group only (the daemon refuses a token file others can read).
token=$root/etc/linesight/token
if [[ ! -f $token ]]; then
    (umask 027 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$token" && echo >> "$token")
    echo "wrote $token (bearer token: Authorization: Bearer \$(cat $token))"
fi
chmod 0640 "$token"
for unit in linesight.service linesight-retrain.service linesight-retrain.timer; do
    install -D -m 0644 "systemd/$unit" "$root/etc/systemd/system/$unit"
done
if ((real)); then chown -R linesight:linesight /var/lib/linesight; chgrp linesight /etc/linesight "$target" "$token"; fi
if systemd_running; then systemctl daemon-reload; fi
cat <<MSG
installed Linesight to ${root:-/}
next: put models in place (linesight train --data DIR --config /etc/linesight/linesight.toml),
      set your cameras in /etc/linesight/linesight.toml, then
      systemctl enable --now linesight.service linesight-retrain.timer
MSG
