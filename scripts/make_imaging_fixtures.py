#!/usr/bin/env python3
"""Golden fixtures for the Imaging tests, made with OpenCV (and Pillow for encoding).

Run: make imaging-fixtures   (creates .build/imaging-venv with opencv-python-headless)
Writes Tests/ImagingTests/Fixtures/: sample JPEGs, raw YUYV/NV12 frames and the
reference pixels OpenCV produces from them, as raw uint8 files plus manifest.json.
"""
import io, json, os
import numpy as np
import cv2
from PIL import Image

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "ImagingTests", "Fixtures")
os.makedirs(OUT, exist_ok=True)
manifest = {"opencv": cv2.__version__, "items": {}}


def save(name, array, **meta):
    array = np.ascontiguousarray(array, dtype=np.uint8)
    with open(os.path.join(OUT, name + ".raw"), "wb") as f:
        f.write(array.tobytes())
    shape = list(array.shape) + ([1] if array.ndim == 2 else [])
    manifest["items"][name] = {"height": shape[0], "width": shape[1], "channels": shape[2], **meta}


def pattern(w, h):
    """A scene with edges, gradients and texture: a good test of filters and chroma."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 128 + 100 * np.sin(x / 5.0) * np.cos(y / 7.0)
    g = 255 * x / (w - 1)
    b = np.where(((x // 8) + (y // 8)) % 2 == 0, 40, 210)
    b = b + 30 * ((x - w / 2) ** 2 + (y - h / 2) ** 2 < (min(w, h) / 3) ** 2)
    return np.clip(np.stack([r, g, b], axis=-1), 0, 255).astype(np.uint8)


rgb = pattern(97, 61)
buf = io.BytesIO()
Image.fromarray(rgb).save(buf, format="JPEG", quality=90, subsampling=2)  # 4:2:0
jpeg = buf.getvalue()
open(os.path.join(OUT, "sample_rgb.jpg"), "wb").write(jpeg)

decoded = cv2.cvtColor(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
save("decode_rgb", decoded)
save("decode_gray", cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_GRAYSCALE))
half = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_REDUCED_COLOR_2)
save("decode_rgb_half", cv2.cvtColor(half, cv2.COLOR_BGR2RGB))

save("area_40x25", cv2.resize(decoded, (40, 25), interpolation=cv2.INTER_AREA))
save("area_32x32", cv2.resize(decoded, (32, 32), interpolation=cv2.INTER_AREA))
save("area_roi_20x12", cv2.resize(decoded[10:50, 15:75], (20, 12), interpolation=cv2.INTER_AREA),
     roi=[15, 10, 60, 40])
save("bilinear_150x90", cv2.resize(decoded, (150, 90), interpolation=cv2.INTER_LINEAR))
save("bilinear_50x30", cv2.resize(decoded, (50, 30), interpolation=cv2.INTER_LINEAR))

# Raw camera formats from the same scene (even size for 4:2:x).
scene = pattern(64, 48)
yuv = cv2.cvtColor(scene, cv2.COLOR_RGB2YUV_I420)  # limited-range BT.601 planes
ys = yuv[:48]
u = yuv[48:60].reshape(24, 32)
v = yuv[60:72].reshape(24, 32)
nv12 = np.concatenate([ys.reshape(-1), np.stack([u, v], axis=-1).reshape(-1)])
open(os.path.join(OUT, "frame_64x48.nv12"), "wb").write(nv12.tobytes())
yuyv = np.zeros((48, 64 * 2), np.uint8)
yuyv[:, 0::2] = ys
yuyv[:, 1::4] = np.repeat(u, 2, axis=0)
yuyv[:, 3::4] = np.repeat(v, 2, axis=0)
open(os.path.join(OUT, "frame_64x48.yuyv"), "wb").write(yuyv.tobytes())
save("nv12_rgb", cv2.cvtColor(nv12.reshape(72, 64), cv2.COLOR_YUV2RGB_NV12))
save("yuyv_rgb", cv2.cvtColor(yuyv.reshape(48, 64, 2), cv2.COLOR_YUV2RGB_YUYV))
open(os.path.join(OUT, "frame_64x48.rgb24"), "wb").write(scene.tobytes())
save("rgb24_gray", cv2.cvtColor(scene, cv2.COLOR_RGB2GRAY))

with open(os.path.join(OUT, "manifest.json"), "w") as f:
    json.dump(manifest, f, indent=1, sort_keys=True)
print("wrote", len(manifest["items"]), "references to", os.path.normpath(OUT))
