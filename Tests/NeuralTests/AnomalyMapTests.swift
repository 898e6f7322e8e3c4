import Foundation
import Testing
@testable import Neural

/// The anomaly map against its naive twin (full 2-D Gaussians, mirrored at the borders,
/// everything in Double, the Mahalanobis distance by solving the covariance afresh), and
/// what it is for: a defect stands out of its own surface, in any light.
@Suite("Anomaly map input filter")
struct AnomalyMapTests {
    typealias Plane = [Double]

    /// The map alone, one image (`x`: C planes of h x w), as the layer's documentation says.
    static func naive(_ x: [[Double]], _ h: Int, _ w: Int) -> [Double] {
        let c = x.count, n = h * w
        func reflect(_ i: Int, _ n: Int) -> Int {
            guard n > 1 else { return 0 }
            var j = i
            while j < 0 || j >= n { j = j < 0 ? -j : 2 * (n - 1) - j }
            return j
        }
        func blur(_ p: Plane, _ sigma: Double) -> Plane {
            let r = Int((3 * sigma).rounded(.up))
            let k = (-r...r).map { exp(-Double($0 * $0) / (2 * sigma * sigma)) }
            let total = k.reduce(0, +)
            var out = Plane(repeating: 0, count: n)
            for y in 0..<h {
                for xx in 0..<w {
                    var acc = 0.0
                    for dy in -r...r {
                        for dx in -r...r { acc += k[dy + r] * k[dx + r] * p[reflect(y + dy, h) * w + reflect(xx + dx, w)] }
                    }
                    out[y * w + xx] = acc / (total * total)
                }
            }
            return out
        }
        func dx(_ p: Plane) -> Plane { (0..<n).map { i in let (y, x) = i.quotientAndRemainder(dividingBy: w); return 0.5 * (p[y * w + min(x + 1, w - 1)] - p[y * w + max(x - 1, 0)]) } }
        func dy(_ p: Plane) -> Plane { (0..<n).map { i in let (y, x) = i.quotientAndRemainder(dividingBy: w); return 0.5 * (p[min(y + 1, h - 1) * w + x] - p[max(y - 1, 0) * w + x]) } }
        var colour: [Plane] = [], strength: [Plane] = [], coarse: [Plane] = []
        var gray = Plane(repeating: 0, count: n)
        for p in x {
            let mean = p.reduce(0, +) / Double(n)
            let std = (p.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(n)).squareRoot()
            let low = blur(p, 8)
            let d = (0..<n).map { p[$0] - low[$0] }
            let v = blur(d.map { $0 * $0 }, 8)
            let xn = (0..<n).map { d[$0] / (v[$0].squareRoot() + 0.1 * std + 1e-6) }
            let f = blur(xn, 1.5)
            colour.append(f)
            let det = blur(xn, 3)
            strength.append(blur((0..<n).map { (xn[$0] - det[$0]) * (xn[$0] - det[$0]) }, 2).map { $0.squareRoot() })
            let b = blur(xn, 6)
            coarse.append((0..<n).map { f[$0] - b[$0] })
            for i in 0..<n { gray[i] += xn[i] / Double(c) }
        }
        var features = colour + strength + coarse
        for sigma in [1.0, 2.0] {
            let g = blur(gray, sigma)
            let gx = dx(g), gy = dy(g), gxx = dx(gx), gxy = dy(gx), gyy = dy(gy)
            features.append((0..<n).map { sigma * sigma * (gxx[$0] + gyy[$0]) })
            features.append((0..<n).map { i -> Double in
                let d = gxx[i] - gyy[i], xy = gxy[i]
                return sigma * sigma * (d * d + 4 * xy * xy).squareRoot()
            })
        }
        let gx = dx(gray), gy = dy(gray)
        features += [blur(zip(gx, gx).map(*), 2), blur(zip(gy, gy).map(*), 2), blur(zip(gx, gy).map(*), 2)]
        let f = features.count
        let inner = Array(0..<n)
        let mean = features.map { p in inner.map { p[$0] }.reduce(0, +) / Double(inner.count) }
        var cov = [[Double]](repeating: [Double](repeating: 0, count: f), count: f)
        for a in 0..<f { for c2 in 0..<f { cov[a][c2] = inner.map { (features[a][$0] - mean[a]) * (features[c2][$0] - mean[c2]) }.reduce(0, +) / Double(inner.count) } }
        let ridge = 1e-4 * (0..<f).map { cov[$0][$0] }.reduce(0, +) / Double(f) + 1e-6
        for a in 0..<f { cov[a][a] += ridge }
        // d^2 = v . cov^-1 v by Gaussian elimination on a copy, per pixel
        func solve(_ m: [[Double]], _ v: [Double]) -> [Double] {
            var a = m, r = v
            for i in 0..<f {
                let p = (i..<f).max { abs(a[$0][i]) < abs(a[$1][i]) }!
                a.swapAt(i, p); r.swapAt(i, p)
                for j in (i + 1)..<f where a[j][i] != 0 {
                    let q = a[j][i] / a[i][i]
                    for k in i..<f { a[j][k] -= q * a[i][k] }
                    r[j] -= q * r[i]
                }
            }
            var out = [Double](repeating: 0, count: f)
            for i in stride(from: f - 1, through: 0, by: -1) {
                var s = r[i]
                for k in (i + 1)..<f { s -= a[i][k] * out[k] }
                out[i] = s / a[i][i]
            }
            return out
        }
        let d2 = (0..<n).map { i -> Double in
            let v = (0..<f).map { features[$0][i] - mean[$0] }
            return zip(v, solve(cov, v)).map(*).reduce(0, +)
        }
        return blur(d2, 2).map { log1p(max(0, $0)) - log1p(Double(f)) }
    }

