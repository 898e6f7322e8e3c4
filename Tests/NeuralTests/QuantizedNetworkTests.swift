import Foundation
import Testing
@testable import Neural

/// Networks of the zoo compiled for int8 from calibrated ranges: their logits follow the
/// fp32 network's, every kernel variant gives the same logits to the bit, flip averaging
/// averages, and what has no int8 form or no range is refused with the reason.
@Suite("int8 networks")
struct QuantizedNetworkTests {
    /// Image-like samples: smooth shading, texture and a few sharp marks, normalized.
    static func frames(_ s: Shape, count: Int, seed: UInt64) -> [[Float]] {
        var rng = SeededGenerator(seed: seed)
        return (0..<count).map { _ in
            let gx = rng.uniform(-1, 1), gy = rng.uniform(-1, 1), base = rng.uniform(-0.5, 0.5)
            let marks = (0..<3).map { _ in (rng.uniform(0, Float(s.width)), rng.uniform(0, Float(s.height)), rng.uniform(-2, 2)) }
            var x = [Float](repeating: 0, count: s.count)
            for c in 0..<s.channels {
                for y in 0..<s.height {
                    for xx in 0..<s.width {
                        var v = base + gx * Float(xx) / Float(s.width) + gy * Float(y) / Float(s.height) + 0.3 * rng.normal()
                        for (mx, my, a) in marks where abs(Float(xx) - mx) < 2 && abs(Float(y) - my) < 6 { v += a }
                        x[(c * s.height + y) * s.width + xx] = v + Float(c) * 0.1
                    }
                }
            }
            return x
        }
    }

    static func randomized(_ spec: NetworkSpec, seed: UInt64) throws -> Network {
        let net = try Network(spec, seed: seed)
        var rng = SeededGenerator(seed: seed + 1)
        for case let bn as BatchNorm2d in net.allLayers {
            for i in 0..<bn.shape.channels {
                bn.runningMean[i] = rng.uniform(-0.2, 0.2); bn.runningVar[i] = rng.uniform(0.5, 2)
                bn.weight.value[i] = rng.uniform(0.5, 1.5); bn.bias.value[i] = rng.uniform(-0.1, 0.2)
            }
        }
        return net
    }

    static let specs: [(String, NetworkSpec)] = [
        ("small ResNet, gray 64", Zoo.smallResNet(input: Shape(1, 64, 64), classes: 2)),
        ("small ResNet, RGB 96, stem pool, avg+max, high-pass beside", Zoo.InputFilter.both.apply(
            to: Zoo.smallResNet(input: Shape(3, 96, 96), classes: 2, depth: 8, width: 16, stemPool: true, globalPool: .avgmax), sigma: 4)),
        ("small10, peak pool, no stem pool", Zoo.smallResNet(input: Shape(1, 48, 48), classes: 4, depth: 10, width: 8, stemPool: false, globalPool: .peak)),
        ("ResNet18, RGB 64", Zoo.resnet18(input: Shape(3, 64, 64), classes: 3)),
        ("light net (depthwise, ReLU6)", Zoo.lightNet(input: Shape(1, 64, 64), classes: 2, width: 8)),
        ("defect-map classifier", Zoo.defectMapClassifier(Zoo.defectMap(from: Zoo.smallResNet(input: Shape(1, 64, 64), classes: 2)))),
    ]

