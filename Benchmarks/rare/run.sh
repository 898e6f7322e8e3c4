#!/usr/bin/env bash
# make bench-rare: one incremental round for a rare defect. The first training sees stains
# on ~1 % of parts; then 500 newly labeled stained parts arrive and `linesight retrain`
# fine-tunes both stages on them plus a replay of the first data. Prints, per defect kind,
# the champion's and the challenger's recall on the same gate images (the frozen golden
# set plus the new validation images): the rare kind should rise, the others hold.
#   COUNT=3000 SIZE=96 Benchmarks/rare/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
count=${COUNT:-3000}
size=${SIZE:-96}
rare=${RARE:-stain}
dir=${BENCH_DIR:-.build/bench-rare}
bin=.build/release/linesight
# The kernels OpenBLAS picks for this CPU, as an installed service runs (BENCH_CORETYPE=X forces X).
if [[ -n ${BENCH_CORETYPE:-} ]]; then export OPENBLAS_CORETYPE=$BENCH_CORETYPE; else unset OPENBLAS_CORETYPE; fi
swift build -c release --product linesight >&2
rm -rf "$dir" && mkdir -p "$dir"
cat > "$dir/line.toml" <<TOML
[store]
database = "data/inspection.sqlite"
frames = "data/frames"
[models]
stage1 = "models/stage1.safetensors"
stage2 = "models/stage2.safetensors"
[[cameras]]
id = "bench"
TOML

weights=$(tr ',' '\n' <<<"scratch:7,pit:6,dent:5,crack:5,missing_feature:4,stain:4" | grep -v "^$rare:" | paste -sd,),$rare:1
$bin synth --out "$dir/first" --count "$count" --seed 31 --defect-rate 0.3 --kinds "$weights" > /dev/null
$bin synth --out "$dir/new" --count 500 --start "$count" --seed 31 --defect-rate 1 --multi-defect-rate 0 --kinds "$rare" > /dev/null
echo "first training ($weights): $(grep -c "[,+]$rare\(+\|,\)" "$dir/first/labels.csv" || true) of $count parts carry $rare; then 500 new $rare labels" >&2
$bin train --data "$dir/first" --input-size "$size" --config "$dir/line.toml" | tr '\r' '\n' | grep -v "ETA\|^epoch" > "$dir/train.log"
$bin retrain --data "$dir/new" --config "$dir/line.toml" --nice 0 | tr '\r' '\n' | grep -v "ETA\|^epoch" > "$dir/retrain.log"
echo "per-kind recall on the same gate images, before (champion) and after (challenger) the round:"
printf '  %-18s %-8s %9s %9s\n' kind stage before after
sed -n 's/^ *\(stage-2 recall\|recall\) \([a-z_]*\) .*champion \([0-9.]*\)[^,]*, challenger \([0-9.]*\).*/\1|\2|\3|\4/p' "$dir/retrain.log" |
    while IFS='|' read -r which kind before after; do
        stage=1; [[ $which == "stage-2 recall" ]] && stage=2
        printf '  %-18s %-8s %9s %9s%s\n' "$kind" "$stage" "$before" "$after" "$([[ $kind == "$rare" ]] && echo "   <- the rare kind")"
    done
grep -E "stage-2 macro-F1|^promoted|^kept" "$dir/retrain.log" | sed 's/^ *//; s/^/  /'
