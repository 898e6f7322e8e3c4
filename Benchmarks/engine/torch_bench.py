#!/usr/bin/python3
"""The reference half of `make bench-engine`: PyTorch (Debian's python3-torch) and ONNX
Runtime (PyPI) on the very networks the Swift half ran (their specs come from its JSON),
same batch sizes, same thread count, same measurement rules (median of timed calls).
Prints one JSON document."""
import argparse
import gzip
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from lsspec import build  # noqa: E402
from timing import timed  # noqa: E402


def model(spec):
    inp = spec["input"]
    m, _ = build(spec["layers"], (inp["channels"], inp["height"], inp["width"]))
    return m, (inp["channels"], inp["height"], inp["width"])


def train_throughput(spec, batch, seconds):
    m, shape = model(spec)
    m.train()
    x = torch.randn(batch, *shape)
    classes = spec["layers"][-1]["out"]
    y = torch.randint(0, classes, (batch,))
    opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9, nesterov=True)

    def step():
        opt.zero_grad(set_to_none=False)
        F.cross_entropy(m(x), y).backward()
        opt.step()
    step(); step()
    return batch / timed(seconds, step)


def inference(spec, batch, seconds, threads, torch_too=True):
    m, shape = model(spec)
    m.eval()
    x = torch.randn(batch, *shape)
    torch_t = None
    if torch_too:
        with torch.no_grad():
            m(x); m(x)
            torch_t = timed(seconds, lambda: m(x), minimum=10)
    import onnxruntime as ort
    with tempfile.TemporaryDirectory() as d:
        path = f"{d}/m.onnx"
        torch.onnx.export(m, torch.randn(1, *shape), path, input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "n"}, "y": {0: "n"}}, opset_version=13)
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        xn = x.numpy()
        sess.run(None, {"x": xn}); sess.run(None, {"x": xn})
        ort_t = timed(seconds, lambda: sess.run(None, {"x": xn}), minimum=10)
    return torch_t, ort_t


def conv_layer(cin, side, batch, seconds):
    conv = torch.nn.Conv2d(cin, cin, 3, 1, 1, bias=False).eval()
    x = torch.full((batch, cin, side, side), 0.5)
    with torch.no_grad():
        conv(x)
        t = timed(seconds, lambda: conv(x))
    return 2 * batch * cin * side * side * cin * 9 / t / 1e9


def interop(info, spec):
    """Reads Linesight's model file with PyTorch's own safetensors loader, loads it into the
    same architecture (strict) and compares the logits on the probe input."""
    from safetensors.torch import load_file
    m, shape = model(spec)
    state = load_file(info["path"])
    missing, unexpected = m.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    m.eval()
    x = torch.sin(torch.arange(2 * int(np.prod(shape)), dtype=torch.float64) * 0.37).float().reshape(2, *shape)
    with torch.no_grad():
        y = m(x).flatten()
    diff = (y - torch.tensor(info["logits"], dtype=torch.float32)).abs().max().item()
    return {"missing": missing, "unexpected": list(unexpected), "max_abs_logit_diff": diff,
            "ok": not missing and not unexpected and diff < 1e-4}


def load_idx(path):
    raw = gzip.open(path).read() if str(path).endswith(".gz") else open(path, "rb").read()
    ndims = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndims)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndims).reshape(dims)