    /// A textured surface: smoothed noise with stripes, in `c` channels of different colour.
    static func surface(_ c: Int, _ h: Int, _ w: Int, seed: UInt64) -> [[Double]] {
        var rng = SeededGenerator(seed: seed)
        let noise = (0..<(h * w)).map { _ in Double(rng.uniform(-1, 1)) }
        return (0..<c).map { ch in
            (0..<(h * w)).map { i in
                let (y, x) = i.quotientAndRemainder(dividingBy: w)
                return 0.5 + 0.1 * Double(ch) + 0.15 * sin(Double(x + 2 * y) * 0.9) + 0.08 * noise[i]
            }
        }
    }

    static func tensor(_ images: [[[Double]]], _ shape: Shape) -> Tensor {
        let t = Tensor(shape, batch: images.count)
        for (b, img) in images.enumerated() {
            for (ch, p) in img.enumerated() { for (i, v) in p.enumerated() { t[(b * shape.channels + ch) * shape.height * shape.width + i] = Float(v) } }
        }
        return t
    }

    /// The map plane of image `b` from the layer's output.
    static func mapPlane(_ y: Tensor, _ b: Int) -> [Float] {
        let (c, plane) = (y.channels, y.height * y.width)
        return (0..<plane).map { y[(b * c + c - 1) * plane + $0] }
    }

    @Test("equals the naive twin: colour and gray, square and not, small and large",
          arguments: [(3, 24, 20), (1, 17, 33), (3, 70, 64)])
    func naiveTwin(_ c: Int, _ h: Int, _ w: Int) throws {
        let shape = Shape(c, h, w)
        var img = Self.surface(c, h, w, seed: 5)
        // a blob of another colour
        for ch in 0..<c { for y in (h / 3)..<(h / 3 + 4) { for x in (w / 2)..<(w / 2 + 5) { img[ch][y * w + x] += ch == 0 ? 0.3 : -0.2 } } }
        let other = Self.surface(c, h, w, seed: 6)
        let layer = AnomalyMap(shape)
        #expect(layer.outputShape == Shape(c + 1, h, w))
        let y = layer.forward(Self.tensor([img, other], shape), mode: .eval)
        for (b, image) in [img, other].enumerated() {
            let want = Self.naive(image, h, w), got = Self.mapPlane(y, b)
            let worst = zip(got, want).map { abs(Double($0) - $1) }.max() ?? .infinity
            #expect(worst < 2e-3, "image \(b): largest difference \(worst)")
            // the input is copied in front of the map
            for ch in 0..<c { #expect(abs(y[(b * (c + 1) + ch) * h * w + 7] - Float(image[ch][7])) < 1e-6) }
        }
    }

    @Test("brightness, contrast and normalization per channel leave the map as it was")
    func invariance() throws {
        let shape = Shape(3, 48, 48)
        let img = Self.surface(3, 48, 48, seed: 11)
        let changed = img.enumerated().map { ch, p in p.map { $0 * [3.0, 0.5, 1.7][ch] + [-1.2, 0.4, 2.0][ch] } }
        let layer = AnomalyMap(shape)
        let y = layer.forward(Self.tensor([img, changed], shape), mode: .eval)
        let a = Self.mapPlane(y, 0), b = Self.mapPlane(y, 1)
        let worst = zip(a, b).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst < 1e-3, "largest difference \(worst)")
        #expect((a.max() ?? 0) - (a.min() ?? 0) > 0.5, "the map is not flat")
    }

