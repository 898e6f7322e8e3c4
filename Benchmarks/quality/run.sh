#!/usr/bin/env bash
# make bench-quality: the staged models on synthetic parts, Linesight and PyTorch side by
# side (same data, split, architectures and recipe). Parts as a line makes them: 70 % good,
# six defect kinds of which the rarest is ~3 % of all parts, a third of defects subtle.
# Reports, on the test split: stage-1 escape rate and false rejects at one threshold (picked
# on validation for 99 % defect recall), the line's escapes and false rejects when stage 2
# settles the parts stage 1 is unsure of (the daemon's default), and stage-2 macro-F1.
# SIZE is train's --input-size: auto (the default: the parts' own 256x192, about 50 minutes
# for Linesight and 45 for PyTorch on 2 cores) or e.g. 128 (about a third of that).
#   COUNT=4000 SIZE=auto EPOCHS=60 TRAIN_FLAGS="--no-stem-pool" Benchmarks/quality/run.sh
#
# DATA=DIR: any labelled tree with train/ val/ test/ (one folder per class, the pass class
# ok/ good/ or normal/), e.g. DATA=../shared/datasets/surface-dev. Three columns, thresholds
# picked on val/, figures on test/: Linesight `train --data DIR` with its defaults (plus
# TRAIN_FLAGS), PyTorch with Linesight's recipe and architecture, and torchvision's ResNet18
# from scratch with a standard recipe (Benchmarks/quality/torch_tree.py says which).
#   DATA=../shared/datasets/surface-dev EPOCHS=60 Benchmarks/quality/run.sh
# SKIP=resnet18 (or ours, linesight) leaves a column out.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [[ -n ${DATA:-} ]]; then exec Benchmarks/quality/tree.sh; fi
count=${COUNT:-4000}
size=${SIZE:-auto}
epochs=${EPOCHS:-60}
dir=${BENCH_DIR:-.build/bench-quality}
bin=.build/release/linesight
# The kernels OpenBLAS picks for this CPU, as an installed service runs (BENCH_CORETYPE=X forces X).
if [[ -n ${BENCH_CORETYPE:-} ]]; then export OPENBLAS_CORETYPE=$BENCH_CORETYPE; else unset OPENBLAS_CORETYPE; fi
venv=.build/bench-venv
swift build -c release --product linesight >&2
[[ -x $venv/bin/python ]] || /usr/bin/python3 -m venv --system-site-packages "$venv"
mkdir -p "$dir"
if [[ ! -f $dir/data/labels.csv ]]; then
    rm -rf "$dir/data"
    $bin synth --out "$dir/data" --count "$count" --seed 21 --defect-rate 0.3 \
        --kinds scratch:7,pit:6,dent:5,stain:5,crack:4,missing_feature:3 >&2
fi
t0=$(date +%s)
$bin train --data "$dir/data" --input-size "$size" --epochs "$epochs" ${TRAIN_FLAGS:-} --out "$dir/linesight" | tr '\r' '\n' | grep -v "ETA\|^epoch" > "$dir/linesight.log"
t1=$(date +%s)
OMP_NUM_THREADS=2 "$venv/bin/python" Benchmarks/quality/torch_staged.py --data "$dir/data" --models "$dir/linesight" --epochs "$epochs" > "$dir/torch.json"
t2=$(date +%s)
python3 - "$dir/linesight/report.json" "$dir/torch.json" $((t1 - t0)) $((t2 - t1)) <<'PY'
import json, sys
ls, pt = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
t = ls["stage1"]["test"]
rows = [
    ("stage-1 test escape rate (one threshold)", t["escapeRate"] * 100, pt["stage1"]["test_escape_rate"] * 100, "%"),
    ("stage-1 test false rejects (one threshold)", t["notPassedGoodRate"] * 100, pt["stage1"]["test_false_reject_rate"] * 100, "%"),
    ("the line: test escape rate (stage 2 settles the unsure)", ls["line"]["test"]["escapeRate"] * 100, pt["line"]["test_escape_rate"] * 100, "%"),
    ("the line: test false rejects", ls["line"]["test"]["falseRejectRate"] * 100, pt["line"]["test_false_reject_rate"] * 100, "%"),
    ("stage-2 test macro-F1 at 0.5", ls["stage2"]["test"]["macro_f1"] * 100, pt["stage2"]["macro_f1"] * 100, " pts"),
    ("stage-2 test macro-F1, per-kind thresholds", ls["stage2"]["test"]["macro_f1_tuned"] * 100, pt["stage2"]["macro_f1_tuned"] * 100, " pts"),
    ("wall time, both stages (s)", float(sys.argv[3]), float(sys.argv[4]), ""),
]
print(f"model input {ls['input_size']}; test split: {t['defective']} defective, {t['good']} good parts")
print(f"{'figure':56} {'Linesight':>10} {'PyTorch':>10}")
for name, a, b, unit in rows:
    print(f"{name:56} {a:>9.2f}{unit[:1] if unit == '%' else ' '} {b:>9.2f}{unit[:1] if unit == '%' else ' '}")
print(f"targets: escape <= 2% at false rejects <= 5%; macro-F1 within 2 points of PyTorch's or better")
PY
