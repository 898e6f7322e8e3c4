"""Runs a Linesight ONNX export in ONNX Runtime: the tests' check of `linesight export`.

usage: onnx_run.py MODEL.onnx INPUT.f32 N C H W OUT.f32
INPUT.f32 holds N*C*H*W little-endian floats (values in [0, 1]); OUT.f32 gets the
`logits` then the `scores` outputs, N*K floats each. The model is first checked by
onnx.checker (full check, shapes inferred) and its declared inputs and outputs printed.
"""
import sys

import numpy as np
import onnx
import onnxruntime as ort


def dims(value):
    return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]


def main():
    model_path, input_path, n, c, h, w, out_path = sys.argv[1:]
    model = onnx.load(model_path)
    onnx.checker.check_model(model, full_check=True)
    print("opset", model.opset_import[0].version, "ir", model.ir_version)
    for v in model.graph.input:
        print("input", v.name, dims(v))
    for v in model.graph.output:
        print("output", v.name, dims(v))
    x = np.fromfile(input_path, dtype="<f4").reshape(int(n), int(c), int(h), int(w))
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
    logits, scores = session.run(["logits", "scores"], {"input": x})
    # one image at a time too: a batch of one must give the same answer
    single = np.concatenate([session.run(["logits"], {"input": x[i:i + 1]})[0] for i in range(x.shape[0])])
    print("batch-vs-single", float(np.abs(single - logits).max()))
    np.concatenate([logits.ravel(), scores.ravel()]).astype("<f4").tofile(out_path)


main()