    @Test("int8 logits follow fp32 (each calibration method); every variant gives the same bits", arguments: 0..<specs.count)
    func follows(_ index: Int) throws {
        let (name, spec) = Self.specs[index]
        let net = try Self.randomized(spec, seed: 3 + UInt64(index))
        let calibration = Self.frames(spec.input, count: 24, seed: 10), test = Self.frames(spec.input, count: 12, seed: 99)
        // each method on two networks; clipping (percentile, entropy) costs a little on random weights
        let method = Quantization.Method.allCases[index % 3]
        let q = try Calibrator(method: method, percentile: 99.99).calibrate(net, frames: calibration, batch: 8)
        let tolerance: Float = method == .minmax ? 0.1 : 0.2
        let fp32 = InferenceNetwork(net)
        var reference: [Float] = [], int8: [Float] = []
        for f in test {
            reference += f.withUnsafeBufferPointer { fp32.predict(sample: $0.baseAddress!) }
        }
        for isa in Int8ISA.allCases where isa.isAvailable {
            let qn = try QuantizedNetwork(net, quantization: q, isa: isa)
            let logits = test.flatMap { f in f.withUnsafeBufferPointer { qn.predict(sample: $0.baseAddress!) } }
            if int8.isEmpty { int8 = logits } else { #expect(logits == int8, "\(name): \(isa) differs from \(Int8ISA.baseline)") }
            // patches read on a padded copy (the default), through pointers and copied (im2col): the same sums, so the same bits
            let convs = qn.convs
            #expect(convs.filter { !$0.isPointwise }.allSatisfy { $0.reading == .padded }, "\(name): a conv does not read a padded copy by default")
            for way in [PatchReading.pointers, .copies] {
                qn.patchReading = way
                let other = test.flatMap { f in f.withUnsafeBufferPointer { qn.predict(sample: $0.baseAddress!) } }
                #expect(other == logits, "\(name), \(isa): patches read padded and as \(way) differ")
            }
        }
        // the int8 logits track the fp32 ones: error small against their spread over the images
        let mean = reference.reduce(0, +) / Float(reference.count)
        let spread = (reference.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(reference.count)).squareRoot()
        let rms = (zip(int8, reference).map { ($0 - $1) * ($0 - $1) }.reduce(0, +) / Float(reference.count)).squareRoot()
        #expect(spread > 0 && rms <= tolerance * spread, "\(name), \(method): int8 error \(rms) against a spread of \(spread)")
        #expect(int8 != reference, "\(name): int8 equal to fp32 to the bit: did it run in fp32?")
    }

    @Test("the tail's global average pool on the bytes gives the logits and embedding of the dequantized map's pool")
    func poolOnBytes() throws {
        let spec = Zoo.smallResNet(input: Shape(1, 32, 32), classes: 3, depth: 8, width: 8, stemPool: false, globalPool: .avg)
        let net = try Self.randomized(spec, seed: 41)
        let q = try Calibrator(method: .minmax, percentile: 99.99).calibrate(net, frames: Self.frames(spec.input, count: 8, seed: 5), batch: 8)
        let qn = try QuantizedNetwork(net, quantization: q)
        #expect(qn.poolsBytes)
        var ways: [[Float]] = []
        for onBytes in [true, false] {
            qn.poolOnBytes = onBytes
            #expect(qn.poolsBytes == onBytes)
            var row: [Float] = []
            for f in Self.frames(spec.input, count: 4, seed: 77) {
                let (logits, embedding) = f.withUnsafeBufferPointer { qn.predictWithEmbedding(sample: $0.baseAddress!, flipAveraged: true) }
                #expect(embedding?.count == 8 * 4, "the embedding is the last stage's channels")
                row += logits + (embedding ?? [])
            }
            ways.append(row)
        }
        let worst = zip(ways[0], ways[1]).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? .infinity
        #expect(worst <= 1e-5, "pooled on bytes and on the dequantized map differ by \(worst)")
        #expect(ways[0].contains { $0 != 0 })
    }

    @Test("the methods pick sensible ranges; entropy and percentile clip a long tail")
    func methods() throws {
        var rng = SeededGenerator(seed: 1)
        // a ReLU-like tensor: most values small, a rare outlier 50x the rest
        var h = [Double](repeating: 0, count: Calibrator.bins)
        let lo: Float = 0, hi: Float = 50
        for _ in 0..<200_000 {
            let v = abs(rng.normal())
            h[min(Calibrator.bins - 1, Int(v / hi * Float(Calibrator.bins)))] += 1
        }
        h[Calibrator.bins - 1] += 1
        let p = Calibrator.percentileRange(h, lo: lo, hi: hi, keep: 99.99)
        #expect(p[0] == 0 && p[1] > 3 && p[1] < 6, "percentile range \(p)")
        let e = Calibrator.entropyRange(h, lo: lo, hi: hi)
        #expect(e[0] == 0 && e[1] > 2 && e[1] < 25, "entropy range \(e)")
        // with negatives: both sides, zero inside
        var g = [Double](repeating: 0, count: Calibrator.bins)
        for _ in 0..<100_000 { let v = rng.normal(); g[min(Calibrator.bins - 1, max(0, Int((v + 8) / 16 * Float(Calibrator.bins))))] += 1 }
        let s = Calibrator.percentileRange(g, lo: -8, hi: 8, keep: 99.9)
        #expect(s[0] < -2.5 && s[0] > -4.5 && s[1] > 2.5 && s[1] < 4.5, "two-sided range \(s)")
    }

    @Test("flip averaging, batches and single frames agree")
    func flips() throws {
        let spec = Zoo.smallResNet(input: Shape(1, 32, 32), classes: 2)
        let net = try Self.randomized(spec, seed: 5)
        let frames = Self.frames(spec.input, count: 8, seed: 2)
        let q = try Calibrator(method: .entropy).calibrate(net, frames: frames)
        let qn = try QuantizedNetwork(net, quantization: q)
        let f = frames[0]
        var flipped = [[Float]]()
        for flip in Flip.allCases {
            var y = [Float](repeating: 0, count: f.count)
            f.withUnsafeBufferPointer { src in y.withUnsafeMutableBufferPointer { flip.copy(src.baseAddress!, to: $0.baseAddress!, channels: 1, height: 32, width: 32) } }
            flipped.append(y)
        }
        let each = flipped.map { g in g.withUnsafeBufferPointer { qn.predict(sample: $0.baseAddress!) } }
        let averaged = f.withUnsafeBufferPointer { qn.predictFlipAveraged(sample: $0.baseAddress!) }
        for j in 0..<2 {
            let mean = each.map { $0[j] }.reduce(0, +) / 4
            #expect(abs(averaged[j] - mean) <= 1e-5 * max(1, abs(mean)), "flip average \(averaged[j]) vs mean of flips \(mean)")
        }
    }

    /// A randomized `spec`, three frames, their min-max calibration, its int8 network on two
    /// workers (every layer split), and the frames as one batch.
    static func twoWorkers(_ spec: NetworkSpec, seed: UInt64, frameSeed: UInt64) throws
        -> (Network, [[Float]], Quantization, QuantizedNetwork, Tensor) {
        let net = try randomized(spec, seed: seed)
        let frames = frames(spec.input, count: 3, seed: frameSeed)
        let q = try Calibrator(method: .minmax).calibrate(net, frames: frames)
        let qn = try QuantizedNetwork(net, quantization: q, compute: Compute(threads: 2, minimumParallelWork: 1))
        qn.imageLanes = false   // every layer split, as the name says; the tests read the body's own last output
        let batch = Tensor(spec.input, batch: frames.count)
        for (i, f) in frames.enumerated() { f.withUnsafeBufferPointer { batch.data.advanced(by: i * spec.input.count).update(from: $0.baseAddress!, count: f.count) } }
        return (net, frames, q, qn, batch)
    }

    @Test("two workers on a large stem and a 3x3 conv read in place: a batch gives each image's own logits, bit for bit")
    func workersDoNotOverlap() throws {
        // a 7x7 stride-2 stem on 3 channels: 7 runs of 24 bytes a pixel on the padded copy (148 copied), blocks that fill a
        // worker's share; then a 3x3 conv on 16 channels, a run per tap: 12,288 rows, two blocks per worker
        let spec = NetworkSpec(name: "stem", input: Shape(3, 128, 128), layers: [
            .conv(out: 16, kernel: 7, stride: 2, padding: 3), .batchNorm, .relu,
            .conv(out: 24, kernel: 3, stride: 1, padding: 1), .batchNorm, .relu, .maxPool(kernel: 3, stride: 2, padding: 1),
            .globalAvgMaxPool, .flatten, .linear(out: 2)])
        let (_, frames, _, qn, batch) = try Self.twoWorkers(spec, seed: 9, frameSeed: 4)
        // the int8 body's last bytes (the fp32 head after them rounds differently by batch)
        func bytes(_ images: Int) -> [UInt8] {
            let out = qn.body.last!.output
            return out.withBytes { Array(UnsafeBufferPointer(start: $0, count: images * out.pixels * out.pixelStride)) }
        }
        for _ in 0..<3 {
            _ = qn.predict(batch)
            let together = bytes(frames.count)
            let alone = frames.flatMap { f -> [UInt8] in _ = f.withUnsafeBufferPointer { qn.predict(sample: $0.baseAddress!) }; return bytes(1) }
            #expect(together == alone, "a batch on two workers differs from its images one by one")
        }
        let conv = try #require(qn.convs.last)
        #expect(conv.reading == .padded && 3 * conv.geometry.outPlane > 2 * conv.blockRows, "the 3x3 conv is copied, or one block per worker")
        _ = qn.predict(batch)
        let padded = bytes(frames.count)
        for way in [PatchReading.pointers, .copies] {
            qn.patchReading = way
            _ = qn.predict(batch)
            #expect(conv.reading == way && bytes(frames.count) == padded, "patches read padded and as \(way) differ on a batch")
        }
    }

    @Test("every way of reading patches stores the same bytes for a batch: stride 2, no padding, packed and whole-four pixels")
    func waysAgreeOnABatch() throws {
        // a packed RGB stem (stride 2), a 3x3 stride-2 conv on 16 channels, a ResNet block
        // with a 1x1 stride-2 shortcut (no padding) and a 5x5 conv on 8 channels (a pixel of 8 bytes)
        let spec = NetworkSpec(name: "ways", input: Shape(3, 30, 30), layers: [
            .conv(out: 16, kernel: 5, stride: 2, padding: 2), .batchNorm, .relu,
            .conv(out: 16, kernel: 3, stride: 2, padding: 1), .batchNorm, .relu,
            .residual(body: [.conv(out: 24, kernel: 3, stride: 2, padding: 1), .batchNorm, .relu, .conv(out: 24, kernel: 3, padding: 1), .batchNorm],
                      shortcut: [.conv(out: 24, kernel: 1, stride: 2, padding: 0), .batchNorm]), .relu,
            .conv(out: 8, kernel: 1), .batchNorm, .relu,
            .conv(out: 12, kernel: 5, padding: 2), .batchNorm, .relu,
            .globalAvgMaxPool, .flatten, .linear(out: 2)])
        let (net, frames, q, qn, batch) = try Self.twoWorkers(spec, seed: 21, frameSeed: 8)
        func bytes() -> [UInt8] {
            let out = qn.body.last!.output
            return out.withBytes { Array(UnsafeBufferPointer(start: $0, count: frames.count * out.pixels * out.pixelStride)) }
        }
        #expect(qn.patchReading == .padded, "the default way is \(qn.patchReading)")
        _ = qn.predict(batch)
        let padded = bytes()
        #expect(Set(padded).count > 8, "the output bytes hardly vary")
        for way in [PatchReading.pointers, .copies, .padded] {
            qn.patchReading = way
            #expect(qn.patchReading == way, "set \(way), read \(qn.patchReading)")
            _ = qn.predict(batch)
            #expect(bytes() == padded, "a batch read as \(way) differs from the padded copy")
        }
        // a smaller batch after a larger one reuses the padded copy: the same bytes as the image alone
        let alone = frames[0].withUnsafeBufferPointer { qn.predict(sample: $0.baseAddress!) }
        let other = try QuantizedNetwork(net, quantization: q)
        let fresh = frames[0].withUnsafeBufferPointer { other.predict(sample: $0.baseAddress!) }
        #expect(alone == fresh, "after a batch of 3, one image gives other logits than a fresh network's")
    }

    @Test("image lanes: each thread's share of a batch through the whole body gives every image the logits and embedding of the layers split, to the bit")
    func imageLanes() throws {
        // a packed RGB stem, a strided conv, a block with a strided 1x1 shortcut, a pool: every kind of unit a lane replicates
        let spec = NetworkSpec(name: "lanes", input: Shape(3, 30, 30), layers: [
            .conv(out: 16, kernel: 5, stride: 2, padding: 2), .batchNorm, .relu,
            .conv(out: 16, kernel: 3, stride: 2, padding: 1), .batchNorm, .relu,
            .residual(body: [.conv(out: 24, kernel: 3, stride: 2, padding: 1), .batchNorm, .relu, .conv(out: 24, kernel: 3, padding: 1), .batchNorm],
                      shortcut: [.conv(out: 24, kernel: 1, stride: 2, padding: 0), .batchNorm]), .relu,
            .maxPool(kernel: 2, stride: 1, padding: 0),
            .conv(out: 12, kernel: 3, padding: 1), .batchNorm, .relu,
            .globalAvgPool, .flatten, .linear(out: 3)])
        let net = try Self.randomized(spec, seed: 31)
        let frames = Self.frames(spec.input, count: 19, seed: 12)
        let q = try Calibrator(method: .minmax).calibrate(net, frames: Array(frames.prefix(6)))
        let compute = Compute(threads: 2, minimumParallelWork: 1)
        let lanes = try QuantizedNetwork(net, quantization: q, compute: compute)
        let split = try QuantizedNetwork(net, quantization: q, compute: compute)
        split.imageLanes = false
        #expect(lanes.usesLanes(batch: 2, threads: 2) && lanes.usesLanes(batch: 18, threads: 2) && lanes.usesLanes(batch: 17, threads: 2))
        #expect(!lanes.usesLanes(batch: 3, threads: 2) && !lanes.usesLanes(batch: 15, threads: 2) && !lanes.usesLanes(batch: 8, threads: 1))
        #expect(!split.usesLanes(batch: 18, threads: 2))
        // 18: 9 a lane, run 4 + 4 + 1; 17: 9 and 8; 4 after the larger batches reuses their buffers; 3 splits its layers
        for count in [2, 18, 4, 17, 3, 18] {
            let batch = Tensor(spec.input, batch: count)
            for (i, f) in frames.prefix(count).enumerated() {
                f.withUnsafeBufferPointer { batch.data.advanced(by: i * spec.input.count).update(from: $0.baseAddress!, count: f.count) }
            }
            var rows: ([[Float]], [[Float]]) = ([], [])
            let a = compute.run { lanes.run(batch, fromHead: 0, capture: true, group: 1, into: &rows.0) }
            let b = compute.run { split.run(batch, fromHead: 0, capture: true, group: 1, into: &rows.1) }
            #expect(a.count == 3 * count && a == b, "batch \(count): logits in lanes differ from the layers split")
            #expect(rows.0.count == count && rows.0 == rows.1, "batch \(count): embeddings in lanes differ from the layers split")
            #expect(Set(a).count > count, "batch \(count): the images' logits hardly differ")
        }
        // the flip average (a batch of four: two a lane) and a way of reading patches set after the lanes were made
        for way in [PatchReading.pointers, .padded] {
            lanes.patchReading = way
            split.patchReading = way
            let (l, e) = frames[5].withUnsafeBufferPointer { lanes.predictWithEmbedding(sample: $0.baseAddress!, flipAveraged: true) }
            let (m, f) = frames[5].withUnsafeBufferPointer { split.predictWithEmbedding(sample: $0.baseAddress!, flipAveraged: true) }
            #expect(l == m && e == f, "\(way): the flip average in lanes differs from the layers split")
        }
    }

    @Test("a one-conv block whose shortcut is its input runs (the input is read twice at once)")
    func oneConvBlock() throws {
        let spec = NetworkSpec(name: "onecv", input: Shape(1, 24, 24), layers: [
            .conv(out: 8, kernel: 3, padding: 1), .batchNorm, .relu,
            .residual(body: [.conv(out: 8, kernel: 3, padding: 1), .batchNorm], shortcut: []), .relu,
            .globalAvgPool, .flatten, .linear(out: 2)])
        let net = try Self.randomized(spec, seed: 2)
        let frames = Self.frames(spec.input, count: 8, seed: 6)
        let qn = try QuantizedNetwork(net, quantization: try Calibrator(method: .minmax).calibrate(net, frames: frames))
        let fp32 = InferenceNetwork(net)
        for f in frames {
            let a = f.withUnsafeBufferPointer { fp32.predict(sample: $0.baseAddress!) }, b = f.withUnsafeBufferPointer { qn.predict(sample: $0.baseAddress!) }
            #expect(zip(a, b).allSatisfy { abs($0 - $1) <= 0.1 * max(1, abs($0)) }, "\(a) vs \(b)")
        }
    }

    @Test("what has no int8 form, or no range, is refused with the reason")
    func refusals() throws {
        let silu = NetworkSpec(name: "silu", input: Shape(1, 16, 16), layers: [.conv(out: 4, kernel: 3, padding: 1), .silu, .globalAvgPool, .flatten, .linear(out: 2)])
        #expect(throws: NeuralError.invalidSpec("layer 1: SiLU has no int8 form")) { try QuantizedPlan(try Network(silu)) }
        let noConv = NetworkSpec(name: "mlp", input: Shape(4), layers: [.flatten, .linear(out: 2)])
        #expect(throws: NeuralError.self) { try QuantizedPlan(try Network(noConv)) }
        let spec = Zoo.smallResNet(input: Shape(1, 32, 32), classes: 2)
        let net = try Network(spec)
        var q = try Calibrator(method: .minmax).calibrate(net, frames: Self.frames(spec.input, count: 2, seed: 1))
        q.ranges.removeValue(forKey: "3")
        #expect(throws: NeuralError.invalidSpec("the quantization has no range for tensor '3'; quantize the model again")) {
            try QuantizedNetwork(net, quantization: q)
        }
        // sums an int32 cannot hold (a hostile spec within the engine's limits): refused, not a trap
        let wide = NetworkSpec(name: "wide", input: Shape(600, 16, 16), layers: [.conv(out: 1, kernel: 15), .globalAvgPool, .flatten, .linear(out: 2)])
        let wideNet = try Network(wide)
        let ranges = Quantization(method: .minmax, frames: 1, ranges: ["input": [-1, 1], "0": [0, 1]])
        #expect(throws: NeuralError.self) { try QuantizedNetwork(wideNet, quantization: ranges) }
        // hostile metadata: NaN, an empty or inverted range, a percentile for minmax
        func bad(_ field: String, _ why: String) -> NeuralError { .invalidMetadata(path: "<m>", field: field, reason: why) }
        for (ranges, method, pct) in [(["input": [Float.nan, 1]], Quantization.Method.minmax, Double?.none),
                                      (["input": [0, 0]], .minmax, nil), (["input": [1, 2]], .minmax, nil),
                                      (["input": [-1, 1, 2]], .minmax, nil), (["input": [-1, 1]], .minmax, 99.9),
                                      (["input": [-1, 1]], .percentile, 120)] {
            let hostile = Quantization(method: method, percentile: pct, frames: 3, ranges: ranges)
            #expect(throws: NeuralError.self) { try hostile.validate(bad) }
        }
    }
}

