import Foundation
import TestSupport
import Testing
@testable import Neural
@testable import Training

/// A network's embedding (its global pooling's output) is the same whichever way it is
/// computed: the batched training pass that builds a model's drift reference, the compiled
/// network the daemon runs, with and without flip averaging, and the int8 network's fp32 tail.
@Suite("Embeddings")
struct EmbeddingTests {
    static func images(_ s: Shape, count: Int) -> ImageDataset {
        var px: [UInt8] = [], labels: [Int32] = []
        var state: UInt64 = 99
        for i in 0..<count {
            labels.append(Int32(i % 2))
            for _ in 0..<s.count {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                px.append(UInt8(truncatingIfNeeded: state >> 56))
            }
        }
        return ImageDataset(shape: s, classNames: ["good", "defect"], pixels: px, labels: labels)
    }

    @Test("training, compiled and int8 embeddings agree; the logits are the network's own", arguments: [false, true])
    func agree(flips: Bool) throws {
        let spec = Zoo.smallResNet(input: Shape(3, 32, 32), classes: 2, depth: 8, width: 8, stemPool: false, globalPool: .avgmax)
        let net = try Network(spec, seed: 3)
        let data = Self.images(spec.input, count: 6)
        let norm = Normalization(mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25])
        let batched = embeddings(net, on: data, normalization: norm, batchSize: 4, flipAverage: flips)
        let dims = try #require(batched.first?.count)
        #expect(batched.count == 6 && dims >= 16 && dims % 2 == 0 && batched.allSatisfy { $0.count == dims }, "avg and max of each channel")
        #expect(Set(batched.map { $0.map { ($0 * 1000).rounded() } }).count == 6, "six images, six embeddings")
        let compiled = InferenceNetwork(net)
        let frames = Self.inputs(data, norm)
        for (i, x) in frames.enumerated() {
            let (logits, e) = x.withUnsafeBufferPointer { compiled.predictWithEmbedding(sample: $0.baseAddress!, flipAveraged: flips) }
            let plain = x.withUnsafeBufferPointer { flips ? compiled.predictFlipAveraged(sample: $0.baseAddress!) : compiled.predict(sample: $0.baseAddress!) }
            #expect(zip(logits, plain).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) }, "image \(i): \(logits) vs \(plain)")
            let emb = try #require(e)
            #expect(zip(emb, batched[i]).allSatisfy { abs($0 - $1) <= 1e-4 * max(1, abs($1)) }, "image \(i)")
        }
        // int8: the tail is fp32, so the embedding is the dequantized body's, close to fp32's
        let q = try Calibrator(method: .minmax).calibrate(net, frames: frames)
        let qn = try QuantizedNetwork(net, quantization: q)
        for (i, x) in frames.enumerated() {
            let (logits, e) = x.withUnsafeBufferPointer { qn.predictWithEmbedding(sample: $0.baseAddress!, flipAveraged: flips) }
            let plain = x.withUnsafeBufferPointer { flips ? qn.predictFlipAveraged(sample: $0.baseAddress!) : qn.predict(sample: $0.baseAddress!) }
            #expect(logits == plain, "image \(i)")
            let emb = try #require(e)
            let scale = batched[i].map(abs).max()!
            #expect(zip(emb, batched[i]).allSatisfy { abs($0 - $1) <= 0.1 * scale }, "image \(i): \(emb) vs \(batched[i])")
        }
    }

    @Test("quantizing moves the embedding reference by the int8 network's bias: a healthy line stays where it lay in fp32")
    func int8Reference() throws {
        let spec = Zoo.smallResNet(input: Shape(1, 24, 24), classes: 2, depth: 8, width: 8, stemPool: false, globalPool: .avgmax)
        let net = try Network(spec, seed: 5)
        for case let bn as BatchNorm2d in net.allLayers {
            for i in 0..<bn.shape.channels { bn.runningVar[i] = 0.6 + Float(i % 5) / 10; bn.bias.value[i] = Float(i % 7 - 3) / 20 }
        }
        let norm = Normalization(mean: [0.5], std: [0.25])
        let frames = Self.inputs(Self.images(spec.input, count: 120), norm)
        let fp32 = InferenceNetwork(net)
        func embed(_ f: [Float], _ p: (UnsafePointer<Float>) -> [Float]?) -> [Float] { f.withUnsafeBufferPointer { p($0.baseAddress!)! } }
        let reference = try #require(EmbeddingReference.measure(frames.prefix(60).map { embed($0) { fp32.predictWithEmbedding(sample: $0, flipAveraged: false).embedding } }))
        var meta = ModelMetadata(spec: spec, classes: ["good", "defect"], normalization: .init(mean: norm.mean, std: norm.std), provenance: .init(created: "t"))
        meta.quantization = try Calibrator(method: .minmax).calibrate(net, frames: Array(frames.prefix(60)))
        let moved = try Quantizer.int8Reference(reference, net, meta, Array(frames.prefix(60)))
        #expect(moved.mean != reference.mean && moved.std == reference.std, "the means shifted, the spreads kept")
        #expect(moved.distance == reference.distance && moved.parts == reference.parts)
        // new frames through the int8 network: their median distance against the moved reference
        // is the fp32 frames' against the fp32 reference, closer than against the unmoved one
        let int8 = try QuantizedNetwork(net, quantization: meta.quantization!)
        let fresh = Array(frames.suffix(60))
        let e8 = fresh.map { embed($0) { int8.predictWithEmbedding(sample: $0, flipAveraged: false).embedding } }
        let e32 = fresh.map { embed($0) { fp32.predictWithEmbedding(sample: $0, flipAveraged: false).embedding } }
        let asFP32 = EmbeddingReference.median(e32.compactMap(reference.distance))
        let unmoved = EmbeddingReference.median(e8.compactMap(reference.distance)), after = EmbeddingReference.median(e8.compactMap(moved.distance))
        // a healthy line: the int8 frames' median distance is the fp32 frames' to within 2 %, in
        // spreads of the good parts' distances well under the alarm's 2
        #expect(abs(after - asFP32) <= 0.02 * asFP32, "int8 against the moved reference \(after), unmoved \(unmoved), fp32 \(asFP32)")
        #expect(abs(after - asFP32) / max(reference.distance.std, 0.05 * reference.medianDistance) < 0.5)
    }

    @Test("a network without a pooled head has no embedding")
    func none() throws {
        let spec = NetworkSpec(name: "flat", input: Shape(1, 4, 4), layers: [.flatten, .linear(out: 2)])
        let net = try Network(spec, seed: 1)
        let data = Self.images(spec.input, count: 2)
        #expect(embeddings(net, on: data, normalization: Normalization(mean: [0.5], std: [0.25]), flipAverage: false).isEmpty)
        let x = [Float](repeating: 0.1, count: 16)
        #expect(x.withUnsafeBufferPointer { InferenceNetwork(net).predictWithEmbedding(sample: $0.baseAddress!, flipAveraged: false) }.embedding == nil)
    }

    static func inputs(_ data: ImageDataset, _ norm: Normalization) -> [[Float]] {
        let t = Tensor(data.shape, batch: data.count)
        assembleBatch(data, Array(0..<data.count)[...], into: t, augmentation: .none, normalization: norm, seed: 0)
        return (0..<data.count).map { Array(UnsafeBufferPointer(start: t.data + $0 * data.shape.count, count: data.shape.count)) }
    }
}
