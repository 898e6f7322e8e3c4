#!/usr/bin/env python3
"""OpenCV half of `make bench-imaging`: the same JPEG frames to the same normalized
model inputs, single thread: cv2.imdecode with the largest IMREAD_REDUCED_COLOR_*
reduction that still covers the input, cv2.resize INTER_AREA, then normalization to a
CHW float32 tensor. Reads the Swift results, prints JSON with both."""
import json, sys, time
import cv2
import numpy as np

swift = json.load(open(sys.argv[1]))
frames_dir = sys.argv[2]
iterations = int(sys.argv[3]) if len(sys.argv) > 3 else 200
cv2.setNumThreads(1)
mean = np.array([0.485, 0.456, 0.406], np.float32) * 255
std = np.array([0.229, 0.224, 0.225], np.float32) * 255
flags = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}

def preprocess(buf, side, reduction):
    img = cv2.imdecode(buf, flags[reduction])
    img = cv2.resize(img, (side, side), interpolation=cv2.INTER_AREA)
    rgb = img[:, :, ::-1].astype(np.float32)
    return np.ascontiguousarray(((rgb - mean) / std).transpose(2, 0, 1))

results = []
for case in swift:
    buf = np.frombuffer(open(f"{frames_dir}/{case['frame']}", "rb").read(), np.uint8)
    w, h = (int(v) for v in case["frame"][6:-4].split("x"))
    side = int(case["input"].split("x")[-1])
    reduction = max(r for r in (1, 2, 4, 8) if w // r >= side and h // r >= side)
    n = iterations // 4 if w > 1000 else iterations
    preprocess(buf, side, reduction)
    times = []
    for _ in range(n):
        t = time.perf_counter()
        preprocess(buf, side, reduction)
        times.append((time.perf_counter() - t) * 1000)
    case = dict(case)
    case["opencv_ms"] = sorted(times)[n // 2]
    case["opencv_reduction"] = f"1/{reduction}"
    case["ratio"] = case["swift_ms"] / case["opencv_ms"]
    results.append(case)
json.dump({"opencv": cv2.__version__, "threads": 1, "cases": results}, sys.stdout, indent=1)
