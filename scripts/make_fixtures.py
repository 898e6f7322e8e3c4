#!/usr/bin/python3
"""Writes the PyTorch golden fixtures for the engine tests (Tests/NeuralTests/Fixtures).

Run with Debian's /usr/bin/python3 and python3-torch (CI never needs it: the outputs
are committed). Each network is given in Linesight's own spec format (JSON, the same
data the Swift engine builds from), built here as torch modules with the same
parameter names, run forward and backward on fixed inputs, then stepped with SGD and
Adam. Everything is saved as safetensors, written by hand (no extra package needed).
"""
import json
import struct
import sys
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lsspec import basic_block, build, small_resnet  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "Tests" / "NeuralTests" / "Fixtures"


def save(path, tensors, metadata):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        b = t.detach().to(torch.float32).contiguous().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    header["__metadata__"] = {k: json.dumps(v) for k, v in metadata.items()}
    h = json.dumps(header, sort_keys=True).encode()
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    path.write_bytes(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    print(f"wrote {path.name}: {len(tensors)} tensors, {path.stat().st_size} bytes")


def randomize_bn(model, gen):
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.weight.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)


def fixture(name, spec, batch, seed, loss="dot", classes=None):
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    inp = spec["input"]
    model, _ = build(spec["layers"], (inp["channels"], inp["height"], inp["width"]))
    randomize_bn(model, gen)
    model.train()
    params = {k: v.detach().clone() for k, v in model.named_parameters()}
    x = torch.randn(batch, inp["channels"], inp["height"], inp["width"], generator=gen, requires_grad=True)
    y = model(x)
    tensors = {"input": x.detach().clone(), "output": y.detach().clone()}
    settings = {"loss": loss}
    if loss == "dot":
        r = torch.randn(y.shape, generator=gen)
        tensors["grad_output"] = r
        (y * r).sum().backward()
    else:
        labels = torch.randint(0, classes, (batch,), generator=gen)
        cw = torch.rand(classes, generator=gen) + 0.5
        value = F.cross_entropy(y, labels, weight=cw, label_smoothing=0.1)
        value.backward()
        tensors["labels"] = labels.float()
        tensors["class_weights"] = cw
        tensors["loss"] = value.detach().reshape(1)
        settings.update({"label_smoothing": 0.1})
    tensors["grad_input"] = x.grad.detach().clone()
    for k, v in params.items():
        tensors["param." + k] = v
    for k, p in model.named_parameters():
        tensors["grad." + k] = p.grad.detach().clone()
    for k, b in model.named_buffers():
        if not k.endswith("num_batches_tracked"):
            tensors["buffer." + k] = b.detach().clone()
    grads = {k: p.grad.detach().clone() for k, p in model.named_parameters()}
    sgd = dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3)
    adam = dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2)
    settings.update({"sgd": sgd, "adam": adam, "steps": 2})
    for label, make in (("sgd", lambda ps: torch.optim.SGD(ps, **sgd)), ("adam", lambda ps: torch.optim.Adam(ps, **adam))):
        with torch.no_grad():
            for k, p in model.named_parameters():
                p.copy_(params[k])
        opt = make(model.parameters())
        for _ in range(2):  # two steps with the same gradient: exercises momentum and bias correction
            for k, p in model.named_parameters():
                p.grad = grads[k].clone()
            opt.step()
        for k, p in model.named_parameters():
            tensors[f"{label}.{k}"] = p.detach().clone()
    save(OUT / f"{name}.safetensors", tensors, {"spec": spec, "settings": settings})


def losses_fixture():
    gen = torch.Generator().manual_seed(11)
    n, c = 7, 5
    logits = (torch.randn(n, c, generator=gen) * 2).requires_grad_()
    labels = torch.randint(0, c, (n,), generator=gen)
    weights = torch.rand(c, generator=gen) + 0.5
    t = {"logits": logits.detach().clone(), "labels": labels.float(), "class_weights": weights}
    ce = F.cross_entropy(logits, labels, weight=weights, label_smoothing=0.2)
    ce.backward()
    t["ce.loss"], t["ce.grad"] = ce.detach().reshape(1), logits.grad.clone()
    logits.grad = None
    targets = (torch.rand(n, c, generator=gen) > 0.6).float()
    pw = torch.rand(c, generator=gen) * 3 + 0.5
    bce = F.binary_cross_entropy_with_logits(logits, targets, pos_weight=pw)
    bce.backward()
    t["bce.targets"], t["bce.pos_weight"] = targets, pw
    t["bce.loss"], t["bce.grad"] = bce.detach().reshape(1), logits.grad.clone()
    logits.grad = None
    alpha = torch.rand(c, generator=gen) + 0.25
    logp = F.log_softmax(logits, dim=1).gather(1, labels[:, None]).squeeze(1)
    focal = (-alpha[labels] * (1 - logp.exp()) ** 2.0 * logp).mean()
    focal.backward()
    t["focal.alpha"], t["focal.loss"], t["focal.grad"] = alpha, focal.detach().reshape(1), logits.grad.clone()
    save(OUT / "losses.safetensors", t, {"settings": {"ce_label_smoothing": 0.2, "focal_gamma": 2.0}})


def main():
    torch.set_num_threads(1)
    OUT.mkdir(parents=True, exist_ok=True)
    conv_bn_relu = {"name": "conv-bn-relu", "input": {"channels": 3, "height": 9, "width": 7},
                    "layers": [{"type": "conv", "out": 5, "kernel": 3, "stride": 2, "padding": 1},
                               {"type": "batchnorm"}, {"type": "relu"}]}
    fixture("conv_bn_relu", conv_bn_relu, batch=3, seed=1)
    residual = {"name": "basic-block", "input": {"channels": 4, "height": 8, "width": 8},
                "layers": basic_block(4, 6, 2)}
    fixture("residual_block", residual, batch=2, seed=2)
    mixed = {"name": "mixed", "input": {"channels": 4, "height": 11, "width": 10},
             "layers": [{"type": "conv", "out": 6, "kernel": 3, "stride": 1, "padding": 1, "groups": 2, "bias": True},
                        {"type": "silu"},
                        {"type": "depthwise", "kernel": 3, "stride": 2, "padding": 1, "bias": True},
                        {"type": "batchnorm"}, {"type": "relu6"},
                        {"type": "maxpool", "kernel": 3, "stride": 2, "padding": 1},
                        {"type": "avgpool", "kernel": 2, "stride": 1, "padding": 1},
                        {"type": "flatten"}, {"type": "linear", "out": 4}]}
    fixture("mixed_layers", mixed, batch=3, seed=3)
    fixture("small_resnet", small_resnet(1, 12, 5, 8), batch=4, seed=4, loss="cross_entropy", classes=5)
    highpass = {"name": "highpass", "input": {"channels": 3, "height": 10, "width": 9},
                "layers": [{"type": "highpass", "sigma": 2.0, "keep_input": True},
                           {"type": "conv", "out": 4, "kernel": 3, "stride": 1, "padding": 1},
                           {"type": "batchnorm"}, {"type": "relu"}, {"type": "globalavgmaxpool"},
                           {"type": "flatten"}, {"type": "linear", "out": 3}]}
    fixture("highpass", highpass, batch=3, seed=5)
    losses_fixture()


if __name__ == "__main__":
    sys.exit(main())
