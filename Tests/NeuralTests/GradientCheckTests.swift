import Testing
@testable import Neural

/// Central-difference gradient checks for every layer kind and loss. The engine computes
/// in Float32; the checks evaluate the loss L = sum(y * r) in Double and compare
/// (L(v+h) - L(v-h)) / 2h with the analytic gradient for sampled inputs and every
/// parameter tensor: |analytic - numeric| <= 1e-2 * max(|a|, |n|) + 2e-3, with h = 1e-2
/// (2e-3 for the whole light net, whose few outputs keep float noise low).
struct GradientCheck {
    let layers: [LayerSpec]
    let input: Shape
    var batch = 3
    var mode: Mode = .train
    var seed: UInt64 = 5
    var samples = 20
    /// Input values this close to a kink (ReLU at 0, ReLU6 at 0 and 6) are moved away,
    /// so central differences do not straddle it.
    var kinks: [Float] = []
    var inputScale: Float = 1
    var h: Float = 1e-2

    func run(sourceLocation: SourceLocation = #_sourceLocation) throws {
        let net = try Network(NetworkSpec(name: "check", input: input, layers: layers), seed: seed)
        var rng = SeededGenerator(seed: seed &+ 1)
        let x = randomTensor(batch: batch, input, &rng, scale: inputScale)
        for i in 0..<x.count {
            for k in kinks where abs(x[i] - k) < 0.05 { x[i] = k + (x[i] >= k ? 0.05 : -0.05) }
        }
        for (name, t) in net.namedBuffers where name.hasSuffix("running_var") {
            for i in 0..<t.count { t[i] = rng.uniform(0.5, 2) }
        }
        for (name, p) in net.namedParameters where name.hasSuffix("bias") || p.isNormOrBias {
            for i in 0..<p.value.count { p.value[i] += rng.uniform(-0.3, 0.3) }
        }
        let y0 = net.forward(x, mode: mode)
        let r = randomTensor(batch: batch, y0.shape, &rng)
        func loss() -> Double {
            let y = net.forward(x, mode: mode)
            var s = 0.0
            for i in 0..<y.count { s += Double(y[i]) * Double(r[i]) }
            return s
        }
        net.zeroGradients()
        _ = net.forward(x, mode: mode)
        let dx = try #require(net.backward(r, inputGradient: true)).array
        let grads = net.parameters.map { $0.grad.array }

        func check(_ t: Tensor, _ analytic: [Float], _ what: String) {
            var pick = SeededGenerator(seed: seed &+ 99)
            let indices = t.count <= samples ? Array(0..<t.count) : (0..<samples).map { _ in pick.below(t.count) }
            for i in indices {
                let v = t[i]
                t[i] = v + h; let lp = loss()
                t[i] = v - h; let lm = loss()
                t[i] = v
                let numeric = (lp - lm) / (2 * Double(h)), a = Double(analytic[i])
                let ok = abs(a - numeric) <= 1e-2 * max(abs(a), abs(numeric)) + 2e-3
                #expect(ok, "\(what)[\(i)]: analytic \(a), numeric \(numeric)", sourceLocation: sourceLocation)
            }
        }
        check(x, dx, "input")
        for ((name, p), g) in zip(net.namedParameters, grads) { check(p.value, g, name) }
    }
}

@Suite("Gradient checks")
struct GradientCheckTests {
    @Test("Conv2d, any kernel/stride/padding/groups",
          arguments: [(3, 1, 1, 1), (3, 2, 0, 1), (5, 2, 2, 1), (1, 1, 0, 1), (1, 2, 0, 1), (3, 1, 1, 2), (2, 3, 1, 1), (4, 2, 1, 3)])
    func conv(_ k: Int, _ s: Int, _ p: Int, _ groups: Int) throws {
        try GradientCheck(layers: [.conv(out: 6, kernel: k, stride: s, padding: p, groups: groups, bias: true)],
                          input: Shape(6, 7, 9)).run()
    }

