#!/usr/bin/env bash
# make bench-retrain: wall time of the first training (both stages) on 5,000 synthetic parts
# at 128x128, and of a retrain over 5,000 images (1,000 new labels + 4,000 replayed) at the
# same size, on this machine's cores. Target: retrain <= 15 minutes on 2 cores.
#   COUNT=5000 NEW=1000 SIZE=128 Benchmarks/retrain/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
count=${COUNT:-5000}
new=${NEW:-1000}
size=${SIZE:-128}
dir=${BENCH_DIR:-.build/bench-retrain}
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
# Parts as the demo camera makes them: 30 % defective, the rarest kinds a few percent.
$bin synth --out "$dir/first" --count "$count" --seed 11 --defect-rate 0.3 > /dev/null
$bin synth --out "$dir/new" --count "$new" --start "$count" --seed 11 --defect-rate 0.3 > /dev/null
t0=$(date +%s)
$bin train --data "$dir/first" --input-size "$size" --config "$dir/line.toml" | grep -v "^epoch .*%" > "$dir/train.log"
t1=$(date +%s)
$bin retrain --data "$dir/new" --replay $((count - new)) --config "$dir/line.toml" --nice 0 | grep -v "^epoch .*%" > "$dir/retrain.log"
t2=$(date +%s)
echo "first training, both stages, $count images at ${size}x${size}: $((t1 - t0)) s"
echo "retrain at ${size}x${size}: $((t2 - t1)) s (target <= 900 s); $(tr '\r' '\n' < "$dir/retrain.log" | grep -m1 '^loading')"
grep -E "escape|false reject|macro|promoted|kept" "$dir/train.log" "$dir/retrain.log" | sed 's/^/  /' || true
