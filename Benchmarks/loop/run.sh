#!/usr/bin/env bash
# make bench-loop: fewer labels for the same quality. The line's learning loop simulated on a
# labelled tree (DATA, default ../shared/datasets/surface-dev): train/'s labels hidden, a
# random seed of them revealed, then rounds of train (warm-started, as retrain does) -> score
# the unlabelled pool -> a sampler picks the next STEP frames -> their labels revealed, up to
# BUDGET. Samplers: random, uncertainty only, and the daemon's review order (uncertainty-
# weighted k-center on stage 1's embeddings). Stage-1 test AUC after each round, a table,
# the labels each sampler needs to reach random's final AUC (or TARGET_AUC), and a plot (loop.svg).
# Every round trains at least MIN_STEPS optimizer steps, so a curve measures labels, not how
# long a round with few labels trained.
#   DATA=DIR Benchmarks/loop/run.sh   the tree's own pool, seed 100, +100 a round, to BUDGET=500,
#       MIN_STEPS=300, SEEDS=2 (each seed in its own process, one thread each, merged at the end),
#       LOOP_FLAGS the surface recipe by default ("--input-filter both --anomaly-map
#       --synthetic-defects 0 --first-epochs 20"); about 80 minutes on 2 cores for surface-dev.
#       LINE_POOL=1 adds a pool at a line's prevalence (LINE_RATE, 5 %: every good part,
#       defective ones drawn to make 5 % of the pool; seed 50, +50, to 500).
#   DATA=synth Benchmarks/loop/run.sh     (linesight synth parts made here, where stage 1 learns
#                                          from a few hundred labels; MIN_STEPS=400 a round)
set -euo pipefail
cd "$(dirname "$0")/../.."
data=${DATA:-../shared/datasets/surface-dev}
dir=${BENCH_DIR:-.build/bench-loop}
seeds=${SEEDS:-2}
size=${SIZE:-128}
rate=${LINE_RATE:-0.05}
if [[ $data == synth ]]; then
    read -r -a flags <<< "${LOOP_FLAGS:-}"
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
read -r -a flags <<< "${LOOP_FLAGS:---input-filter both --anomaly-map --synthetic-defects 0 --first-epochs 20}"
swift build -c release --product linesight-loop-bench >&2
bin=.build/release/linesight-loop-bench
# one process per seed, one thread each (on 2 cores two single-threaded runs do more than one
# run on both), then their rows merged into one table and plot
pool() { # name, then linesight-loop-bench options
    local name=$1; shift
    local pids=() runs=()
    for ((s = 0; s < seeds; s++)); do
        $bin --data "$data" --out "$dir/$name-seed$s" --size "$size" --seeds 1 --first-seed "$s" --threads 1 \
            --min-steps "${MIN_STEPS:-300}" "$@" ${flags[@]+"${flags[@]}"} > "$dir/$name-seed$s.log" 2>&1 &
        pids+=($!); runs+=("$dir/$name-seed$s/loop.json")
    done
    for p in "${pids[@]}"; do wait "$p" || { echo "bench-loop: a seed failed; see $dir/$name-seed*.log" >&2; exit 1; }; done
    local merged
    merged=$(IFS=,; echo "${runs[*]}")
    $bin --merge "$merged" --out "$dir/$name" --data "$data" ${TARGET_AUC:+--target-auc "$TARGET_AUC"}
}
mkdir -p "$dir"
echo "== the tree's own pool (every train/ image), seed 100, +100 a round, to ${BUDGET:-500} labels, each round at least ${MIN_STEPS:-300} steps, $seeds seeds"
pool tree --seed-labels 100 --step 100 --budget "${BUDGET:-500}"
echo "plot: $dir/tree/loop.svg"
if [[ ${LINE_POOL:-0} == 1 ]]; then
    echo
    echo "== a line's prevalence: $rate of the pool defective, seed 50, +50 a round, to 500 labels"
    pool line --pool-defect-rate "$rate" --seed-labels 50 --step 50 --budget 500
    echo "plot: $dir/line/loop.svg"
fi