def fashion(spec, epochs, seed=1):
    """The same recipe as TrainingConfig.fashionMNIST: SGD + Nesterov (0.2, wd 5e-4, BN/bias
    exempt), one-cycle (pct 0.25), label smoothing 0.1, clip 5, batch 128, crop pad 2 + h-flip."""
    d = Path("/usr/share/datasets/fashion-mnist")
    xtr = torch.tensor(load_idx(d / "train-images-idx3-ubyte.gz"), dtype=torch.float32).unsqueeze(1) / 255
    ytr = torch.tensor(load_idx(d / "train-labels-idx1-ubyte.gz"), dtype=torch.long)
    xte = torch.tensor(load_idx(d / "t10k-images-idx3-ubyte.gz"), dtype=torch.float32).unsqueeze(1) / 255
    yte = torch.tensor(load_idx(d / "t10k-labels-idx1-ubyte.gz"), dtype=torch.long)
    mean, std = 0.2860, 0.3530
    torch.manual_seed(seed)
    m, _ = model(spec)
    decay = [p for n, p in m.named_parameters() if p.dim() > 1]
    other = [p for n, p in m.named_parameters() if p.dim() <= 1]
    opt = torch.optim.SGD([{"params": decay, "weight_decay": 5e-4}, {"params": other, "weight_decay": 0}],
                          lr=0.2, momentum=0.9, nesterov=True)
    steps = len(xtr) // 128
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.2, total_steps=steps * epochs, pct_start=0.25)
    start = time.perf_counter()
    for _ in range(epochs):
        m.train()
        perm = torch.randperm(len(xtr))
        for b in range(steps):
            idx = perm[b * 128:(b + 1) * 128]
            x = F.pad(xtr[idx], (2, 2, 2, 2))
            dx, dy = torch.randint(0, 5, (2,)).tolist()
            x = x[:, :, dy:dy + 28, dx:dx + 28]   # one shift per batch keeps it cheap; flips per sample
            flip = torch.rand(len(idx)) < 0.5
            x[flip] = x[flip].flip(3)
            x = (x - mean) / std
            loss = F.cross_entropy(m(x), ytr[idx], label_smoothing=0.1)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(m.parameters(), 5)
            opt.step()
            sched.step()
    seconds = time.perf_counter() - start
    m.eval()
    with torch.no_grad():
        correct = sum((m((xte[i:i + 500] - mean) / std).argmax(1) == yte[i:i + 500]).sum().item()
                      for i in range(0, len(xte), 500))
    return {"epochs": epochs, "seconds_per_epoch": seconds / epochs, "train_images_per_s": steps * 128 * epochs / seconds,
            "test_accuracy": correct / len(xte)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--swift", required=True, help="the JSON written by linesight-bench")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--fashion-epochs", type=int, default=1)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--ort-only", action="store_true", help="one round of the interleaved inference rematch")
    ap.add_argument("--train-only", action="store_true", help="one round of the interleaved training rematch")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    swift = json.load(open(a.swift))
    specs = swift["specs"]
    sec = 3 if a.quick else 8
    out = {"torch_version": torch.__version__, "threads": a.threads}
    if a.ort_only:
        out["inference_ort"] = {}
        for name in ("small_resnet", "resnet18"):
            _, o1 = inference(specs[name], 1, sec / 2 + 1, a.threads, torch_too=False)
            _, o32 = inference(specs[name], 32, sec / 2 + 1, a.threads, torch_too=False)
            out["inference_ort"].update({f"{name}/b1_ms": o1 * 1000, f"{name}/b32_images_per_s": 32 / o32})
        print(json.dumps(out, indent=1, sort_keys=True))
        return
    log = lambda s: print(s, file=sys.stderr, flush=True)
    out["train_images_per_s"] = {}
    for name, spec, batch in (("small_resnet/b64", specs["small_resnet"], 64), ("small_resnet/b128", specs["small_resnet"], 128),
                              ("resnet18/b32", specs["resnet18"], 32)):
        log(f"torch train {name} ...")
        out["train_images_per_s"][name] = train_throughput(spec, batch, sec)
    if a.train_only:
        print(json.dumps(out, indent=1, sort_keys=True))
        return
    out["inference_torch"], out["inference_ort"] = {}, {}
    for name in ("small_resnet", "resnet18"):
        log(f"inference {name} ...")
        t1, o1 = inference(specs[name], 1, sec / 2 + 1, a.threads)
        t32, o32 = inference(specs[name], 32, sec / 2 + 1, a.threads)
        out["inference_torch"].update({f"{name}/b1_ms": t1 * 1000, f"{name}/b32_images_per_s": 32 / t32})
        out["inference_ort"].update({f"{name}/b1_ms": o1 * 1000, f"{name}/b32_images_per_s": 32 / o32})
    out["conv_forward"] = {f"conv3x3_{c}c_{s}px_b32_gflops": conv_layer(c, s, 32, sec / 2)
                           for c, s in ((64, 32), (128, 16), (256, 8), (512, 4))}
    if "interop" in swift:
        out["interop"] = interop(swift["interop"], specs["small_resnet"])
    if a.fashion_epochs > 0:
        log(f"torch fashion-mnist, {a.fashion_epochs} epoch(s) ...")
        out["fashion"] = fashion(specs["small_resnet"], a.fashion_epochs)
    print(json.dumps(out, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
