#!/usr/bin/python3
"""The PyTorch columns of `make bench-quality DATA=DIR`, on a labelled tree with
train/ val/ test/ (one folder per class, the pass class `ok`/`good`/`normal`), judged by the
same rules as Linesight (`figures.py`): thresholds picked on val/, figures on test/.

--arch ours: our recipe and architecture. The networks are built from the specs of the
  Linesight model files `train` wrote (`--models`), the recipe is `linesight train --data`'s:
  RGB or gray as the models are, at their input size and normalization; augmentation as
  `StagedRecipe.augmentation` (8 px shifts mirrored at the edge, flips, quarter turns,
  brightness 0.1, contrast 0.2, saturation 0.2, per-channel gain 0.1, noise 0.02); stage 1
  two-class with label smoothing 0.05 and class-balanced sampling; stage 2 multi-label BCE
  with positive weights clamped to 1...3 on defective images plus as many good ones, started
  from stage 1's backbone; AdamW (wd 0.01) one-cycle with 25 % warm-up, clip 5; the flip
  average of the logits where the model file asks for it. Not mirrored: Linesight's synthetic
  defects painted on good parts (so this column is the recipe without them).

--arch resnet18: the strong reference. torchvision's ResNet18 from scratch (its own stem),
  RGB, ImageNet-style normalization, one softmax over the pass class and the kinds (P(defect)
  = 1 - P(pass), a kind's score its probability); a standard recipe: AdamW (lr 2e-3, wd
  0.05), cosine with 3 warm-up epochs, label smoothing 0.1, sampling that draws pass and
  defective images equally, shifts, flips, quarter turns and colour jitter as above, batch
  64. Tuned until it learns (see the README's quality section for what was tried): on
  surface-dev the plain image stayed at chance (AdamW 2e-3 30 epochs: test AUC 0.53; SGD
  0.05 Nesterov 10 epochs: 0.48); with Linesight's high-pass in front (`--input-filter both`,
  the first conv taking six channels) it learns (8 epochs: 0.77).

Prints one JSON document: the figures, the epochs and the wall time."""
import argparse
import json
import math
import struct
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

here = Path(__file__).resolve().parent
sys.path.insert(0, str(here))
sys.path.insert(0, str(here.parents[1] / "scripts"))
from figures import figures, read_tree, stage_two_picks  # noqa: E402


def meta(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    return json.loads(json.loads(raw[8:8 + n])["__metadata__"]["linesight"])


def load(files, hw, channels=3):
    from PIL import Image
    out = torch.empty(len(files), channels, *hw, dtype=torch.uint8)
    for i, f in enumerate(files):
        img = np.asarray(Image.open(f).convert("RGB" if channels == 3 else "L")).copy()
        t = torch.from_numpy(img).permute(2, 0, 1) if channels == 3 else torch.from_numpy(img)[None]
        if tuple(t.shape[1:]) != tuple(hw):
            t = F.interpolate(t[None].float(), size=hw, mode="area")[0].round().clamp(0, 255).byte()
        out[i] = t
    return out


def augment(x, g):
    """`StagedRecipe.augmentation` on a uint8 batch; returns floats in 0...1."""
    x = x.float() / 255
    n, _, h, w = x.shape
    pad = F.pad(x, (8, 8, 8, 8), mode="reflect")
    out = torch.empty_like(x)
    for i in range(n):
        dy, dx = torch.randint(0, 17, (2,), generator=g).tolist()
        o = pad[i, :, dy:dy + h, dx:dx + w]
        if torch.rand(1, generator=g) < 0.5:
            o = o.flip(2)
        if torch.rand(1, generator=g) < 0.5:
            o = o.flip(1)
        k = int(torch.randint(0, 4, (1,), generator=g))
        if k and h == w:
            o = torch.rot90(o, k, (1, 2))
        out[i] = o
    u = lambda *s: torch.rand(*s, generator=g) * 2 - 1  # noqa: E731
    out = out + u(n, 1, 1, 1) * 0.1                                     # brightness
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    out = (out - mean) * (1 + u(n, 1, 1, 1) * 0.2) + mean               # contrast
    gray = out.mean(dim=1, keepdim=True)
    out = (out - gray) * (1 + u(n, 1, 1, 1) * 0.2) + gray               # saturation
    out = out * (1 + u(n, out.shape[1], 1, 1) * 0.1)                    # per-channel gain
    out = out + torch.randn(out.shape, generator=g) * 0.02              # sensor noise
    return out.clamp(0, 1)


def run_epochs(model, x, target, epochs, batch, opt, sched, loss_fn, weights, norm, seed, log):
    g = torch.Generator().manual_seed(seed)
    t0 = time.time()
    for e in range(epochs):
        model.train()
        order = torch.multinomial(weights, len(x), replacement=True, generator=g) if weights is not None \
            else torch.randperm(len(x), generator=g)
        total = 0.0
        for s in range(0, len(x), batch):
            idx = order[s:s + batch]
            if len(idx) < 2:
                continue
            loss = loss_fn(model(norm(augment(x[idx], g))), target[idx])
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5)
            opt.step()
            sched.step()
            total += float(loss) * len(idx)
        print(f"{log} epoch {e + 1}/{epochs} loss {total / len(x):.4f} {time.time() - t0:.0f}s", file=sys.stderr, flush=True)


