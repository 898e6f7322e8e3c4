#!/usr/bin/python3
"""The reference half of `make bench-quality`: the staged inspection recipe in PyTorch
(Debian's python3-torch) on the same data, split, architectures and recipe as
`linesight train --data`, so the two can be compared side by side.

Architectures and normalization come from the Linesight model files the Swift half wrote
(their JSON spec), the split is the same FNV-1a file hash (0-6 train, 7-8 validation,
9 test), images are area-resized to the same input, and the recipe is the same: AdamW
(lr 0.006, wd 0.01) with one-cycle (25 % warm-up), gradient clipping at 5, augmentation
(pad-4 random crop, flips, rotation +-8 deg, brightness/contrast +-0.1, noise 0.02),
stage 1 with class-balanced sampling and label smoothing 0.05, temperature scaling on
validation and the pass threshold for the target defect recall; stage 2 multi-label BCE
with positive weights min(3, max(1, neg/pos)) on the defective parts plus as many good
ones, judged at 0.5. Prints one JSON document."""
import argparse
import json
import math
import struct
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from lsspec import build  # noqa: E402


def fnv(s):
    h = 0xcbf29ce484222325
    for b in s.encode():
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def meta(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    return json.loads(json.loads(raw[8:8 + n])["__metadata__"]["linesight"])


def load(data, rows, hw):
    from PIL import Image  # only for decoding; resizing is torch's area mode, as ours
    xs = []
    for r in rows:
        img = np.asarray(Image.open(Path(data) / r["file"]).convert("L"))
        t = torch.from_numpy(img.copy()).float()[None, None] / 255
        xs.append(F.interpolate(t, size=hw, mode="area")[0])
    return torch.stack(xs)


def augment(x, g):
    n = x.shape[0]
    pad = F.pad(x, (4, 4, 4, 4), mode="reflect")
    out = torch.empty_like(x)
    h, w = x.shape[2], x.shape[3]
    for i in range(n):
        dy, dx = torch.randint(0, 9, (2,), generator=g).tolist()
        out[i] = pad[i, :, dy:dy + h, dx:dx + w]
    flip_h = torch.rand(n, generator=g) < 0.5
    flip_v = torch.rand(n, generator=g) < 0.5
    out[flip_h] = out[flip_h].flip(3)
    out[flip_v] = out[flip_v].flip(2)
    angle = (torch.rand(n, generator=g) * 2 - 1) * math.radians(8)
    cos, sin = angle.cos(), angle.sin()
    theta = torch.stack([torch.stack([cos, -sin, torch.zeros(n)], 1), torch.stack([sin, cos, torch.zeros(n)], 1)], 1)
    grid = F.affine_grid(theta, out.shape, align_corners=False)
    out = F.grid_sample(out, grid, padding_mode="reflection", align_corners=False)
    b = (torch.rand(n, 1, 1, 1, generator=g) * 2 - 1) * 0.1
    c = 1 + (torch.rand(n, 1, 1, 1, generator=g) * 2 - 1) * 0.1
    mean = out.mean(dim=(2, 3), keepdim=True)
    out = (out - mean) * c + mean + b
    out = out + torch.randn(out.shape, generator=g) * 0.02
    return out.clamp(0, 1)


def train(model, x, y, epochs, batch, lr, loss_fn, balanced, seed):
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    steps = epochs * math.ceil(len(x) / batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.25)
    if balanced:
        labels = y.long()
        counts = torch.bincount(labels, minlength=2).float()
        weights = (1 / counts)[labels]
    for _ in range(epochs):
        model.train()
        order = torch.multinomial(weights, len(x), replacement=True, generator=g) if balanced else torch.randperm(len(x), generator=g)
        for s in range(0, len(x), batch):
            idx = order[s:s + batch]
            if len(idx) < 2:
                continue
            xb = (augment(x[idx], g) - 0.5) / 0.25
            loss = loss_fn(model(xb), y[idx])
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5)
            opt.step()
            sched.step()


