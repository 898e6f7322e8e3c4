#!/usr/bin/env bash
# make bench-loop: fewer labels for the same quality. The line's learning loop simulated on a
# labelled tree (DATA, default ../shared/datasets/surface-dev): train/'s labels hidden, a
# random seed of them revealed, then rounds of train (warm-started, as retrain does) -> score
# the unlabelled pool -> a sampler picks the next STEP frames -> their labels revealed, up to
# BUDGET. Samplers: random, uncertainty only, and the daemon's review order (uncertainty-
# weighted k-center on stage 1's embeddings). Stage-1 test AUC after each round, a table,
# the labels each sampler needs to reach random's final AUC, and a plot (loop.svg).
# Two pools: the tree's own (surface-dev: 30 % defective) and a line's prevalence
# (LINE_RATE, 5 %: every good part, defective ones drawn to make 5 % of the pool).
#   DATA=DIR SEEDS=2 SIZE=128 Benchmarks/loop/run.sh      (about 40 minutes on 2 cores)
#   DATA=synth Benchmarks/loop/run.sh     (linesight synth parts made here, where stage 1 learns
#                                          from a few hundred labels; MIN_STEPS=400 a round)
# LOOP_FLAGS adds options of linesight-loop-bench (e.g. the surface recipe: "--input-filter both
# --anomaly-map --synthetic-defects 0 --first-epochs 20").
set -euo pipefail
cd "$(dirname "$0")/../.."
data=${DATA:-../shared/datasets/surface-dev}
dir=${BENCH_DIR:-.build/bench-loop}
seeds=${SEEDS:-2}
size=${SIZE:-128}
rate=${LINE_RATE:-0.05}
read -r -a flags <<< "${LOOP_FLAGS:-}"
if [[ $data == synth ]]; then
    # linesight synth parts, where stage 1 learns from a few hundred labels: 3,000 in the pool
    # (30 % defective), 500 for validation, 1,000 for test, gray 128x128; every round at least
    # MIN_STEPS optimizer steps so the curve measures labels, not compute (about 25 minutes a
    # seed); SIZE and LINE_RATE do not apply
    swift build -c release --product linesight >&2
    data=$dir/linesight-synth
    stamp="train 3000, val 500, test 1000; 128x128 gray; defect rate 0.3"
    if [[ "$(cat "$data/.settings" 2>/dev/null)" != "$stamp" ]]; then
        rm -rf "$data"
        for split in "train 3000 0" "val 500 3000" "test 1000 3500"; do
            read -r name count start <<< "$split"
            .build/release/linesight synth --out "$data/$name" --count "$count" --start "$start" --size 128x128 --defect-rate 0.3 >&2
        done
        echo "$stamp" > "$data/.settings"
    fi
    swift build -c release --product linesight-loop-bench >&2
    echo "== linesight synth parts: seed 50, +50 a round, to 300 labels, each round at least ${MIN_STEPS:-400} steps"
    .build/release/linesight-loop-bench --data "$data" --out "$dir/synth" --size 128 --seeds "$seeds" --seed-labels 50 --step 50 --budget 300 \
        --min-steps "${MIN_STEPS:-400}" --target-auc 0.99 ${flags[@]+"${flags[@]}"}
    echo "plot: $dir/synth/loop.svg"
    exit 0
fi
[[ -d $data/train && -d $data/val && -d $data/test ]] || { echo "bench-loop: $data needs train/ val/ test/ (DATA=DIR)" >&2; exit 2; }
swift build -c release --product linesight-loop-bench >&2
bin=.build/release/linesight-loop-bench
echo "== the tree's own pool (every train/ image), seed 100, +100 a round, to 1,000 labels"
$bin --data "$data" --out "$dir/tree" --size "$size" --seeds "$seeds" --seed-labels 100 --step 100 --budget 1000 ${flags[@]+"${flags[@]}"}
echo
echo "== a line's prevalence: $rate of the pool defective, seed 50, +50 a round, to 500 labels"
$bin --data "$data" --out "$dir/line" --size "$size" --seeds "$seeds" --pool-defect-rate "$rate" --seed-labels 50 --step 50 --budget 500 ${flags[@]+"${flags[@]}"}
echo
echo "plots: $dir/tree/loop.svg $dir/line/loop.svg"
