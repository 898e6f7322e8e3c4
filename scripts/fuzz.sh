#!/usr/bin/env bash
# Fuzzes with libFuzzer + AddressSanitizer, each target built with swiftc from its module's
# sources and a harness in Fuzz/:
#   decode  JPEG/raw frame -> preprocess      (Sources/Imaging, Fuzz/DecodeFuzz.swift)
#   model   bytes -> ModelFile.decode         (Sources/Neural,  Fuzz/ModelFileFuzz.swift)
#   config  TOML -> ConfigSection typed reads (Sources/Config,  Fuzz/ConfigFuzz.swift)
#   csv     label CSV -> records, write-back round trip, LabelImport
#                                             (Sources/Store/{CSV,LabelImport,StoreError}.swift, Fuzz/LabelCSVFuzz.swift)
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]   SECONDS in all, divided among the targets
#        (CI runs 60 s; for a release, an hour or more: scripts/fuzz.sh 3600).
# Every target runs under -rss_limit_mb=2048 -malloc_limit_mb=1024: a model file that makes
# the decoder ask for a gigabyte is a finding, as a crash is. Findings are saved as
# .build/fuzz/<target>/crash-* (oom-*, leak-*, timeout-*); the script then exits 1.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(decode model config csv)
out=.build/fuzz
per=$(( seconds / ${#targets[@]} ))
[ "$per" -ge 1 ] || per=1

kernel_flags=()
if [ "$(uname -m)" = x86_64 ]; then kernel_flags=(-target-cpu nehalem); fi

# build NAME MODULE SOURCES... -- SWIFTC FLAGS...
build() {
    local name=$1 module=$2; shift 2
    local sources=() flags=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do sources+=("$1"); shift; done
    [ $# -gt 0 ] && shift
    flags=("$@")
    mkdir -p "$out/$name/corpus"
    echo "building the $name fuzzer"
    if ! swiftc -O -sanitize=fuzzer,address -parse-as-library -module-name "$module" ${flags[@]+"${flags[@]}"} \
        "${sources[@]}" -o "$out/$name-fuzz" >"$out/$name/build.log" 2>&1; then
        cat "$out/$name/build.log" >&2
        exit 1
    fi
}

# run NAME MAX_LEN SEED_DIRS...: new inputs go to .build/fuzz/NAME/corpus, seeds are read only.
failed=()
run() {
    local name=$1 max_len=$2; shift 2
    echo "fuzzing $name for ${per}s"
    local before
    before=$(find "$out/$name" -maxdepth 1 -name 'crash-*' -o -maxdepth 1 -name 'oom-*' -o -maxdepth 1 -name 'leak-*' \
             -o -maxdepth 1 -name 'timeout-*' | wc -l)
    local status=0
    "$out/$name-fuzz" -max_total_time="$per" -max_len="$max_len" -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=30 \
        -artifact_prefix="$out/$name/" -print_final_stats=1 "$out/$name/corpus" "$@" >"$out/$name/run.log" 2>&1 || status=$?
    tail -15 "$out/$name/run.log"
    local after
    after=$(find "$out/$name" -maxdepth 1 -name 'crash-*' -o -maxdepth 1 -name 'oom-*' -o -maxdepth 1 -name 'leak-*' \
            -o -maxdepth 1 -name 'timeout-*' | wc -l)
    if [ "$status" -ne 0 ] || [ "$after" -gt "$before" ]; then
        echo "FUZZ FAILURE: $name (exit $status); the input is in $out/$name/ (see $out/$name/run.log)" >&2
        failed+=("$name")
    fi
}

for t in "${targets[@]}"; do
    case $t in
    decode)
        build decode ImagingFuzz Sources/Imaging/*.swift Fuzz/DecodeFuzz.swift -- \
            -I Sources/CTurboJPEG $(pkg-config --libs libturbojpeg)
        cp Tests/ImagingTests/Fixtures/*.jpg Tests/ImagingTests/Fixtures/frame_64x48.* "$out/decode/corpus/" 2>/dev/null || true
        run decode 65536 ;;
    model)
        # the engine's C kernels (CKernels), built as the package builds them, with ASan
        mkdir -p "$out/ckernels"
        for c in Sources/CKernels/*.c; do
            clang -c -O2 -ffp-contract=off -fsanitize=address -I Sources/CKernels/include -I Sources/CKernels "$c" \
                -o "$out/ckernels/$(basename "$c" .c).o"
        done
        build model Neural $(find Sources/Neural -name '*.swift' | sort) "$out"/ckernels/*.o Fuzz/ModelFileFuzz.swift -- \
            -swift-version 5 ${kernel_flags[@]+"${kernel_flags[@]}"} -I Sources/CBLAS -I Sources/CKernels/include $(pkg-config --cflags --libs openblas)
        run model 16384 Fuzz/corpus/model ;;
    config)
        build config Config Sources/Config/*.swift Fuzz/ConfigFuzz.swift --
        mkdir -p "$out/config/seeds" && cp deploy/linesight.toml "$out/config/seeds/"
        run config 65536 Fuzz/corpus/config "$out/config/seeds" ;;
    csv)
        build csv StoreFuzz Sources/Store/CSV.swift Sources/Store/LabelImport.swift Sources/Store/StoreError.swift Fuzz/LabelCSVFuzz.swift --
        run csv 16384 Fuzz/corpus/csv ;;
    *) echo "unknown fuzz target '$t' (decode, model, config, csv)" >&2; exit 2 ;;
    esac
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzzing found problems in: ${failed[*]}" >&2
    exit 1
fi
echo "fuzzing: no findings in ${targets[*]}"