@torch.no_grad()
def logits(model, x):
    model.eval()
    return torch.cat([model((x[i:i + 256] - 0.5) / 0.25) for i in range(0, len(x), 256)])


def flip_averaged_logits(model, x):
    """Stage 1 as Linesight runs it when the model file says flip_average: the mean of the
    logits of each image and its three mirror images."""
    flips = [x, x.flip(3), x.flip(2), x.flip(2).flip(3)]
    return sum(logits(model, f) for f in flips) / len(flips)


def fit_temperature(z, y):
    log_t = torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.1, max_iter=200)

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(z / log_t.exp(), y)
        loss.backward()
        return loss
    opt.step(closure)
    return float(log_t.exp())


def pass_threshold(defect_scores, target_recall):
    d = sorted(defect_scores)
    misses = int(math.floor(len(d) * (1 - target_recall)))
    return min(max(d[min(misses, len(d) - 1)] - 1e-6, 0.001), 0.9)


def fail_threshold(good_scores, pass_th, budget=0.01):
    g = sorted(good_scores, reverse=True)
    allowed = int(math.floor(len(g) * budget))
    return min(max(g[min(allowed, len(g) - 1)] + 1e-6, pass_th), 0.999)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--models", required=True, help="folder with Linesight's stage1/stage2.safetensors (their specs)")
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=0.006)
    ap.add_argument("--target-recall", type=float, default=0.99)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)

    rows = []
    with open(Path(args.data) / "labels.csv") as f:
        header = f.readline().strip().split(",")
        for line in f:
            cols = line.rstrip("\n").split(",")
            r = dict(zip(header, cols))
            r["defects"] = [d for d in r.get("defects", "").split("+") if d]
            rows.append(r)
    m1, m2 = meta(Path(args.models) / "stage1.safetensors"), meta(Path(args.models) / "stage2.safetensors")
    hw = (m1["spec"]["input"]["height"], m1["spec"]["input"]["width"])
    x = load(args.data, rows, hw)
    bucket = [fnv(r["file"]) % 10 for r in rows]
    split = {name: [i for i, b in enumerate(bucket) if b in rng] for name, rng in
             (("train", range(0, 7)), ("val", range(7, 9)), ("test", range(9, 10)))}
    y1 = torch.tensor([1 if r["defects"] else 0 for r in rows])
    out = {"images": len(rows), "input": f"{hw[1]}x{hw[0]}"}

    # Stage 1.
    net1, _ = build(m1["spec"]["layers"], (1, *hw))
    tr = split["train"]
    train(net1, x[tr], y1[tr], args.epochs, args.batch, args.lr,
          lambda z, y: F.cross_entropy(z, y, label_smoothing=0.05), True, 1)
    stage1_logits = flip_averaged_logits if m1.get("flipAverage") else logits
    zv, zt = stage1_logits(net1, x[split["val"]]), stage1_logits(net1, x[split["test"]])
    t = fit_temperature(zv, y1[split["val"]])
    pv = torch.softmax(zv / t, 1)[:, 1].tolist()
    pt = torch.softmax(zt / t, 1)[:, 1].tolist()
    yv, yt = y1[split["val"]].tolist(), y1[split["test"]].tolist()
    th = pass_threshold([p for p, l in zip(pv, yv) if l == 1], args.target_recall)
    fail_th = fail_threshold([p for p, l in zip(pv, yv) if l == 0], th)
    d = [p for p, l in zip(pt, yt) if l == 1]
    g = [p for p, l in zip(pt, yt) if l == 0]
    out["stage1"] = {"temperature": t, "pass_threshold": th, "fail_threshold": fail_th,
                     "test_escape_rate": sum(p <= th for p in d) / max(1, len(d)),
                     "test_false_reject_rate": sum(p > th for p in g) / max(1, len(g)),
                     "test_defective": len(d), "test_good": len(g)}

    # Stage 2: defective parts plus as many good ones (lowest file hash first).
    kinds = m2["classes"]

    def pick(idx):
        bad = [i for i in idx if rows[i]["defects"]]
        good = sorted([i for i in idx if not rows[i]["defects"]], key=lambda i: fnv(rows[i]["file"]))[:len(bad)]
        return sorted(bad + good)
    y2 = torch.tensor([[1.0 if k in r["defects"] else 0.0 for k in kinds] for r in rows])
    s2 = {k: pick(v) for k, v in split.items()}
    pos = y2[s2["train"]].sum(0)
    weights = torch.clamp((len(s2["train"]) - pos) / pos.clamp(min=1), 1, 3)
    net2, _ = build(m2["spec"]["layers"], (1, *hw))
    train(net2, x[s2["train"]], y2[s2["train"]], args.epochs, args.batch, args.lr,
          lambda z, y: F.binary_cross_entropy_with_logits(z, y, pos_weight=weights), False, 2)
    def scores(prob, truth, thresholds):
        f1s, per = [], {}
        for k, name in enumerate(kinds):
            pred = prob[:, k] >= thresholds[k]
            tp = int((pred & truth[:, k]).sum()); fp = int((pred & ~truth[:, k]).sum()); fn = int((~pred & truth[:, k]).sum())
            if tp + fp + fn == 0:
                continue
            p = tp / (tp + fp) if tp + fp else 0
            r = tp / (tp + fn) if tp + fn else 0
            f = 2 * p * r / (p + r) if p + r else 0
            per[name] = {"precision": p, "recall": r, "f1": f, "threshold": thresholds[k]}
            f1s.append(f)
        return sum(f1s) / max(1, len(f1s)), per

    def pick(prob, truth):
        out = []
        for k in range(len(kinds)):
            pos = int(truth[:, k].sum())
            if pos == 0:
                out.append(0.5)
                continue
            best = (-1.0, 0.5)
            for step in range(5, 96):
                t = step / 100
                pred = prob[:, k] >= t
                tp = int((pred & truth[:, k]).sum()); fp = int((pred & ~truth[:, k]).sum())
                f1 = 2 * tp / (2 * tp + fp + (pos - tp))
                if f1 > best[0] + 1e-12 or (abs(f1 - best[0]) <= 1e-12 and abs(t - 0.5) < abs(best[1] - 0.5)):
                    best = (f1, t)
            out.append(best[1])
        return out

    prob_test = torch.sigmoid(logits(net2, x[s2["test"]]))
    prob_val = torch.sigmoid(logits(net2, x[s2["val"]]))
    truth = y2[s2["test"]] > 0.5
    macro, per = scores(prob_test, truth, [0.5] * len(kinds))
    tuned_thresholds = pick(prob_val, y2[s2["val"]] > 0.5)
    macro_tuned, per_tuned = scores(prob_test, truth, tuned_thresholds)
    # The line's decision on every test part: stage 1 passes at or below the pass threshold and
    # fails at or above the fail threshold; stage 2 settles the unsure (any kind at or over its
    # tuned threshold fails the part), as Linesight's daemon does by default.
    prob_all = torch.sigmoid(logits(net2, x[split["test"]]))
    esc = fr = 0
    for i, (p1, truth1) in enumerate(zip(pt, yt)):
        if p1 >= fail_th:
            fails = True
        elif p1 <= th:
            fails = False
        else:
            fails = any(float(prob_all[i, k]) >= tuned_thresholds[k] for k in range(len(kinds)))
        esc += truth1 == 1 and not fails
        fr += truth1 == 0 and fails
    out["line"] = {"test_escape_rate": esc / max(1, sum(yt)), "test_false_reject_rate": fr / max(1, len(yt) - sum(yt))}
    out["stage2"] = {"macro_f1": macro, "macro_f1_tuned": macro_tuned,
                     "exact_match": float(((prob_test >= 0.5) == truth).all(1).float().mean()),
                     "kinds": per, "kinds_tuned": per_tuned}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
