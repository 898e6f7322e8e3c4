"""The figures `make bench-quality DATA=` prints for the PyTorch references, by the rules
Linesight's `train` and `evaluate` use, so the columns compare like with like:

- stage-1 ROC AUC of P(defect), good vs defective test images (ties count half);
- the line's operating point, picked on validation as `LineOperatingPoint.pick` does: the
  pass/fail thresholds and a floor under stage 2's per-kind thresholds with the fewest false
  rejects among the choices whose escapes stay within what the target recall leaves; then the
  daemon's rule on every test image (fail at or above the fail threshold, pass at or below
  the pass threshold, else fail when any kind reaches its threshold);
- stage-2 macro-F1 over the kinds on defective images plus as many good ones, per-kind
  thresholds picked on validation for F1 (0.05...0.95, ties nearest 0.5).

Also the tree reader: `train/ val/ test/` (or `valid/`, `validation/`), each with one folder
per class, the pass class `ok` (or `good`, `normal`)."""
import math
from pathlib import Path

PASS_NAMES = ("good", "ok", "pass", "normal")
SPLITS = {"train": ("train",), "val": ("val", "valid", "validation"), "test": ("test",)}
FLOORS = (0, 0.3, 0.5, 0.7, 0.9, 0.97)


def read_tree(root):
    """[(split, file, class)] of every image, the pass class and the defect kinds (sorted)."""
    root = Path(root)
    rows, classes = [], set()
    for split, names in SPLITS.items():
        folder = next((root / n for n in names if (root / n).is_dir()), None)
        if folder is None:
            raise SystemExit(f"{root} has no {names[0]}/ folder: DATA must be a tree with train/ val/ test/")
        for cls in sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
            classes.add(cls)
            for f in sorted((folder / cls).iterdir()):
                # the images Linesight reads (`ImageFolder.imageExtensions`)
                if f.suffix.lower() in (".jpg", ".jpeg") and not f.name.startswith("."):
                    rows.append((split, str(f), cls))
    passes = [c for c in classes if c in PASS_NAMES]
    if len(passes) != 1:
        raise SystemExit(f"{root}: expected one pass folder ({', '.join(PASS_NAMES)}), found {passes}")
    return rows, passes[0], sorted(c for c in classes if c != passes[0])


def auc(defect, good):
    if not defect or not good:
        return float("nan")
    scored = sorted([(s, 1) for s in defect] + [(s, 0) for s in good])
    rank_sum, i = 0.0, 0
    while i < len(scored):
        j = i
        while j < len(scored) and scored[j][0] == scored[i][0]:
            j += 1
        mid = (i + j + 1) / 2  # 1-based mean rank of the tie
        rank_sum += mid * sum(1 for k in range(i, j) if scored[k][1] == 1)
        i = j
    return (rank_sum - len(defect) * (len(defect) + 1) / 2) / (len(defect) * len(good))


def stage2_says(scores, thresholds):
    return any(s >= t for s, t in zip(scores, thresholds)) or any(not math.isfinite(s) for s in scores)


def decide(p1, kinds, passing, failing, thresholds):
    if p1 >= failing:
        return True
    if p1 <= passing:
        return False
    return stage2_says(kinds, thresholds)


def operating_point(p1, p2, kind_thresholds, defective, target_recall):
    """`LineOperatingPoint.pick`: (pass, fail, kind thresholds with the floor) on validation."""
    p1 = [s if math.isfinite(s) else math.inf for s in p1]
    defects = sum(defective)
    allowed = int(math.floor(defects * (1 - target_recall) + 1e-9))
    lowest = sorted(s for s, d in zip(p1, defective) if d)[:allowed + 1]
    passes = sorted({0.0, *(max(0.0, s - 1e-6) for s in lowest)})
    fails = sorted({0.0, 1.0, *(min(1.0, s + 1e-6) for s, d in zip(p1, defective) if not d and math.isfinite(s))})
    best = None
    for floor in FLOORS:
        th = [max(t, floor) for t in kind_thresholds]
        says = [stage2_says(k, th) for k in p2]
        for p in passes:
            for f in fails:
                if f < p:
                    continue
                esc = fr = band = 0
                for s, d, st2 in zip(p1, defective, says):
                    if s >= f:
                        fail = True
                    elif s <= p:
                        fail = False
                    else:
                        fail, band = st2, band + 1
                    esc += d and not fail
                    fr += (not d) and fail
                if esc > allowed:
                    continue
                if best is None or (fr, esc, band) < best[0]:
                    best = ((fr, esc, band), p, f, th, floor)
    _, p, f, th, floor = best
    return {"pass": p, "fail": f, "kind_thresholds": th, "floor": floor}