    @Test("depthwise conv", arguments: [(3, 1, 1), (3, 2, 1), (5, 2, 2), (2, 1, 0)])
    func depthwise(_ k: Int, _ s: Int, _ p: Int) throws {
        try GradientCheck(layers: [.depthwise(kernel: k, stride: s, padding: p, bias: true)], input: Shape(5, 9, 8)).run()
    }

    @Test("batch norm, train and eval")
    func batchNorm() throws {
        try GradientCheck(layers: [.batchNorm], input: Shape(4, 5, 3), batch: 4).run()
        try GradientCheck(layers: [.batchNorm], input: Shape(4, 5, 3), mode: .eval).run()
    }

    @Test("activations", arguments: ActivationKind.allCases)
    func activation(_ kind: ActivationKind) throws {
        // inputs scaled to +-8 so ReLU6's upper clamp is exercised too
        try GradientCheck(layers: [.activation(kind)], input: Shape(3, 5, 5), kinks: [0, 6], inputScale: 4).run()
    }

    @Test("pooling", arguments: [LayerSpec.maxPool(kernel: 3, stride: 2, padding: 1), .maxPool(kernel: 2, stride: 2),
                                 .avgPool(kernel: 3, stride: 2, padding: 1), .avgPool(kernel: 2, stride: 1), .globalAvgPool, .globalAvgMaxPool, .globalAvgPeakPool])
    func pooling(_ spec: LayerSpec) throws {
        try GradientCheck(layers: [spec], input: Shape(3, 7, 6)).run()
    }

    @Test("high-pass input filter: alone, with the input kept, and a blur wider than the image",
          arguments: [LayerSpec.highPass(sigma: 1), .highPass(sigma: 1.5, keepInput: true), .highPass(sigma: 4)])
    func highPass(_ spec: LayerSpec) throws {
        try GradientCheck(layers: [spec], input: Shape(2, 6, 7)).run()
    }

    @Test("linear with and without bias, after flatten")
    func linear() throws {
        try GradientCheck(layers: [.flatten, .linear(out: 5)], input: Shape(3, 4, 3)).run()
        try GradientCheck(layers: [.linear(out: 4, bias: false)], input: Shape(7)).run()
    }

    /// Composite checks swap ReLU/ReLU6 for the smooth SiLU: a weight nudge moves every
    /// pre-activation at once, and some always straddle a kink. (The exact ReLU
    /// compositions are checked against PyTorch in the golden tests.)
    static func smooth(_ layers: [LayerSpec]) -> [LayerSpec] {
        layers.compactMap { spec in
            switch spec {
            case .activation: return .silu
            case .dropout: return nil
            case let .residual(body, shortcut): return .residual(body: smooth(body), shortcut: smooth(shortcut))
            default: return spec
            }
        }
    }

    @Test("residual blocks: identity and projection shortcuts")
    func residual() throws {
        try GradientCheck(layers: Self.smooth(Zoo.basicBlock(in: 4, out: 4, stride: 1)), input: Shape(4, 6, 5), batch: 2).run()
        try GradientCheck(layers: Self.smooth(Zoo.basicBlock(in: 3, out: 5, stride: 2)), input: Shape(3, 7, 7), batch: 2).run()
    }

    @Test("a whole small network: light net")
    func lightNet() throws {
        // batch 4 at 16 px: batch norm never normalizes fewer than 16 values, whose
        // curvature would swamp the central differences
        try GradientCheck(layers: Self.smooth(Zoo.lightNet(input: Shape(2, 16, 16), classes: 3, width: 4).layers),
                          input: Shape(2, 16, 16), batch: 4, samples: 8, h: 2e-3).run()
    }

