#!/usr/bin/env bash
# make bench-quality DATA=DIR: Linesight and two PyTorch references on a labelled tree with
# train/ val/ test/, side by side (see run.sh). EPOCHS (default 60) for all three;
# TRAIN_FLAGS for Linesight's `train`; SKIP=resnet18,ours,linesight leaves columns out;
# BENCH_DIR keeps the runs (default .build/bench-quality-tree); R18_INPUT is the ResNet18
# reference's input: both (default: Linesight's high-pass beside the image, without which it
# stayed at chance on surface-dev), highpass or image (torchvision's plain recipe).
set -euo pipefail
cd "$(dirname "$0")/../.."
[[ -d $DATA/train && -d $DATA/test && ( -d $DATA/val || -d $DATA/valid || -d $DATA/validation ) ]] \
    || { echo "DATA=$DATA: expected a tree with train/ val/ test/" >&2; exit 2; }
data=$(realpath "$DATA")
epochs=${EPOCHS:-60}
dir=${BENCH_DIR:-.build/bench-quality-tree}
skip=,${SKIP:-},
bin=.build/release/linesight
venv=.build/bench-venv
if [[ -n ${BENCH_CORETYPE:-} ]]; then export OPENBLAS_CORETYPE=$BENCH_CORETYPE; else unset OPENBLAS_CORETYPE; fi
swift build -c release --product linesight >&2
[[ -x $venv/bin/python ]] || /usr/bin/python3 -m venv --system-site-packages "$venv"
mkdir -p "$dir"
py="$venv/bin/python"
export OMP_NUM_THREADS=2
if [[ $skip != *,linesight,* ]]; then
    echo "Linesight: train --data $data --epochs $epochs ${TRAIN_FLAGS:-}" >&2
    t0=$(date +%s)
    rm -rf "$dir/linesight"
    $bin train --data "$data" --epochs "$epochs" ${TRAIN_FLAGS:-} --out "$dir/linesight" | tr '\r' '\n' | grep -v "ETA\|^epoch" > "$dir/linesight.log"
    echo $(( $(date +%s) - t0 )) > "$dir/linesight.seconds"
    $bin evaluate --models "$dir/linesight" --data "$data" --split test --json > "$dir/linesight-eval.json"
fi
if [[ $skip != *,ours,* ]]; then
    echo "PyTorch, Linesight's recipe and architecture ($epochs epochs)" >&2
    [[ -f $dir/linesight/stage1.safetensors ]] || { echo "the ours column needs Linesight's models: do not SKIP=linesight on a first run" >&2; exit 2; }
    "$py" Benchmarks/quality/torch_tree.py --data "$data" --arch ours --models "$dir/linesight" --epochs "$epochs" > "$dir/torch-ours.json"
fi
if [[ $skip != *,resnet18,* ]]; then
    echo "PyTorch, torchvision ResNet18 from scratch, ${R18_INPUT:-both} input ($epochs epochs)" >&2
    "$py" Benchmarks/quality/torch_tree.py --data "$data" --arch resnet18 --epochs "$epochs" --input-filter "${R18_INPUT:-both}" > "$dir/torch-resnet18.json"
fi
python3 - "$dir" <<'PY'
import json, sys
from pathlib import Path
d = Path(sys.argv[1])
cols = []
def maybe(name):
    p = d / name
    return json.load(open(p)) if p.exists() else None
ev, rep = maybe("linesight-eval.json"), maybe("linesight/report.json")
if ev and rep:
    line = ev["line"]
    stage2 = rep.get("stage2") or {}
    cols.append(("Linesight", ev["stage1"]["auroc"], line["escapeRate"], line["falseRejectRate"],
                 (stage2.get("test") or {}).get("macro_f1_tuned"), float(open(d / "linesight.seconds").read()), rep["input_size"]))
for name, label in (("torch-ours.json", "PyTorch, our recipe"), ("torch-resnet18.json", "PyTorch ResNet18")):
    j = maybe(name)
    if j:
        if j["label"].endswith(" input"):   # the reference's input, e.g. "both input": Linesight's high-pass beside the image
            label += " (" + j["label"].rsplit(", ", 1)[-1] + ")"
        cols.append((label, j["stage1_auc"], j["line"]["escape_rate"], j["line"]["false_reject_rate"],
                     j["stage2"]["macro_f1"], j["wall_seconds"], j["input"]))
if not cols:
    sys.exit("no results in " + str(d))
rows = [("stage-1 ROC AUC (test)", 1, "{:.3f}"), ("the line: escapes (test)", 2, "{:.1%}"),
        ("the line: false rejects (test)", 3, "{:.1%}"), ("stage-2 macro-F1, per-kind thresholds", 4, "{:.3f}"),
        ("wall time, training and judging (s)", 5, "{:.0f}"), ("input", 6, "{}")]
w = max(len(c[0]) for c in cols) + 2
print(f"{'figure (thresholds picked on val/)':42}" + "".join(f"{c[0]:>{w}}" for c in cols))
def cell(v, fmt):
    return "-" if v is None else fmt.format(v)
for name, i, fmt in rows:
    print(f"{name:42}" + "".join(f"{cell(c[i], fmt):>{w}}" for c in cols))
print("targets: AUC >= 0.99; escapes <= 2 % at false rejects <= 5 %; macro-F1 >= 0.85; Linesight ahead of both")
PY