def tune_kind_thresholds(probs, truth):
    """Per kind, the threshold (0.05...0.95) with the best F1 on these images."""
    out = []
    for k in range(len(probs[0]) if probs else 0):
        pos = sum(t[k] for t in truth)
        best = (-1.0, 0.5)
        if pos:
            for step in range(5, 96):
                t = step / 100
                tp = sum(1 for p, y in zip(probs, truth) if p[k] >= t and y[k])
                fp = sum(1 for p, y in zip(probs, truth) if p[k] >= t and not y[k])
                f1 = 2 * tp / (2 * tp + fp + (pos - tp))
                if f1 > best[0] + 1e-12 or (abs(f1 - best[0]) <= 1e-12 and abs(t - 0.5) < abs(best[1] - 0.5)):
                    best = (f1, t)
        out.append(best[1])
    return out


def macro_f1(probs, truth, thresholds, kinds):
    f1s, per = [], {}
    for k, name in enumerate(kinds):
        tp = sum(1 for p, y in zip(probs, truth) if p[k] >= thresholds[k] and y[k])
        fp = sum(1 for p, y in zip(probs, truth) if p[k] >= thresholds[k] and not y[k])
        fn = sum(1 for p, y in zip(probs, truth) if p[k] < thresholds[k] and y[k])
        if tp + fp + fn == 0:
            continue
        f = 2 * tp / (2 * tp + fp + fn)
        per[name] = {"precision": tp / (tp + fp) if tp + fp else 0.0, "recall": tp / (tp + fn) if tp + fn else 0.0, "f1": f}
        f1s.append(f)
    return sum(f1s) / max(1, len(f1s)), per


def stage_two_picks(idx, defective, files):
    """`StagedRecipe.stageTwoPicks`: every defective image plus as many good ones (the first
    by file name, a stand-in for Linesight's file hash: any fixed choice is fair)."""
    bad = [i for i in idx if defective[i]]
    good = sorted((i for i in idx if not defective[i]), key=lambda i: files[i])[:len(bad)]
    return sorted(bad + good)


def figures(val, test, kinds, target_recall):
    """`val`/`test`: dicts with p1 (P(defect) per image), p2 (kind scores per image), truth
    (kind indicator lists; all zero for a good image) and picks (stage 2's images)."""
    def sub(d, idx):
        return [d["p2"][i] for i in idx], [d["truth"][i] for i in idx]
    vp, vt = sub(val, val["picks"])
    kind_th = tune_kind_thresholds(vp, vt)
    vdef = [any(t) for t in val["truth"]]
    op = operating_point(val["p1"], val["p2"], kind_th, vdef, target_recall)
    tdef = [any(t) for t in test["truth"]]
    fails = [decide(a, b, op["pass"], op["fail"], op["kind_thresholds"]) for a, b in zip(test["p1"], test["p2"])]
    esc = sum(1 for f, d in zip(fails, tdef) if d and not f)
    fr = sum(1 for f, d in zip(fails, tdef) if not d and f)
    tp, tt = sub(test, test["picks"])
    macro, per = macro_f1(tp, tt, kind_th, kinds)
    return {
        "stage1_auc": auc([s for s, d in zip(test["p1"], tdef) if d], [s for s, d in zip(test["p1"], tdef) if not d]),
        "line": {"escapes": esc, "defective": sum(tdef), "false_rejects": fr, "good": len(tdef) - sum(tdef),
                 "escape_rate": esc / max(1, sum(tdef)), "false_reject_rate": fr / max(1, len(tdef) - sum(tdef)),
                 "operating_point": op},
        "stage2": {"macro_f1": macro, "kinds": per, "kind_thresholds": kind_th},
    }