@torch.no_grad()
def outputs(model, x, norm, flips):
    model.eval()
    views = [lambda t: t, lambda t: t.flip(3), lambda t: t.flip(2), lambda t: t.flip(2).flip(3)] if flips else [lambda t: t]
    out = []
    for i in range(0, len(x), 128):
        b = norm(x[i:i + 128].float() / 255)
        out.append(sum(model(v(b)) for v in views) / len(views))
    return torch.cat(out)


def balanced_weights(defective):
    d = torch.tensor(defective, dtype=torch.float)
    n_bad = d.sum().clamp(min=1)
    n_good = (len(d) - d.sum()).clamp(min=1)
    return torch.where(d > 0, 0.5 / n_bad, 0.5 / n_good)


def onecycle(opt, lr, steps):
    return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.25)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--arch", choices=["ours", "resnet18"], required=True)
    ap.add_argument("--models", help="Linesight's trained model folder (--arch ours: the specs and input size)")
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, help="peak learning rate (ours 0.006, resnet18 0.002)")
    ap.add_argument("--size", type=int, default=0, help="resnet18's input side (0: the images' own)")
    ap.add_argument("--target-recall", type=float, default=0.99)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--input-filter", choices=["image", "highpass", "both"], default="image",
                    help="resnet18's input: the image, or Linesight's high-pass filter in front (as `train --input-filter`)")
    ap.add_argument("--high-pass-sigma", type=float, default=6.0)
    args = ap.parse_args()
    if not 0.5 <= args.high_pass_sigma <= 32:
        ap.error("--high-pass-sigma must lie in 0.5...32 pixels")
    if args.high_pass_sigma != 6.0 and (args.arch == "ours" or args.input_filter == "image"):
        ap.error("--high-pass-sigma applies to --arch resnet18 with --input-filter highpass or both"
                 " (--arch ours takes the filter from Linesight's model files)")
    if args.input_filter != "image" and args.arch == "ours":
        ap.error("--input-filter applies to --arch resnet18 (--arch ours takes it from Linesight's model files)")
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    t0 = time.time()

    rows, pass_class, kinds = read_tree(args.data)
    split = {s: [i for i, r in enumerate(rows) if r[0] == s] for s in ("train", "val", "test")}
    files = [r[1] for r in rows]
    defective = [r[2] != pass_class for r in rows]
    truth = [[1.0 if r[2] == k else 0.0 for k in kinds] for r in rows]

    if args.arch == "ours":
        from lsspec import build
        if not args.models:
            raise SystemExit("--arch ours needs --models (Linesight's trained folder)")
        m1, m2 = meta(Path(args.models) / "stage1.safetensors"), meta(Path(args.models) / "stage2.safetensors")
        inp = m1["spec"]["input"]
        hw = (inp["height"], inp["width"])
        channels = inp["channels"]
        if list(m2["classes"]) != kinds:
            raise SystemExit(f"Linesight's kinds {m2['classes']} differ from the tree's {kinds}")
        x = load(files, hw, channels)
        mean = torch.tensor(m1["normalization"]["mean"]).view(1, -1, 1, 1)
        std = torch.tensor(m1["normalization"]["std"]).view(1, -1, 1, 1)
        norm = lambda t: (t - mean) / std  # noqa: E731
        lr = args.lr or 0.006
        # stage 1
        net1, _ = build(m1["spec"]["layers"], (channels, *hw))
        tr = split["train"]
        opt = torch.optim.AdamW(net1.parameters(), lr=lr, weight_decay=0.01)
        steps = args.epochs * math.ceil(len(tr) / args.batch)
        y1 = torch.tensor([int(d) for d in defective])
        run_epochs(net1, x[tr], y1[tr], args.epochs, args.batch, opt, onecycle(opt, lr, steps),
                   lambda z, y: F.cross_entropy(z, y, label_smoothing=0.05),
                   balanced_weights([defective[i] for i in tr]), norm, 1, "stage 1")
        p1 = torch.softmax(outputs(net1, x, norm, m1.get("flipAverage", False)), 1)[:, 1].tolist()
        # stage 2 from stage 1's backbone
        net2, _ = build(m2["spec"]["layers"], (channels, *hw))
        s1, s2 = net1.state_dict(), net2.state_dict()
        net2.load_state_dict({k: (s1[k] if k in s1 and s1[k].shape == v.shape else v) for k, v in s2.items()})
        picks = {s: stage_two_picks(idx, defective, files) for s, idx in split.items()}
        y2 = torch.tensor(truth)
        tr2 = picks["train"]
        pos = y2[tr2].sum(0)
        pw = torch.clamp((len(tr2) - pos) / pos.clamp(min=1), 1, 3)
        opt = torch.optim.AdamW(net2.parameters(), lr=lr, weight_decay=0.01)
        steps = args.epochs * math.ceil(len(tr2) / args.batch)
        run_epochs(net2, x[tr2], y2[tr2], args.epochs, args.batch, opt, onecycle(opt, lr, steps),
                   lambda z, y: F.binary_cross_entropy_with_logits(z, y, pos_weight=pw), None, norm, 2, "stage 2")
        p2 = torch.sigmoid(outputs(net2, x, norm, False)).tolist()
        label = f"PyTorch, Linesight's recipe and specs ({m1['spec'].get('name', 'spec')})"
    else:
        import torchvision
        side = args.size
        x = load(files, (side, side)) if side else None
        if x is None:
            from PIL import Image
            w, h = Image.open(files[0]).size
            x = load(files, (h, w))
        mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
        std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
        norm = lambda t: (t - mean) / std  # noqa: E731
        lr = args.lr or 0.002
        net = torchvision.models.resnet18(num_classes=1 + len(kinds))
        if args.input_filter != "image":
            from lsspec import HighPass
            both = args.input_filter == "both"
            if both:
                net.conv1 = torch.nn.Conv2d(6, 64, 7, 2, 3, bias=False)
                torch.nn.init.kaiming_normal_(net.conv1.weight, mode="fan_out", nonlinearity="relu")
            net = torch.nn.Sequential(HighPass(args.high_pass_sigma, both, x.shape[2], x.shape[3]), net)
        tr = split["train"]
        y = torch.tensor([0 if r[2] == pass_class else 1 + kinds.index(r[2]) for r in rows])
        decay = [p for n, p in net.named_parameters() if p.ndim > 1]
        no_decay = [p for n, p in net.named_parameters() if p.ndim <= 1]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": no_decay, "weight_decay": 0}], lr=lr)
        per_epoch = math.ceil(len(tr) / args.batch)
        warm, total = 3 * per_epoch, args.epochs * per_epoch
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: (s + 1) / warm if s < warm else
                                                  0.5 * (1 + math.cos(math.pi * (s - warm) / max(1, total - warm))))
        run_epochs(net, x[tr], y[tr], args.epochs, args.batch, opt, sched,
                   lambda z, t: F.cross_entropy(z, t, label_smoothing=0.1),
                   balanced_weights([defective[i] for i in tr]), norm, 1, "resnet18")
        prob = torch.softmax(outputs(net, x, norm, False), 1)
        p1 = (1 - prob[:, 0]).tolist()
        p2 = prob[:, 1:].tolist()
        picks = {s: stage_two_picks(idx, defective, files) for s, idx in split.items()}
        label = "PyTorch, torchvision ResNet18 from scratch" + ("" if args.input_filter == "image" else f", {args.input_filter} input")

    def part(s):
        idx = split[s]
        pos = {i: j for j, i in enumerate(idx)}
        return {"p1": [p1[i] for i in idx], "p2": [p2[i] for i in idx], "truth": [truth[i] for i in idx],
                "picks": [pos[i] for i in picks[s]]}
    out = figures(part("val"), part("test"), kinds, args.target_recall)
    out.update({"label": label, "epochs": args.epochs, "input": f"{x.shape[3]}x{x.shape[2]}",
                "wall_seconds": round(time.time() - t0, 1), "kinds": kinds})
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
