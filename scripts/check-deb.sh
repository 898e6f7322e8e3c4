#!/usr/bin/env bash
# CI: builds the .deb and checks what is in it: the binary (no Swift runtime needed at run
# time), the units pointing at /usr/bin, the config as a conffile, the maintainer scripts.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
deb=$(scripts/make-deb.sh "$out" | tail -1)
fail() { echo "check-deb: $*" >&2; exit 1; }
contents=$(dpkg-deb --contents "$deb")
for f in ./usr/bin/linesight ./etc/linesight/linesight.toml ./lib/systemd/system/linesight.service \
         ./lib/systemd/system/linesight-retrain.service ./lib/systemd/system/linesight-retrain.timer ./var/lib/linesight/models/; do
    grep -q " $f\$" <<<"$contents" || fail "$f is not in the package"
done
info=$(dpkg-deb --info "$deb")
grep -q "Depends: .*libopenblas" <<<"$info" || fail "no OpenBLAS dependency: $info"
grep -q "Depends: .*libturbojpeg" <<<"$info" || fail "no TurboJPEG dependency"
grep -q "Depends: .*libmosquitto" <<<"$info" || fail "no libmosquitto dependency (the MQTT output)"
grep -q "Depends: .*libmodbus" <<<"$info" || fail "no libmodbus dependency (the Modbus TCP output)"
grep -q "Depends: .*libgpiod" <<<"$info" || fail "no libgpiod dependency (the GPIO output)"
grep -q "Depends: .*libv4lconvert" <<<"$info" || fail "no libv4lconvert dependency (camera formats converted to RGB)"
# Listed into a variable first: with pipefail, `grep -q` quitting at its first match can
# kill tar with SIGPIPE and fail the pipeline although the file is there.
! grep -q " ./etc/linesight/token\$" <<<"$contents" || fail "the package carries a bearer token (every line PC must make its own)"
control=$(dpkg-deb --ctrl-tarfile "$deb" | tar -t)
grep -q conffiles <<<"$control" || fail "no conffiles: $control"
dpkg-deb -x "$deb" "$out/root"
libs=$(ldd "$out/root/usr/bin/linesight")
! grep -q libswift <<<"$libs" || fail "the binary needs the Swift runtime at run time"
grep -q "ExecStart=/usr/bin/linesight serve" "$out/root/lib/systemd/system/linesight.service" || fail "the unit does not run /usr/bin/linesight"
help=$("$out/root/usr/bin/linesight" --help)
grep -q "review" <<<"$help" || fail "the packaged binary does not run"
# the packaged (release) binary on a CPU without AVX, when qemu-user is here (make test installs it)
if [[ $(uname -m) == x86_64 ]] && command -v qemu-x86_64 >/dev/null; then
    version=$(ulimit -c 0; qemu-x86_64 -cpu Nehalem "$out/root/usr/bin/linesight" --version) || fail "the packaged binary does not start on a CPU without AVX (qemu -cpu Nehalem)"
    grep -q "^fp32 kernels: baseline" <<<"$version" || fail "the packaged binary on a CPU without AVX: $version"
fi
echo "check-deb: $(basename "$deb") ($(du -h "$deb" | cut -f1)): binary, units, conffile, maintainer scripts; depends on $(sed -n 's/^ Depends: //p' <<<"$info")"
