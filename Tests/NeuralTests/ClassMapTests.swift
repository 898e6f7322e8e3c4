import Testing
@testable import Neural

@Suite("Class activation maps")
struct ClassMapTests {
    @Test("with a mean-pooled head, the map's mean is the logit difference less the biases'", arguments: [
        Zoo.smallResNet(input: Shape(3, 24, 24), classes: 3, depth: 8, width: 6),
        Zoo.lightNet(input: Shape(3, 48, 48), classes: 2, width: 4),
    ])
    func meanIsLogitDifference(_ spec: NetworkSpec) throws {
        let net = try Network(spec, seed: 2)
        var rng = SeededGenerator(seed: 11)
        for (name, p) in net.namedParameters where name.hasSuffix("bias") {
            for i in 0..<p.value.count { p.value[i] = rng.uniform(-0.5, 0.5) }
        }
        let fast = InferenceNetwork(net)
        let x = randomTensor(batch: 1, spec.input, &rng)
        let (logits, activations) = fast.classActivations(sample: x.data)
        let m = try #require(activations?.map(toward: 1, against: 0))
        expectClose(logits, net.forward(x, mode: .eval).array, tolerance: 1e-5, "logits of the mapping pass")
        let bias = net.namedParameters.last { $0.0.hasSuffix("bias") }!.1.value
        let mean = m.values.reduce(0, +) / Float(m.values.count)
        #expect(abs(mean - ((logits[1] - bias[1]) - (logits[0] - bias[0]))) < 1e-4 * max(1, abs(mean)))
        #expect(m.width > 1 && m.height > 1 && m.width <= spec.input.width)
        #expect(activations?.map(toward: 5, against: 0) == nil, "a class the head does not have")
        // a class's own map (one kind of a multilabel head): its mean is that logit less its bias
        let own = try #require(activations?.map(toward: 1, against: nil))
        let ownMean = own.values.reduce(0, +) / Float(own.values.count)
        #expect(abs(ownMean - (logits[1] - bias[1])) < 1e-4 * max(1, abs(ownMean)))
        #expect(activations?.map(toward: 5, against: nil) == nil)
    }

    /// The features the head reads: the network without its pooling, flatten and linear
    /// layers, from the same seed (the head's weights are drawn last).
    static func features(_ spec: NetworkSpec, seed: UInt64, _ x: Tensor) throws -> (values: [Float], channels: Int, plane: Int) {
        let body = try Network(NetworkSpec(name: spec.name + "-body", input: spec.input, layers: Array(spec.layers.dropLast(3))), seed: seed)
        let f = body.forward(x, mode: .eval)
        return (f.array, f.channels, f.plane)
    }

