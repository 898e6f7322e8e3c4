// `linesight-bench --int8 DIR`: our int8 networks against our fp32 ones, in alternating
// rounds, on the networks of the inference rows. Writes, for the ONNX Runtime half
// (Benchmarks/engine/ort_int8.py), each network as ONNX (our exporter, fp32) and the
// calibration frames it quantizes with, so both sides calibrate on the same real images
// (Fashion-MNIST test images; scaled up and repeated over RGB for ResNet18).
import Foundation
import Neural
import Training

/// `count` calibration samples for `shape` from Fashion-MNIST's test images, values in [0, 1].
func calibrationFrames(_ shape: Shape, count: Int) throws -> [[Float]] {
    let test = try FashionMNIST.load(test: true)
    let side = 28
    return (0..<count).map { i in
        let src = Array(test.pixels[(i * 97 % test.count) * side * side..<((i * 97 % test.count) + 1) * side * side])
        var x = [Float](repeating: 0, count: shape.count)
        for c in 0..<shape.channels {
            for y in 0..<shape.height {
                for xx in 0..<shape.width {
                    x[(c * shape.height + y) * shape.width + xx] = Float(src[(y * side / shape.height) * side + xx * side / shape.width]) / 255
                }
            }
        }
        return x
    }
}

func int8Bench(_ networks: [(String, NetworkSpec)], out: String, rounds: Int, seconds: Double, threads: Int) throws {
    try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
    var result: [String: Any] = ["isa": Int8ISA.best.description, "threads": threads]
    var figures: [String: Double] = [:]
    for (name, spec) in networks {
        log("int8 \(name): calibrating ...")
        let net = try Network(spec, seed: 1)
        let frames = try calibrationFrames(spec.input, count: 64)
        // normalized as the model says (mean 0.5, std 0.25), the ONNX graph does the same inside
        let c = spec.input.channels
        let meta = ModelMetadata(spec: spec, classes: (0..<10).map { "c\($0)" }, normalization: .init(mean: .init(repeating: 0.5, count: c), std: .init(repeating: 0.25, count: c)),
                                 provenance: .init(created: "bench"))
        let normalized = frames.map { $0.map { ($0 - 0.5) / 0.25 } }
        let q = try compute.run { try Calibrator(method: .percentile, percentile: 99.99).calibrate(net, frames: normalized) }
        var raw = Data()
        for f in frames { f.withUnsafeBytes { raw.append(contentsOf: $0) } }
        try raw.write(to: URL(fileURLWithPath: "\(out)/\(name).calibration.f32"))
        try ONNXExport.encode(net, meta).data.write(to: URL(fileURLWithPath: "\(out)/\(name).onnx"))
        let fp32 = InferenceNetwork(net, compute: inferenceCompute)
        let int8 = try QuantizedNetwork(net, quantization: q, compute: compute)
        if ProcessInfo.processInfo.environment["INT8_PROFILE"] != nil {
            let x = Tensor(spec.input, batch: 32)
            for (step, t) in int8.profile(x) { log(String(format: "%8.3f ms  %@", t * 1000, step)) }
        }
        for batch in [1, 32] {
            let x = Tensor(spec.input, batch: batch)
            for b in 0..<batch { normalized[b % normalized.count].withUnsafeBufferPointer { x.data.advanced(by: b * spec.input.count).update(from: $0.baseAddress!, count: spec.input.count) } }
            _ = fp32.predict(x); _ = int8.predict(x)
            var t32: [Double] = [], t8: [Double] = []
            for r in 0..<rounds {
                log("int8 \(name) b\(batch): round \(r + 1) of \(rounds)")
                t32.append(median(timed(seconds: seconds, minimum: 5) { _ = fp32.predict(x) }))
                t8.append(median(timed(seconds: seconds, minimum: 5) { _ = int8.predict(x) }))
            }
            let key = batch == 1 ? "b1_ms" : "b32_images_per_s"
            func figure(_ t: Double) -> Double { batch == 1 ? t * 1000 : 32 / t }
            figures["\(name)/fp32/\(key)"] = figure(median(t32))
            figures["\(name)/int8/\(key)"] = figure(median(t8))
            figures["\(name)/int8_over_fp32/b\(batch)"] = median(zip(t32, t8).map { $0 / $1 })
        }
        // how far int8 moves the logits on the calibration frames (random weights: a sanity figure)
        var worst: Float = 0, scale: Float = 1
        for f in normalized.prefix(16) {
            let a = f.withUnsafeBufferPointer { fp32.predict(sample: $0.baseAddress!) }, b = f.withUnsafeBufferPointer { int8.predict(sample: $0.baseAddress!) }
            for (u, v) in zip(a, b) { worst = max(worst, abs(u - v)); scale = max(scale, abs(u)) }
        }
        figures["\(name)/int8_max_logit_change_relative"] = Double(worst / scale)
    }
    result["figures"] = figures
    let json = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys, .prettyPrinted])
    print(String(decoding: json, as: UTF8.self))
}
