#!/usr/bin/env python3
"""Prints the side-by-side table of `make bench-engine` and writes the combined JSON."""
import json
import sys
import time
from pathlib import Path

swift, ref = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
out_path = Path(sys.argv[3])
# the rematch, round by round: inference (rematch-linesight-N.json, rematch-ort-N.json)
# and training (rematch-lstrain-N.json, rematch-torch-N.json)
rematch = {}
for p in map(Path, sys.argv[4:]):
    side, n = p.stem.split("-")[1:]
    rematch.setdefault(int(n), {})[side] = json.load(open(p))
rematch = [rematch[n] for n in sorted(rematch)]
rows = []


def row(what, ours, theirs, ref_name, higher_is_better=True):
    ratio = ours / theirs if higher_is_better else theirs / ours
    rows.append({"figure": what, "linesight": ours, "reference": theirs, "reference_name": ref_name,
                 "ratio": ratio, "ratio_meaning": "x faster than the reference" if True else ""})


for k, v in swift["train_images_per_s"].items():
    row(f"train {k} (images/s)", v, ref["train_images_per_s"][k], "pytorch")
for k, v in swift["inference"].items():
    hib = not k.endswith("_ms")
    row(f"infer {k}", v, ref["inference_torch"][k], "pytorch", hib)
    row(f"infer {k}", v, ref["inference_ort"][k], "onnxruntime", hib)


def rematch_row(what, k, ours_side, ours_key, theirs_side, theirs_key, ref_name):
    played = [r for r in rematch if ours_side in r and theirs_side in r]
    if not played:
        return
    hib = not k.endswith("_ms")
    # (ratio, ours, theirs) per round, sorted: the median round's two figures go with its ratio
    rounds = sorted(((o / t) ** (1 if hib else -1), o, t)
                    for o, t in ((r[ours_side][ours_key][k], r[theirs_side][theirs_key][k]) for r in played))
    _, ours, theirs = rounds[len(rounds) // 2]
    row(f"{what} {k}, rematch median of {len(played)}", ours, theirs, ref_name, hib)
    rows[-1]["rounds"] = [r[0] for r in rounds]


for k in swift["train_images_per_s"]:
    rematch_row("train", k, "lstrain", "train_images_per_s", "torch", "train_images_per_s", "pytorch")
for k in swift["inference"]:
    rematch_row("infer", k, "linesight", "inference", "ort", "inference_ort", "onnxruntime")
for k, v in swift["conv_forward"].items():
    row(f"{k}", v, ref["conv_forward"][k], "pytorch")
if "fashion" in swift and "fashion" in ref:
    row(f"fashion-mnist s/epoch ({swift['fashion']['epochs']} ep)", swift["fashion"]["seconds_per_epoch"],
        ref["fashion"]["seconds_per_epoch"], "pytorch", False)
    row("fashion-mnist test accuracy", swift["fashion"]["test_accuracy"], ref["fashion"]["test_accuracy"], "pytorch")

peak = swift["peak_fma_gflops"]
if "interop" in ref:
    i = ref["interop"]
    print(f"safetensors interop: PyTorch loaded the Linesight model file, logits differ by {i['max_abs_logit_diff']:.2e} "
          f"-> {'OK' if i['ok'] else 'FAILED'} (missing {i['missing']}, unexpected {i['unexpected']})")
print(f"threads {swift['threads']}, OpenBLAS core {swift['openblas_core']}, torch {ref['torch_version']}")
print(f"measured peak: FMA loop {peak:.1f} GFLOP/s, 1536^3 sgemm {swift['gemm_gflops']:.1f} GFLOP/s")
print(f"{'figure':48} {'linesight':>11} {'reference':>11} {'ref':>12} {'ratio':>7}")
for r in rows:
    print(f"{r['figure']:48} {r['linesight']:11.3f} {r['reference']:11.3f} {r['reference_name']:>12} {r['ratio']:6.2f}x")
print("ratio > 1: Linesight better (faster, or lower latency, or more accurate)")
for r in rows:
    if "rounds" in r:
        print(f"{r['figure']}: round ratios " + ", ".join(f"{x:.2f}x" for x in r["rounds"]))
for k, v in swift["conv_forward"].items():
    print(f"{k}: {100 * v / peak:.0f}% of the measured peak")
out_path.write_text(json.dumps({"date": time.strftime("%Y-%m-%dT%H:%M:%S"), "linesight": swift, "reference": ref,
                                "peak_fma_gflops": peak, "rows": rows}, indent=1, sort_keys=True))
print(out_path)