    @Test("a stain, a scratch and a pit each stand out of their surface: the map's peak falls on them")
    func defectsStandOut() throws {
        let (h, w) = (64, 64), shape = Shape(3, h, w)
        func peak(_ img: [[Double]]) -> (Int, Int) {
            let m = Self.mapPlane(AnomalyMap(shape).forward(Self.tensor([img], shape), mode: .eval), 0)
            let i = m.indices.max { m[$0] < m[$1] }!
            return (i / w, i % w)
        }
        var stain = Self.surface(3, h, w, seed: 21)
        for y in 30..<36 { for x in 20..<27 { stain[1][y * w + x] += 0.12; stain[2][y * w + x] -= 0.1 } }   // greenish, faint
        var scratch = Self.surface(3, h, w, seed: 22)
        for t in 0..<20 { for ch in 0..<3 { scratch[ch][(15 + t) * w + 40 + t / 3] -= 0.25 } }
        var pit = Self.surface(3, h, w, seed: 23)
        for y in 44..<46 { for x in 12..<14 { for ch in 0..<3 { pit[ch][y * w + x] -= 0.35 } } }
        let (sy, sx) = peak(stain), (ry, rx) = peak(scratch), (py, px) = peak(pit)
        #expect((27...38).contains(sy) && (17...29).contains(sx), "stain peak at \(sy),\(sx)")
        #expect((12...37).contains(ry) && (37...49).contains(rx), "scratch peak at \(ry),\(rx)")
        #expect((41...48).contains(py) && (9...16).contains(px), "pit peak at \(py),\(px)")
    }

    @Test("a flat image maps to a constant, a NaN pixel leaves the map finite, images of a batch are independent")
    func degenerate() throws {
        let shape = Shape(3, 32, 32)
        let flat = (0..<3).map { _ in [Double](repeating: 0.4, count: 32 * 32) }
        var poisoned = Self.surface(3, 32, 32, seed: 2)
        poisoned[1][100] = .nan
        let clean = Self.surface(3, 32, 32, seed: 3)
        let layer = AnomalyMap(shape)
        let y = Parallel.with(workers: 2) { layer.forward(Self.tensor([flat, poisoned, clean], shape), mode: .eval) }
        let offset = Float(-log1p(Double(layer.descriptors)))
        #expect(Self.mapPlane(y, 0).allSatisfy { abs($0 - offset) < 1e-5 })
        let poisonedMap = Self.mapPlane(y, 1)
        #expect(poisonedMap.allSatisfy { $0.isFinite })
        let alone = Self.mapPlane(AnomalyMap(shape).forward(Self.tensor([clean], shape), mode: .eval), 0)
        #expect(Self.mapPlane(y, 2) == alone)
    }

    @Test("spec: JSON round-trip, the first layer only, one more channel into the next layer; no ONNX form; int8 keeps it in front")
    func spec() throws {
        let spec = NetworkSpec(name: "am", input: Shape(3, 16, 16), layers: [
            .anomalyMap, .highPass(sigma: 2, keepInput: true), .conv(out: 4, kernel: 3, padding: 1), .batchNorm, .relu,
            .globalAvgMaxPool, .flatten, .linear(out: 2),
        ])
        let data = try JSONEncoder().encode(spec)
        #expect(String(decoding: data, as: UTF8.self).contains(#"{"type":"anomalymap"}"#))
        #expect(try JSONDecoder().decode(NetworkSpec.self, from: data) == spec)
        let extra = #"{"name":"x","input":{"channels":1,"height":8,"width":8},"layers":[{"type":"anomalymap","sigma":2}]}"#
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(NetworkSpec.self, from: Data(extra.utf8)) }
        let net = try Network(spec, seed: 1)
        #expect(net.parameterCount == 4 * 8 * 9 + 2 * 4 + 8 * 2 + 2)   // the conv sees 2 x (3 + 1) channels
        // no gradient is computed for the input of the fixed filters nor of the first conv; below the conv, as ever
        #expect(net.root.layers.prefix(3).allSatisfy { !$0.needsInputGradient } && net.root.layers[3].needsInputGradient)
        #expect(throws: NeuralError.invalidSpec("anomalymap at 0: 5 input channels; it describes images of 1...4 channels")) {
            try Network(NetworkSpec(name: "x", input: Shape(5, 8, 8), layers: [.anomalyMap]))
        }
        #expect(throws: NeuralError.self, "its working planes at 4096x4096 are over the activation limit") {
            try NetworkSpec(name: "x", input: Shape(3, 4096, 4096), layers: [.anomalyMap]).plan()
        }
        #expect(throws: NeuralError.invalidSpec("anomalymap at 1: it has no input gradient and may only be the network's first layer")) {
            try Network(NetworkSpec(name: "x", input: Shape(3, 8, 8), layers: [.highPass(sigma: 2), .anomalyMap]))
        }
        #expect(throws: NeuralError.self) {
            try Network(NetworkSpec(name: "x", input: Shape(3, 8, 8), layers: [.residual(body: [.anomalyMap, .conv(out: 4, kernel: 1)], shortcut: [.conv(out: 4, kernel: 1)])]))
        }
        // the compiled inference network agrees with the training one
        var rng = SeededGenerator(seed: 9)
        let x = randomTensor(batch: 3, spec.input, &rng)
        let want = net.forward(x, mode: .eval).array
        let got = InferenceNetwork(net).predict(x).array
        #expect(zip(want, got).allSatisfy { abs($0 - $1) < 1e-4 })
        let meta = ModelMetadata(spec: spec, classes: ["ok", "defect"], normalization: .init(mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25]),
                                 thresholds: [:], provenance: .init(created: "2026-12-06T00:00:00Z", dataHash: "sha256:0", parent: nil, metrics: [:]))
        #expect(throws: NeuralError.self) { try ONNXExport.encode(net, meta) }
        #expect(try QuantizedPlan(net).head.count == 2)
    }
}

