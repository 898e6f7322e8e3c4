"""The int8 rows of `make bench-engine`: Linesight int8 against Linesight fp32 (the same
run, alternating) and against ONNX Runtime's int8 (QDQ, static quantization on the same
calibration frames), each round's ratio and the median; speed-ups above 1 favour Linesight.

usage: int8_report.py OUT.json linesight-1.json ort-1.json [linesight-2.json ort-2.json ...]
"""
import json
import statistics
import sys


def main():
    out, files = sys.argv[1], sys.argv[2:]
    ours = [json.load(open(f))["figures"] for f in files[0::2]]
    ort = [json.load(open(f))["figures"] for f in files[1::2]]
    isa = json.load(open(files[0]))["isa"]
    rows, result = [], {"isa": isa, "rounds": len(ours), "rows": {}}
    for name in ("small_resnet", "resnet18"):
        for key, better in (("b1_ms", "lower"), ("b32_images_per_s", "higher")):
            def ratio(a, b):
                return a / b if better == "higher" else b / a
            vs_fp32 = [ratio(o[f"{name}/int8/{key}"], o[f"{name}/fp32/{key}"]) for o in ours]
            vs_ort = [ratio(o[f"{name}/int8/{key}"], r[f"{name}/ort_int8/{key}"]) for o, r in zip(ours, ort)]
            row = {"linesight_int8": statistics.median(o[f"{name}/int8/{key}"] for o in ours),
                   "linesight_fp32": statistics.median(o[f"{name}/fp32/{key}"] for o in ours),
                   "ort_int8": statistics.median(r[f"{name}/ort_int8/{key}"] for r in ort),
                   "ort_fp32": statistics.median(r[f"{name}/ort_fp32/{key}"] for r in ort),
                   "int8_over_our_fp32": statistics.median(vs_fp32), "int8_over_ort_int8": statistics.median(vs_ort),
                   "rounds_over_ort_int8": vs_ort}
            result["rows"][f"{name}/{key}"] = row
            rows.append((f"{name} {key}", row))
    print(f"\nint8 ({isa}), {len(ours)} alternating rounds; ratios > 1 favour Linesight int8")
    print(f"{'network / figure':<28}{'ours int8':>11}{'ours fp32':>11}{'ORT int8':>11}{'ORT fp32':>11}{'vs our fp32':>13}{'vs ORT int8':>13}")
    for label, r in rows:
        print(f"{label:<28}{r['linesight_int8']:>11.3f}{r['linesight_fp32']:>11.3f}{r['ort_int8']:>11.3f}{r['ort_fp32']:>11.3f}"
              f"{r['int8_over_our_fp32']:>12.2f}x{r['int8_over_ort_int8']:>12.2f}x")
    for name in ("small_resnet", "resnet18"):
        print(f"{name}: largest logit change from int8, relative: ours "
              f"{statistics.median(o[f'{name}/int8_max_logit_change_relative'] for o in ours):.4f}, ORT "
              f"{statistics.median(r[f'{name}/ort_int8_max_logit_change_relative'] for r in ort):.4f}")
    json.dump(result, open(out, "w"), indent=1, sort_keys=True)
    print(out)


if __name__ == "__main__":
    main()
