import Foundation
import Imaging
import Neural
import Testing
import TestSupport

/// `linesight export --format onnx`, checked by ONNX Runtime (PyPI, in the venv of
/// scripts/onnx-venv.sh): every network of the zoo, with random weights and random batch-norm
/// statistics, exported by the shipped binary, passes onnx.checker, and on real part images
/// (`linesight synth`) gives the engine's logits and scores to 1e-4 of the largest logit,
/// flip averaging included; a batch and single images agree.
@Suite("ONNX export", .serialized)
struct ONNXExportTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The venv's python with onnxruntime and onnx, made once per test run.
    static let python: Result<URL, Error> = Result {
        let script = repository.appendingPathComponent("scripts/onnx-venv.sh")
        let r = try Child.run(URL(fileURLWithPath: "/bin/bash"), [script.path], environment: ProcessInfo.processInfo.environment, within: 600)
        guard r.status == 0, let path = r.out.split(separator: "\n").last.map(String.init), !path.isEmpty else {
            throw NeuralError.io(path: script.path, reason: "exited \(r.status): needs python3-venv and PyPI's onnxruntime: \(r.err)")
        }
        return URL(fileURLWithPath: path)
    }

    /// Real part images from the shipped generator, colour, 96x96, made once.
    static let images: Result<[String], Error> = Result {
        let dir = try TemporaryDirectory.make("onnx-images")
        let r = try CLI.run(["synth", "--out", dir, "--count", "5", "--size", "96x96", "--layout", "rgb", "--defect-rate", "0.6", "--seed", "7"])
        guard r.status == 0 else { throw NeuralError.io(path: dir, reason: "synth failed: \(r.err)") }
        let files = FileManager.default.enumerator(atPath: dir)?.compactMap { $0 as? String }.filter { $0.hasSuffix(".jpg") }.sorted() ?? []
        return files.map { dir + "/" + $0 }
    }

    struct Case: Sendable, CustomStringConvertible {
        var description: String
        var spec: NetworkSpec
        var task: ModelMetadata.Task = .multiclass
        var flips = false
        var temperature: Double? = nil
    }

    static let cases: [Case] = {
        let gray = Shape(1, 64, 64), rgb = Shape(3, 96, 96)
        let odd = NetworkSpec(name: "odd-layers", input: Shape(3, 40, 48), layers: [
            .conv(out: 8, kernel: 5, stride: 2, padding: 2, bias: true), .silu,
            .avgPool(kernel: 3, stride: 2, padding: 1), .conv(out: 8, kernel: 3, padding: 1, groups: 2, bias: true), .batchNorm,
            .relu6, .maxPool(kernel: 2, stride: 2), .dropout(0.3), .linear(out: 16, bias: false), .relu, .linear(out: 4),
        ])
        return [
            Case(description: "small ResNet, gray, strided stem", spec: Zoo.smallResNet(input: gray, classes: 2)),
            Case(description: "small ResNet, RGB, stem pool, avg+max, high-pass beside the image, flips, temperature",
                 spec: Zoo.InputFilter.both.apply(to: Zoo.smallResNet(input: rgb, classes: 2, depth: 8, width: 16, stemPool: true, globalPool: .avgmax), sigma: 6),
                 flips: true, temperature: 1.7),
            Case(description: "small10, RGB, full stem, peak pool, high-pass alone, multilabel",
                 spec: Zoo.InputFilter.highpass.apply(to: Zoo.smallResNet(input: rgb, classes: 5, depth: 10, width: 8, stemPool: false, globalPool: .peak), sigma: 3),
                 task: .multilabel),
            Case(description: "small ResNet, whole-map max pool", spec: Zoo.smallResNet(input: gray, classes: 3, depth: 8, width: 8, stemPool: true, globalPool: .max)),
            Case(description: "ResNet18, RGB, flips", spec: Zoo.resnet18(input: Shape(3, 64, 64), classes: 6), flips: true),
            Case(description: "light net, gray", spec: Zoo.lightNet(input: gray, classes: 2, width: 8)),
            Case(description: "defect-map classifier", spec: Zoo.defectMapClassifier(Zoo.defectMap(from: Zoo.smallResNet(input: gray, classes: 2, depth: 8, width: 8, stemPool: true, globalPool: .avg)))),
            Case(description: "avg pool with padding, SiLU, grouped conv with bias, ReLU6, linear without flatten, multilabel", spec: odd, task: .multilabel),
        ]
    }()

    @Test("ONNX Runtime gives the engine's logits and scores on real images", arguments: cases)
    func matches(_ c: Case) throws {
        let python = try Self.python.get()
        try TemporaryDirectory.with("onnx") { dir in
            let s = c.spec.input
            let network = try Network(c.spec, seed: 11)
            var random = SplitMix64(seed: 5)
            func uniform(_ lo: Float, _ hi: Float) -> Float { lo + (hi - lo) * Float(random.next() >> 40) / Float(1 << 24) }
            for case let bn as BatchNorm2d in network.allLayers {
                for i in 0..<bn.shape.channels {
                    bn.runningMean[i] = uniform(-0.3, 0.3); bn.runningVar[i] = uniform(0.5, 2)
                    bn.weight.value[i] = uniform(0.6, 1.4); bn.bias.value[i] = uniform(-0.2, 0.2)
                }
            }
            let classes = c.task == .multilabel ? (0..<network.outputShape.count).map { "kind\($0)" }
                : ["good"] + (1..<network.outputShape.count).map { "defect\($0)" }
            let mean: [Float] = s.channels == 3 ? [0.485, 0.456, 0.406] : [0.45], std: [Float] = s.channels == 3 ? [0.229, 0.224, 0.225] : [0.27]
            var meta = ModelMetadata(spec: c.spec, task: c.task, classes: classes, normalization: .init(mean: mean, std: std),
                                     thresholds: c.task == .multiclass ? ["pass": 0.3, "fail": 0.7] : [:],
                                     provenance: .init(created: "2026-12-06", notes: "ONNX test"))
            meta.flipAverage = c.flips ? true : nil
            meta.temperature = c.temperature
            let model = dir + "/model.safetensors", onnx = dir + "/model.onnx"
            try ModelFile.save(network, meta, to: model)
            let export = try CLI.run(["export", "--format", "onnx", "--model", model, "--out", onnx])
            try #require(export.status == 0, "\(export.err)")
            #expect(export.out.contains("opset 17") && export.out.contains(c.flips ? "four mirror images" : "none"), "\(export.out)")

            // the images as the daemon's crops: resized to the input, values in [0, 1]
            let files = try Self.images.get()
            try #require(files.count == 5)
            let decoder = try JPEGDecoder(), resampler = Resampler()
            var pixels = [Float](repeating: 0, count: files.count * s.count)
            for (i, file) in files.enumerated() {
                let image = try decoder.decode(Array(try Data(contentsOf: URL(fileURLWithPath: file))), layout: s.channels == 3 ? .rgb : .gray)
                try pixels.withUnsafeMutableBufferPointer {
                    try resampler.resizeNormalized(image, roi: Rect(x: 0, y: 0, width: image.width, height: image.height), width: s.width,
                                                   height: s.height, normalization: .unit(channels: s.channels), into: $0.baseAddress! + i * s.count)
                }
            }
            try Data(bytes: pixels, count: pixels.count * 4).write(to: URL(fileURLWithPath: dir + "/input.f32"))
            let run = try Child.run(python, [Self.repository.appendingPathComponent("scripts/onnx_run.py").path, onnx, dir + "/input.f32",
                                             "\(files.count)", "\(s.channels)", "\(s.height)", "\(s.width)", dir + "/out.f32"],
                                    environment: ProcessInfo.processInfo.environment, within: 300)
            try #require(run.status == 0, "onnxruntime: \(run.err)")
            #expect(run.out.contains("opset 17") && run.out.contains("input input ['N', \(s.channels), \(s.height), \(s.width)]"), "\(run.out)")
            #expect(run.out.contains("output scores ['N', \(classes.count)]"), "\(run.out)")
            let out = try Data(contentsOf: URL(fileURLWithPath: dir + "/out.f32")).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            let k = classes.count
            try #require(out.count == 2 * files.count * k)

            // the engine, as the daemon runs it (compiled, batch norm folded, flips as one batch)
            let engine = InferenceNetwork(network)
            var worst: Float = 0, largest: Float = 1, worstScore: Float = 0
            for i in 0..<files.count {
                let x = (0..<s.count).map { j in (pixels[i * s.count + j] - mean[j / (s.height * s.width)]) / std[j / (s.height * s.width)] }
                let z = x.withUnsafeBufferPointer { c.flips ? engine.predictFlipAveraged(sample: $0.baseAddress!) : engine.predict(sample: $0.baseAddress!) }
                let p: [Float]
                if c.task == .multilabel {
                    p = z.map { 1 / (1 + exp(-$0)) }
                } else {
                    let t = Float(c.temperature ?? 1), m = z.max()!
                    let e = z.map { exp(($0 - m) / t) }, total = e.reduce(0, +)
                    p = e.map { $0 / total }
                }
                for j in 0..<k {
                    largest = max(largest, abs(z[j]))
                    worst = max(worst, abs(z[j] - out[i * k + j]))
                    worstScore = max(worstScore, abs(p[j] - out[files.count * k + i * k + j]))
                }
            }
            #expect(worst <= 1e-4 * largest, "\(c): logits differ by \(worst) (largest |logit| \(largest))")
            #expect(worstScore <= 1e-4, "\(c): scores differ by \(worstScore)")
            let batchLine = run.out.split(separator: "\n").first { $0.hasPrefix("batch-vs-single") }
            let batchGap = batchLine.flatMap { Float($0.split(separator: " ").last ?? "") } ?? .infinity
            #expect(batchGap <= 1e-4 * largest, "\(c): a batch and single images disagree by \(batchGap)")
        }
    }

    @Test("export refuses what it cannot write and says why")
    func refusals() throws {
        try TemporaryDirectory.with("onnx-refuse") { dir in
            let junk = dir + "/junk.safetensors"
            try Data("not a model".utf8).write(to: URL(fileURLWithPath: junk))
            let bad = try CLI.run(["export", "--model", junk, "--out", dir + "/x.onnx"])
            #expect(bad.status != 0 && bad.err.contains("junk.safetensors") && !FileManager.default.fileExists(atPath: dir + "/x.onnx"), "\(bad.err)")
            let missing = try CLI.run(["export", "--model", dir + "/absent.safetensors", "--out", dir + "/x.onnx"])
            #expect(missing.status != 0 && missing.err.contains("absent.safetensors"), "\(missing.err)")
            try stage1(dir + "/s1.safetensors", pDefect: 0.2)
            let toDir = try CLI.run(["export", "--model", dir + "/s1.safetensors", "--out", dir])
            #expect(toDir.status != 0 && toDir.err.contains("is a directory"), "\(toDir.err)")
            let format = try CLI.run(["export", "--format", "tflite", "--model", dir + "/s1.safetensors", "--out", dir + "/x"])
            #expect(format.status != 0 && format.err.contains("tflite"), "\(format.err)")
            let help = try CLI.run(["export", "--help"])
            #expect(help.out.contains("trtexec --onnx") && help.out.contains("OpenVINO") && help.out.contains("[N, C, H, W]"), "\(help.out)")
        }
    }
}