@Suite("Flip averaging behind fixed filters")
struct FixedFilterFlipTests {
    /// The mean of `predict` over the four mirror images of `frame`.
    static func meanOfFlips(_ frame: [Float], _ s: Shape, _ predict: (UnsafePointer<Float>) -> [Float]) -> [Float] {
        var sum: [Float] = []
        for flip in Flip.allCases {
            var y = [Float](repeating: 0, count: frame.count)
            frame.withUnsafeBufferPointer { src in
                y.withUnsafeMutableBufferPointer { flip.copy(src.baseAddress!, to: $0.baseAddress!, channels: s.channels, height: s.height, width: s.width) }
            }
            let z = y.withUnsafeBufferPointer { predict($0.baseAddress!) }
            sum = sum.isEmpty ? z : zip(sum, z).map(+)
        }
        return sum.map { $0 / 4 }
    }

    @Test("the map and high-pass run once per frame and are mirrored: the same logits as the four mirror images run whole, fp32 and int8")
    func onceAndMirrored() throws {
        // not square, and asymmetric content, so a wrong mirror or a transposed plane shows
        let spec = NetworkSpec(name: "am", input: Shape(3, 24, 20), layers: [
            .anomalyMap, .highPass(sigma: 2, keepInput: true), .conv(out: 6, kernel: 3, padding: 1), .batchNorm, .relu,
            .conv(out: 6, kernel: 3, stride: 2, padding: 1), .batchNorm, .relu, .globalAvgMaxPool, .flatten, .linear(out: 3),
        ])
        let net = try Network(spec, seed: 3)
        #expect(net.root.layers.prefix(2).allSatisfy(\.commutesWithMirroring) && !net.root.layers[2].commutesWithMirroring)
        var rng = SeededGenerator(seed: 11)
        let frames = (0..<6).map { _ in randomTensor(batch: 1, spec.input, &rng).array }
        // a bright stain in one corner: the map and so the logits differ between mirror images
        var frame = frames[0]
        for c in 0..<3 { for y in 2..<6 { for x in 1..<5 { frame[c * 480 + y * 20 + x] += 3 } } }
        let infer = InferenceNetwork(net)
        let averaged = frame.withUnsafeBufferPointer { infer.predictFlipAveraged(sample: $0.baseAddress!) }
        let want = Self.meanOfFlips(frame, spec.input) { infer.predict(sample: $0) }
        let plain = frame.withUnsafeBufferPointer { infer.predict(sample: $0.baseAddress!) }
        #expect(zip(plain, want).contains { abs($0 - $1) > 1e-3 }, "the mirror images must disagree for this test to mean anything")
        #expect(zip(averaged, want).allSatisfy { abs($0 - $1) <= 1e-4 * max(1, abs($1)) }, "\(averaged) vs \(want)")
        // a second call reuses the buffers and gives the same
        #expect(frame.withUnsafeBufferPointer { infer.predictFlipAveraged(sample: $0.baseAddress!) } == averaged)

        let q = try Calibrator(method: .minmax).calibrate(net, frames: frames + [frame])
        let qn = try QuantizedNetwork(net, quantization: q)
        let q8 = frame.withUnsafeBufferPointer { qn.predictFlipAveraged(sample: $0.baseAddress!) }
        let q8want = Self.meanOfFlips(frame, spec.input) { qn.predict(sample: $0) }
        #expect(zip(q8, q8want).allSatisfy { abs($0 - $1) <= 1e-4 * max(1, abs($1)) }, "\(q8) vs \(q8want)")
    }
}