    @Test("mean and max pooled: the means' weights (the first C inputs) read every cell, each maximum's (the next C) only the cell it came from")
    func meanMaxLayout() throws {
        let spec = Zoo.smallResNet(input: Shape(1, 20, 20), classes: 2, depth: 8, width: 4, stemPool: false, globalPool: .avgmax)
        var rng = SeededGenerator(seed: 7)
        let x = randomTensor(batch: 1, spec.input, &rng)
        let (f, c, plane) = try Self.features(spec, seed: 4, x)
        for half in 0..<2 {
            let net = try Network(spec, seed: 4)
            let w = net.namedParameters.filter { $0.0.hasSuffix("weight") }.last!.1.value  // [2, 2C]
            var d = [Float](repeating: 0, count: c)
            for k in 0..<(2 * c) {
                for o in 0..<2 { w[o * 2 * c + k] = k / c == half ? rng.uniform(-1, 1) : 0 }
                if k / c == half { d[k % c] = w[2 * c + k] - w[k] }
            }
            let (logits, activations) = InferenceNetwork(net).classActivations(sample: x.data)
            let m = try #require(activations?.map(toward: 1, against: 0))
            var expected = [Float](repeating: 0, count: plane)
            for k in 0..<c {
                let ch = Array(f[(k * plane)..<((k + 1) * plane)]), top = ch.indices.max { ch[$0] < ch[$1] }!
                for j in 0..<plane where half == 0 || j == top { expected[j] += d[k] * ch[j] * (half == 0 ? 1 : Float(plane)) }
            }
            expectClose(m.values, expected, tolerance: 1e-4, half == 0 ? "the means' weights" : "the maxima's weights")
            // either way the cells add up to the logit difference (the biases are 0 here)
            let bias = net.namedParameters.last { $0.0.hasSuffix("bias") }!.1.value
            let mean = m.values.reduce(0, +) / Float(plane)
            #expect(abs(mean - ((logits[1] - bias[1]) - (logits[0] - bias[0]))) < 1e-4 * max(1, abs(mean)))
            if half == 1 { #expect(m.values.filter { $0 != 0 }.count <= c, "only the maxima's cells") }
        }
    }

    @Test("mean and peak pooled: the peak's standard score goes to the cell it came from, so the map is highest where the peak is")
    func peakScores() throws {
        let spec = Zoo.smallResNet(input: Shape(1, 20, 20), classes: 2, depth: 8, width: 4, stemPool: false, globalPool: .peak)
        var rng = SeededGenerator(seed: 9)
        let x = randomTensor(batch: 1, spec.input, &rng)
        let (f, c, plane) = try Self.features(spec, seed: 5, x)
        let net = try Network(spec, seed: 5)
        let w = net.namedParameters.filter { $0.0.hasSuffix("weight") }.last!.1.value
        for i in 0..<w.count { w[i] = 0 }
        w[2 * c + c] = 1  // class 1 reads channel 0's peak score only
        let m = try #require(InferenceNetwork(net).classActivations(sample: x.data).activations?.map(toward: 1, against: 0))
        let ch = Array(f[0..<plane]), mean = ch.reduce(0, +) / Float(plane)
        let s = (ch.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(plane) + GlobalAvgPeakPool.epsilon).squareRoot()
        let top = ch.indices.max { ch[$0] < ch[$1] }!
        expectClose(m.values, ch.indices.map { $0 == top ? Float(plane) * (ch[top] - mean) / s : 0 }, tolerance: 1e-3, "channel 0's peak score at its cell")
        #expect(m.values.indices.max { m.values[$0] < m.values[$1] } == top)
    }

    @Test("a defect-map classifier's class map is its defect map")
    func defectMapIsTheMap() throws {
        let spec = Zoo.defectMapClassifier(Zoo.defectMap(from: Zoo.smallResNet(input: Shape(1, 32, 32), classes: 2, depth: 8, width: 4)))
        let net = try Network(spec, seed: 5)
        let head = net.namedParameters.filter { $0.0.hasSuffix("weight") }.last!.1.value
        for (i, v) in Zoo.defectMapHead.weight.enumerated() { head[i] = v }
        let mapNet = try Network(Zoo.defectMap(from: Zoo.smallResNet(input: Shape(1, 32, 32), classes: 2, depth: 8, width: 4)), seed: 5)
        var rng = SeededGenerator(seed: 3)
        let x = randomTensor(batch: 1, spec.input, &rng)
        let m = try #require(InferenceNetwork(net).classActivations(sample: x.data).activations?.map(toward: 1, against: 0))
        expectClose(m.values, mapNet.forward(x, mode: .eval).array, tolerance: 1e-4, "the class map against the map network's output")
    }

    @Test("a head with a hidden layer has no class map")
    func noMapForDeepHead() throws {
        let spec = NetworkSpec(name: "mlp-head", input: Shape(1, 8, 8),
                               layers: [.conv(out: 4, kernel: 3, padding: 1), .relu, .globalAvgPool, .flatten, .linear(out: 6), .relu, .linear(out: 2)])
        let fast = InferenceNetwork(try Network(spec, seed: 1))
        var rng = SeededGenerator(seed: 1)
        let x = randomTensor(batch: 1, spec.input, &rng)
        let (logits, activations) = fast.classActivations(sample: x.data)
        #expect(activations == nil && logits.count == 2)
    }
}
