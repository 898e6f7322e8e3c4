#!/usr/bin/env bash
# Fuzzes the decode -> preprocess path with libFuzzer + AddressSanitizer.
# Usage: scripts/fuzz.sh [SECONDS]   (CI runs 60 s; for a release, run an hour or more:
#        scripts/fuzz.sh 3600). Crashing inputs are saved in .build/fuzz/ as crash-*.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
out=.build/fuzz
mkdir -p "$out/corpus"
cp Tests/ImagingTests/Fixtures/*.jpg "$out/corpus/" 2>/dev/null || true
cp Tests/ImagingTests/Fixtures/frame_64x48.* "$out/corpus/" 2>/dev/null || true
if ! swiftc -O -sanitize=fuzzer,address -parse-as-library -module-name ImagingFuzz \
    -I Sources/CTurboJPEG $(pkg-config --libs libturbojpeg) \
    Sources/Imaging/*.swift Fuzz/DecodeFuzz.swift -o "$out/decode-fuzz" >"$out/build.log" 2>&1; then
    cat "$out/build.log" >&2
    exit 1
fi
echo "fuzzing decode -> preprocess for ${seconds}s"
"$out/decode-fuzz" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 \
    -artifact_prefix="$out/" -print_final_stats=1 "$out/corpus" 2>&1 | tail -15
