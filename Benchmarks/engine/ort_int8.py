"""The reference of the int8 rows of `make bench-engine`: ONNX Runtime's own int8 on the
very networks `linesight-bench --int8 DIR` ran (exported by `linesight`'s ONNX exporter,
fp32), quantized by onnxruntime's static quantization (QDQ, weights int8 per channel,
activations uint8, percentile 99.99 calibration) on the same calibration frames, timed
with the same threads and batch sizes (median of timed calls). Prints one JSON document.

usage: ort_int8.py DIR [--threads N] [--seconds S]
"""
import argparse
import contextlib
import json
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                      quantize_static)
from onnxruntime.quantization.shape_inference import quant_pre_process

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import timed  # noqa: E402


class Frames(CalibrationDataReader):
    def __init__(self, frames):
        self.frames = iter([{"input": f[None]} for f in frames])

    def get_next(self):
        return next(self.frames, None)


def session(path, threads):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=3)
    ap.add_argument("--names", default="small_resnet,resnet18")
    a = ap.parse_args()
    out = {"onnxruntime": ort.__version__, "threads": a.threads, "figures": {}}
    for name in a.names.split(","):
        fp32 = f"{a.dir}/{name}.onnx"
        shape = [d.dim_value for d in onnx.load(fp32).graph.input[0].type.tensor_type.shape.dim[1:]]
        frames = np.fromfile(f"{a.dir}/{name}.calibration.f32", dtype="<f4").reshape(-1, *shape)
        prepared, int8 = f"{a.dir}/{name}.prepared.onnx", f"{a.dir}/{name}.int8.onnx"
        with contextlib.redirect_stdout(sys.stderr):   # its progress, not our JSON
            quant_pre_process(fp32, prepared)
            quantize_static(prepared, int8, Frames(frames), quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            calibrate_method=CalibrationMethod.Percentile, extra_options={"CalibPercentile": 99.99})
        sessions = {"fp32": session(fp32, a.threads), "int8": session(int8, a.threads)}
        for batch in (1, 32):
            x = np.ascontiguousarray(np.concatenate([frames] * (batch // len(frames) + 1))[:batch])
            for kind, s in sessions.items():
                s.run(["logits"], {"input": x})
                t = timed(a.seconds, lambda: s.run(["logits"], {"input": x}), minimum=10)
                key = "b1_ms" if batch == 1 else "b32_images_per_s"
                out["figures"][f"{name}/ort_{kind}/{key}"] = t * 1000 if batch == 1 else 32 / t
        z32 = sessions["fp32"].run(["logits"], {"input": frames[:16]})[0]
        z8 = sessions["int8"].run(["logits"], {"input": frames[:16]})[0]
        out["figures"][f"{name}/ort_int8_max_logit_change_relative"] = float(np.abs(z8 - z32).max() / max(1, np.abs(z32).max()))
    print(json.dumps(out, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