    @Test("losses: cross-entropy (weights, smoothing), BCE (pos weights), focal")
    func losses() throws {
        var rng = SeededGenerator(seed: 3)
        let logits = randomTensor(batch: 5, Shape(4), &rng, scale: 2)
        let labels: [Int32] = [0, 3, 1, 1, 2]
        let targets = (0..<20).map { _ in Float(rng.below(2)) }
        let losses: [(String, (Tensor?) -> Float)] = [
            ("ce", { SoftmaxCrossEntropy(classWeights: [1, 2, 0.5, 1.5], labelSmoothing: 0.1)(logits, labels, grad: $0) }),
            ("bce", { SigmoidBinaryCrossEntropy(positiveWeights: [1, 3, 0.5, 2])(logits, targets, grad: $0) }),
            ("focal", { FocalLoss(gamma: 2, alpha: [0.25, 1, 1, 0.5])(logits, labels, grad: $0) }),
            ("focal0", { FocalLoss(gamma: 0)(logits, labels, grad: $0) }),
        ]
        // the defect map: 5 images of a 2x2 grid; good with known cells, a painted defect, real defects (cells unknown)
        let cells: [[Float]?] = [[0, 0, 0, 0], [0, 1, 0, 0], nil, [0, 0, 0, 0], nil]
        let mapLogits = randomTensor(batch: 5, Shape(1, 2, 2), &rng, scale: 2)
        let mapLabels: [Int32] = [0, 1, 1, 0, 1]
        for w: Float in [0, 1, 3] {
            let loss = DefectMapLoss(cellWeight: w)
            let g = Tensor(mapLogits.shape, batch: 5)
            _ = loss(mapLogits, labels: mapLabels, cells: cells, grad: g)
            for i in 0..<mapLogits.count {
                let v = mapLogits[i], h: Float = 1e-3
                mapLogits[i] = v + h; let lp = Double(loss(mapLogits, labels: mapLabels, cells: cells, grad: nil))
                mapLogits[i] = v - h; let lm = Double(loss(mapLogits, labels: mapLabels, cells: cells, grad: nil))
                mapLogits[i] = v
                let numeric = (lp - lm) / (2 * Double(h))
                #expect(abs(Double(g[i]) - numeric) <= 1e-2 * abs(numeric) + 2e-4, "defect map (cell weight \(w))[\(i)]: \(g[i]) vs \(numeric)")
            }
            // a real defect learns only through its strongest cell
            let real = (8..<12).filter { g[$0] != 0 }
            #expect(real.count == 1, "image 2 (cells unknown) has one cell with a gradient: \(real)")
        }
        // by hand: one good image, one cell, logit 0: log 2 for the image term plus log 2 for the cell term
        let one = Tensor(Shape(1, 1, 1), batch: 1)
        #expect(abs(DefectMapLoss(cellWeight: 1)(one, labels: [0], cells: [[0]], grad: nil) - 2 * Float(0.6931471805599453)) < 1e-6)
        for (name, f) in losses {
            let g = Tensor(logits.shape, batch: 5)
            _ = f(g)
            for i in 0..<logits.count {
                let v = logits[i], h: Float = 1e-3
                logits[i] = v + h; let lp = Double(f(nil))
                logits[i] = v - h; let lm = Double(f(nil))
                logits[i] = v
                let numeric = (lp - lm) / (2 * Double(h))
                #expect(abs(Double(g[i]) - numeric) <= 1e-2 * abs(numeric) + 2e-4, "\(name)[\(i)]: \(g[i]) vs \(numeric)")
            }
        }
    }

    @Test("dropout: eval is the identity, train zeroes about p and backward uses the same mask")
    func dropout() throws {
        let net = try Network(NetworkSpec(name: "d", input: Shape(1000), layers: [.dropout(0.3)]), seed: 1)
        var rng = SeededGenerator(seed: 2)
        let x = randomTensor(batch: 2, Shape(1000), &rng)
        #expect(net.forward(x, mode: .eval).array == x.array)
        let y = net.forward(x, mode: .train).array
        let zeros = y.filter { $0 == 0 }.count
        #expect(zeros > 500 && zeros < 700, "dropped \(zeros) of 2000")
        let ones = Tensor(x.shape, batch: 2)
        ones.fill(1)
        let dx = try #require(net.backward(ones, inputGradient: true)).array
        for i in 0..<2000 {
            #expect(abs(dx[i] * x[i] - y[i]) < 1e-5)
        }
    }
}
