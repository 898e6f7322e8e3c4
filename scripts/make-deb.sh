#!/usr/bin/env bash
# Builds a Debian package of Linesight with dpkg-deb: the binary (Swift runtime linked in
# statically, so the line PC needs no toolchain), the documented config as a conffile, the
# systemd units, and maintainer scripts that create the `linesight` user (in `video`) and
# its state under /var/lib/linesight. Upgrades keep config and data; purge removes them.
#   scripts/make-deb.sh [OUT_DIR]          -> OUT_DIR/linesight_<version>_<arch>.deb (default: dist/)
#   sudo apt install ./dist/linesight_*.deb && sudo systemctl enable --now linesight linesight-retrain.timer
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-dist}
swift build -c release --product linesight --static-swift-stdlib >&2
bin=.build/release/linesight
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root=$stage/root
DESTDIR=$root deploy/install.sh --binary "$bin" > /dev/null
# Every line PC makes its own bearer token (postinst); a packaged one would be everyone's.
rm -f "$root/etc/linesight/token"
# Debian places: /usr/bin and /lib/systemd/system, not /usr/local and /etc/systemd/system.
mkdir -p "$root/usr/bin" "$root/lib/systemd/system"
mv "$root/usr/local/bin/linesight" "$root/usr/bin/linesight"
rm -rf "$root/usr/local"
for unit in "$root"/etc/systemd/system/*; do
    sed 's#/usr/local/bin/linesight#/usr/bin/linesight#g' "$unit" > "$root/lib/systemd/system/$(basename "$unit")"
done
rm -rf "$root/etc/systemd"
strip --strip-unneeded "$root/usr/bin/linesight"

# Dependencies: the package owning each shared library the binary links directly
# (readelf NEEDED; their own dependencies come with them). OpenBLAS by its metapackage, so
# any of its threading variants will do.
needed=$(readelf -d "$root/usr/bin/linesight" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p')
deps=()
while read -r name path; do
    grep -qx "$name" <<<"$needed" || continue
    owner=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null | head -1 | cut -d: -f1) || true
    [[ -n $owner ]] || owner=$(dpkg -S "$path" 2>/dev/null | head -1 | cut -d: -f1) || true
    [[ -n $owner ]] || { echo "make-deb: no package provides $path (is the Swift runtime linked statically?)" >&2; exit 1; }
    [[ $owner == libopenblas0-* ]] && owner=libopenblas0
    deps+=("$owner")
done < <(ldd "$root/usr/bin/linesight" | awk '/=> \// { print $1, $3 }')
depends=$(printf '%s\n' "${deps[@]}" | sort -u | paste -sd, | sed 's/,/, /g')

version=0.1.0+git$(git log -1 --format=%cd --date=format:%Y%m%d 2>/dev/null || date +%Y%m%d).$(git rev-parse --short HEAD 2>/dev/null || echo local)
arch=$(dpkg --print-architecture)
mkdir -p "$root/DEBIAN"
cat > "$root/DEBIAN/control" <<CONTROL
Package: linesight
Version: $version
Architecture: $arch
Maintainer: Linesight developers <linesight@localhost>
Depends: $depends, passwd
Recommends: sqlite3
Section: misc
Priority: optional
Installed-Size: $(du -sk "$root" | cut -f1)
Description: visual quality inspection for production lines
 A daemon grabs frames from V4L2 cameras, judges each part with a staged CNN,
 logs every verdict to SQLite, queues uncertain frames for human review in the
 terminal, reports yield and control charts, and retrains monthly on the new
 labels, promoting a model only when it is proven no worse.
CONTROL
echo "/etc/linesight/linesight.toml" > "$root/DEBIAN/conffiles"
cat > "$root/DEBIAN/postinst" <<'SH'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
    getent group linesight >/dev/null || groupadd --system linesight
    getent passwd linesight >/dev/null || useradd --system --gid linesight --home-dir /var/lib/linesight --shell /usr/sbin/nologin linesight
    if getent group video >/dev/null; then usermod -a -G video linesight; fi
    chown -R linesight:linesight /var/lib/linesight
    chmod 0750 /var/lib/linesight
    chgrp linesight /etc/linesight /etc/linesight/linesight.toml
    chmod 0640 /etc/linesight/linesight.toml
    if [ ! -f /etc/linesight/token ]; then
        (umask 027 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > /etc/linesight/token && echo >> /etc/linesight/token)
    fi
    chgrp linesight /etc/linesight/token
    chmod 0640 /etc/linesight/token
    if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
    echo "linesight: set your cameras in /etc/linesight/linesight.toml, put models in place"
    echo "  (sudo -u linesight linesight train --data DIR --config /etc/linesight/linesight.toml), then"
    echo "  systemctl enable --now linesight.service linesight-retrain.timer"
fi
SH
cat > "$root/DEBIAN/prerm" <<'SH'
#!/bin/sh
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
    systemctl disable --now linesight.service linesight-retrain.timer >/dev/null 2>&1 || true
fi
SH
cat > "$root/DEBIAN/postrm" <<'SH'
#!/bin/sh
set -e
if [ "$1" = purge ]; then
    rm -rf /var/lib/linesight /etc/linesight
fi
if [ -d /run/systemd/system ]; then systemctl daemon-reload >/dev/null 2>&1 || true; fi
SH
chmod 0755 "$root/DEBIAN/postinst" "$root/DEBIAN/prerm" "$root/DEBIAN/postrm"
mkdir -p "$out"
deb=$out/linesight_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >&2
echo "$deb"
