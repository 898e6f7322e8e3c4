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


class AnomalyMap(nn.Module):
    """Linesight's anomalymap (Sources/Neural/Layers/AnomalyMap.swift): the input, then each
    pixel's Mahalanobis distance from a Gaussian of all its own image's pixels' descriptors
    (local-contrast colour, detail energy, band, Hessian trace and anisotropy at sigma 1 and
    2, gradient structure), log(1 + d^2) smoothed, minus log(1 + F). No gradient."""

    def __init__(self, h, w):
        super().__init__()
        self.size = (h, w)
        self.blurs = nn.ModuleDict({str(s): HighPass(s, False, h, w) for s in (1.0, 1.5, 2.0, 3.0, 6.0, 8.0)})

    def blur(self, x, sigma):
        b = self.blurs[str(sigma)]
        k = len(b.taps)
        t = x[:, :, :, b.cols].unfold(3, k, 1) @ b.taps
        return t[:, :, b.rows, :].unfold(2, k, 1) @ b.taps

    @staticmethod
    def dx(g):
        p = torch.cat([g[..., :1], g, g[..., -1:]], 3)
        return 0.5 * (p[..., 2:] - p[..., :-2])

    @staticmethod
    def dy(g):
        p = torch.cat([g[..., :1, :], g, g[..., -1:, :]], 2)
        return 0.5 * (p[..., 2:, :] - p[..., :-2, :])

    @torch.no_grad()
    def forward(self, x):
        n, c, h, w = x.shape
        xd = x.double()
        std = xd.var(dim=(2, 3), unbiased=False, keepdim=True).sqrt().float()
        d = x - self.blur(x, 8.0)
        xn = d / (self.blur(d * d, 8.0).clamp(min=0).sqrt() + 0.1 * std + 1e-6)
        colour = self.blur(xn, 1.5)
        detail = xn - self.blur(xn, 3.0)
        strength = self.blur(detail * detail, 2.0).clamp(min=0).sqrt()
        coarse = colour - self.blur(xn, 6.0)
        gray = xn.mean(1, keepdim=True)
        feats = [colour, strength, coarse]
        for s in (1.0, 2.0):
            g = self.blur(gray, s)
            gx, gy = self.dx(g), self.dy(g)
            gxx, gxy, gyy = self.dx(gx), self.dy(gx), self.dy(gy)
            feats += [s * s * (gxx + gyy), s * s * ((gxx - gyy) ** 2 + 4 * gxy * gxy).sqrt()]
        gx, gy = self.dx(gray), self.dy(gray)
        feats += [self.blur(gx * gx, 2.0), self.blur(gy * gy, 2.0), self.blur(gx * gy, 2.0)]
        f = torch.cat(feats, 1).double()                                   # N,F,H,W
        nf = f.shape[1]
        inner = f.flatten(2)                                               # N,F,P
        mean = inner.mean(2, keepdim=True)
        cen = inner - mean
        cov = cen @ cen.transpose(1, 2) / cen.shape[2]
        ridge = 1e-4 * cov.diagonal(dim1=1, dim2=2).mean(1).clamp(min=0) + 1e-6
        cov = cov + ridge[:, None, None] * torch.eye(nf, dtype=cov.dtype)
        v = f.flatten(2) - mean
        d2 = (v * torch.linalg.solve(cov, v)).sum(1).view(n, 1, h, w).float()
        m = torch.log1p(self.blur(d2, 2.0).clamp(min=0)) - torch.log1p(torch.tensor(float(nf)))
        return torch.cat([x, m], 1)


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
        elif t == "anomalymap":
            mods.append(AnomalyMap(h, w))
            c = c + 1
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
