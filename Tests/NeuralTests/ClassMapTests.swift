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
        let (logits, map) = fast.classMap(sample: x.data, toward: 1, against: 0)
        let m = try #require(map)
        expectClose(logits, net.forward(x, mode: .eval).array, tolerance: 1e-5, "logits of the mapping pass")
        let bias = net.namedParameters.last { $0.0.hasSuffix("bias") }!.1.value
        let mean = m.values.reduce(0, +) / Float(m.values.count)
        #expect(abs(mean - ((logits[1] - bias[1]) - (logits[0] - bias[0]))) < 1e-4 * max(1, abs(mean)))
        #expect(m.width > 1 && m.height > 1 && m.width <= spec.input.width)
        #expect(fast.classMap(sample: x.data, toward: 5, against: 0).map == nil, "a class the head does not have")
    }

    @Test("a defect-map classifier's class map is its defect map, so the peak is where the defect is")
    func defectMapPeak() throws {
        let spec = Zoo.defectMapClassifier(Zoo.defectMap(from: Zoo.smallResNet(input: Shape(1, 32, 32), classes: 2, depth: 8, width: 4)))
        let net = try Network(spec, seed: 5)
        let head = net.namedParameters.filter { $0.0.hasSuffix("weight") }.last!.1.value
        for (i, v) in Zoo.defectMapHead.weight.enumerated() { head[i] = v }
        let fast = InferenceNetwork(net)
        let mapNet = try Network(Zoo.defectMap(from: Zoo.smallResNet(input: Shape(1, 32, 32), classes: 2, depth: 8, width: 4)), seed: 5)
        var rng = SeededGenerator(seed: 3)
        let x = randomTensor(batch: 1, spec.input, &rng)
        let m = try #require(fast.classMap(sample: x.data, toward: 1, against: 0).map)
        expectClose(m.values, mapNet.forward(x, mode: .eval).array, tolerance: 1e-4, "the class map against the map network's output")
    }

    @Test("a head with a hidden layer has no class map")
    func noMapForDeepHead() throws {
        let spec = NetworkSpec(name: "mlp-head", input: Shape(1, 8, 8),
                               layers: [.conv(out: 4, kernel: 3, padding: 1), .relu, .globalAvgPool, .flatten, .linear(out: 6), .relu, .linear(out: 2)])
        let fast = InferenceNetwork(try Network(spec, seed: 1))
        var rng = SeededGenerator(seed: 1)
        let x = randomTensor(batch: 1, spec.input, &rng)
        let (logits, map) = fast.classMap(sample: x.data, toward: 1, against: 0)
        #expect(map == nil && logits.count == 2)
    }
}
