#!/usr/bin/python3
"""Exports a randomly initialised torchvision resnet18 for the import test (run by
Tests/NeuralTests/TorchvisionImportTests.swift, not committed: 45 MB).

Writes to OUT: resnet18.pth (torch.save of the state dict, the zip format), resnet18.safetensors
(the same tensors, num_batches_tracked as I64 as torch keeps them), resnet18-half.safetensors
(F16 weights), and io.safetensors: an input batch and torchvision's eval-mode logits. The batch
norms' running statistics and affine parameters are randomised too, so a wrong mapping of any
of them changes the logits. Usage: make_torchvision_fixture.py OUT [--classes N] [--side S]"""
import argparse
import json
import struct
from pathlib import Path

import torch
import torchvision

DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.int64: "I64"}


def save_safetensors(tensors, path):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        t = t.contiguous()
        raw = t.numpy().tobytes()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--classes", type=int, default=7)
    ap.add_argument("--side", type=int, default=64)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(3)
    net = torchvision.models.resnet18(num_classes=args.classes)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.num_batches_tracked.fill_(7)
    net.eval()
    x = torch.randn(2, 3, args.side, args.side)
    with torch.no_grad():
        y = net(x)
    state = net.state_dict()
    torch.save(state, out / "resnet18.pth")
    save_safetensors(state, out / "resnet18.safetensors")
    save_safetensors({k: (v.half() if v.is_floating_point() else v) for k, v in state.items()}, out / "resnet18-half.safetensors")
    net.half().float()
    with torch.no_grad():
        y_half = net(x)
    save_safetensors({"input": x, "logits": y, "logits_half": y_half}, out / "io.safetensors")


if __name__ == "__main__":
    main()
