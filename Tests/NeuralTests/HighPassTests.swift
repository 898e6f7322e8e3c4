import Foundation
import Testing
@testable import Neural

/// The high-pass input filter against its naive twin: a full 2-D Gaussian, mirrored at the
/// borders, computed in Double.
@Suite("High-pass input filter")
struct HighPassTests {
    static func naive(_ x: Tensor, sigma: Double, keepInput: Bool) -> [Float] {
        let (c, h, w) = (x.channels, x.height, x.width)
        let r = Int((3 * sigma).rounded(.up))
        func reflect(_ i: Int, _ n: Int) -> Int {
            guard n > 1 else { return 0 }
            var j = i
            while j < 0 || j >= n { j = j < 0 ? -j : 2 * (n - 1) - j }
            return j
        }
        var weights: [Double] = []
        for dy in -r...r { for dx in -r...r { weights.append(exp(-Double(dy * dy + dx * dx) / (2 * sigma * sigma))) } }
        let total = weights.reduce(0, +)
        var out: [Float] = []
        for b in 0..<x.batch {
            var hp: [Double] = []
            for ch in 0..<c {
                for y in 0..<h {
                    for xx in 0..<w {
                        var acc = 0.0, k = 0
                        for dy in -r...r {
                            for dx in -r...r {
                                acc += weights[k] * Double(x[((b * c + ch) * h + reflect(y + dy, h)) * w + reflect(xx + dx, w)])
                                k += 1
                            }
                        }
                        hp.append(Double(x[((b * c + ch) * h + y) * w + xx]) - acc / total)
                    }
                }
            }
            let rms = (hp.map { $0 * $0 }.reduce(0, +) / Double(hp.count)).squareRoot()
            out += hp.map { Float($0 / (rms + Double(HighPass.epsilon))) }
            if keepInput { out += (0..<(c * h * w)).map { x[b * c * h * w + $0] } }
        }
        return out
    }

    @Test("equals the naive 2-D filter: colour and gray, a blur wider than the image, the input kept",
          arguments: [(3, 20, 17, 2.0, false), (1, 9, 12, 6.0, true), (3, 5, 4, 1.0, true), (2, 1, 8, 1.5, false)])
    func naiveTwin(_ c: Int, _ h: Int, _ w: Int, _ sigma: Double, _ keep: Bool) throws {
        let net = try Network(NetworkSpec(name: "hp", input: Shape(c, h, w), layers: [.highPass(sigma: sigma, keepInput: keep)]))
        var rng = SeededGenerator(seed: 7)
        let x = randomTensor(batch: 3, Shape(c, h, w), &rng)
        for i in 0..<x.count where i % 5 == 0 { x[i] += 2 }   // a slow offset the filter must remove
        let y = net.forward(x, mode: .eval).array
        let want = Self.naive(x, sigma: sigma, keepInput: keep)
        #expect(y.count == want.count)
        let worst = zip(y, want).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst < 1e-4, "largest difference \(worst)")
    }

    @Test("a flat image gives zeros, and brightness and contrast do not change the output")
    func invariances() throws {
        let net = try Network(NetworkSpec(name: "hp", input: Shape(3, 16, 16), layers: [.highPass(sigma: 3)]))
        let flat = Tensor(Shape(3, 16, 16), batch: 1)
        for i in 0..<flat.count { flat[i] = 0.7 }
        #expect(net.forward(flat, mode: .eval).array.allSatisfy { abs($0) < 1e-6 })
        var rng = SeededGenerator(seed: 3)
        let x = randomTensor(batch: 1, Shape(3, 16, 16), &rng)
        let a = net.forward(x, mode: .eval).array
        for i in 0..<x.count { x[i] = x[i] * 3 + 1.5 }
        let b = net.forward(x, mode: .eval).array
        // the epsilon keeps a small dependence on contrast: at rms ~1 and 3 it is < 2 %
        let worst = zip(a, b).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst < 0.05 * (a.map(abs).max() ?? 1))
        #expect(a.map(abs).max() ?? 0 > 0.5)
    }

    @Test("spec JSON: sigma and keep_input round-trip; other keys and bad sigmas are refused")
    func json() throws {
        let spec = NetworkSpec(name: "hp", input: Shape(3, 8, 8), layers: [.highPass(sigma: 6, keepInput: true), .conv(out: 2, kernel: 3)])
        let data = try JSONEncoder().encode(spec)
        #expect(String(decoding: data, as: UTF8.self).contains(#""keep_input":true"#))
        #expect(try JSONDecoder().decode(NetworkSpec.self, from: data) == spec)
        let net = try Network(spec)
        #expect(net.parameterCount == 2 * 6 * 9)   // the conv sees 6 channels
        let extra = #"{"name":"x","input":{"channels":1,"height":8,"width":8},"layers":[{"type":"highpass","sigma":2,"radius":9}]}"#
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(NetworkSpec.self, from: Data(extra.utf8)) }
        let missing = #"{"name":"x","input":{"channels":1,"height":8,"width":8},"layers":[{"type":"highpass"}]}"#
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(NetworkSpec.self, from: Data(missing.utf8)) }
        #expect(throws: NeuralError.invalidSpec("highpass at 0: sigma 40.0 must lie in 0.5...32.0")) {
            try Network(NetworkSpec(name: "x", input: Shape(1, 8, 8), layers: [.highPass(sigma: 40)]))
        }
    }

    @Test("the compiled inference network gives the training network's outputs")
    func inference() throws {
        let spec = NetworkSpec(name: "hp", input: Shape(3, 24, 24), layers: [
            .highPass(sigma: 2, keepInput: true), .conv(out: 4, kernel: 3, padding: 1), .batchNorm, .relu,
            .globalAvgMaxPool, .flatten, .linear(out: 2),
        ])
        let net = try Network(spec, seed: 3)
        var rng = SeededGenerator(seed: 9)
        let x = randomTensor(batch: 4, spec.input, &rng)
        let want = net.forward(x, mode: .eval).array
        let inf = InferenceNetwork(net)
        let got = inf.predict(x).array
        #expect(zip(want, got).allSatisfy { abs($0 - $1) < 1e-4 })
    }
}
