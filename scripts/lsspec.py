"""Linesight network specs (the JSON stored in every model file) built as torch modules.

Shared by the golden-fixture generator and the benchmarks, so PyTorch always runs the
very network the Swift engine builds from the same spec, with the same parameter names.
"""
import torch
import torch.nn as nn


class Residual(nn.Module):
    def __init__(self, body, shortcut):
        super().__init__()
        self.body = body
        self.shortcut = shortcut

    def forward(self, x):
        return self.body(x) + (self.shortcut(x) if len(self.shortcut) else x)


class AvgMaxPool(nn.Module):
    """Linesight's globalavgmaxpool: per channel the mean, then per channel the max."""

    def forward(self, x):
        return torch.cat([x.mean(dim=(2, 3), keepdim=True), x.amax(dim=(2, 3), keepdim=True)], 1)


class HighPass(nn.Module):
    """Linesight's highpass: each channel minus its Gaussian blur (mirrored borders, folded
    again for a blur wider than the image), divided by the image's root mean square over all
    channels + 0.05; with keep_input the input follows."""

    def __init__(self, sigma, keep_input, h, w):
        super().__init__()
        r = int(-(-3 * sigma // 1))
        taps = torch.exp(-torch.arange(-r, r + 1, dtype=torch.float64) ** 2 / (2 * sigma * sigma))
        self.register_buffer("taps", (taps / taps.sum()).float(), persistent=False)
        self.register_buffer("rows", self.mirror(h, r), persistent=False)
        self.register_buffer("cols", self.mirror(w, r), persistent=False)
        self.keep_input = keep_input
        self.size = (h, w)

    @staticmethod
    def mirror(n, r):
        if n == 1:
            return torch.zeros(n + 2 * r, dtype=torch.long)
        period = 2 * (n - 1)
        i = (torch.arange(-r, n + r) % period)
        return torch.where(i < n, i, period - i)

    def forward(self, x):
        k = len(self.taps)
        assert tuple(x.shape[2:]) == self.size, f"highpass built for {self.size}, given {tuple(x.shape[2:])}"
        t = x[:, :, :, self.cols].unfold(3, k, 1) @ self.taps           # N,C,H,W
        b = t[:, :, self.rows, :].unfold(2, k, 1) @ self.taps            # N,C,H,W
        hp = x - b
        rms = hp.pow(2).mean(dim=(1, 2, 3), keepdim=True).sqrt()
        y = hp / (rms + 0.05)
        return torch.cat([y, x], 1) if self.keep_input else y


def build(layers, shape):
    """Builds nn.Sequential from Linesight layer specs; shape is (C, H, W)."""
    mods = []
    c, h, w = shape
    for spec in layers:
        t = spec["type"]
        if t in ("conv", "depthwise"):
            k, s, p = spec["kernel"], spec.get("stride", 1), spec.get("padding", 0)
            out = spec["out"] if t == "conv" else c
            groups = spec.get("groups", 1) if t == "conv" else c
            mods.append(nn.Conv2d(c, out, k, s, p, groups=groups, bias=spec.get("bias", False)))
            c, h, w = out, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        elif t == "batchnorm":
            mods.append(nn.BatchNorm2d(c))
        elif t == "relu":
            mods.append(nn.ReLU())
        elif t == "relu6":
            mods.append(nn.ReLU6())
        elif t == "silu":
            mods.append(nn.SiLU())
        elif t in ("maxpool", "avgpool"):
            k, s, p = spec["kernel"], spec.get("stride", spec["kernel"]), spec.get("padding", 0)
            mods.append((nn.MaxPool2d if t == "maxpool" else nn.AvgPool2d)(k, s, p))
            h, w = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        elif t == "globalavgpool":
            mods.append(nn.AdaptiveAvgPool2d(1))
            h = w = 1
        elif t == "globalavgmaxpool":
            mods.append(AvgMaxPool())
            c, h, w = 2 * c, 1, 1
        elif t == "flatten":
            mods.append(nn.Flatten())
            c, h, w = c * h * w, 1, 1
        elif t == "linear":
            mods.append(nn.Linear(c * h * w, spec["out"], bias=spec.get("bias", True)))
            c, h, w = spec["out"], 1, 1
        elif t == "highpass":
            mods.append(HighPass(spec["sigma"], spec.get("keep_input", False), h, w))
            c = 2 * c if spec.get("keep_input", False) else c
        elif t == "residual":
            body, bshape = build(spec["body"], (c, h, w))
            short, _ = build(spec.get("shortcut", []), (c, h, w))
            mods.append(Residual(body, short))
            c, h, w = bshape
        else:
            raise ValueError(t)
    return nn.Sequential(*mods), (c, h, w)


def basic_block(cin, cout, stride):
    body = [{"type": "conv", "out": cout, "kernel": 3, "stride": stride, "padding": 1}, {"type": "batchnorm"},
            {"type": "relu"}, {"type": "conv", "out": cout, "kernel": 3, "stride": 1, "padding": 1},
            {"type": "batchnorm"}]
    short = ([{"type": "conv", "out": cout, "kernel": 1, "stride": stride, "padding": 0}, {"type": "batchnorm"}]
             if stride != 1 or cin != cout else [])
    return [{"type": "residual", "body": body, "shortcut": short}, {"type": "relu"}]


def small_resnet(cin, side, classes, width):
    """Mirror of Zoo.smallResNet(depth: 8) for inputs under 48 px."""
    layers = [{"type": "conv", "out": width, "kernel": 3, "stride": 1, "padding": 1}, {"type": "batchnorm"},
              {"type": "relu"}]
    c = width
    for s in range(3):
        layers += basic_block(c, width << s, 1 if s == 0 else 2)
        c = width << s
    layers += [{"type": "globalavgpool"}, {"type": "flatten"}, {"type": "linear", "out": classes}]
    return {"name": f"resnet8-w{width}", "input": {"channels": cin, "height": side, "width": side}, "layers": layers}
