import Testing
@testable import Neural

@Suite("Channel pruning")
struct PruningTests {
    /// A network with random weights and statistics, whose weakest inner channels (by the
    /// criterion) are made dead: their batch norm gives 0 (`bn`), or their filter and batch-norm
    /// shift are 0 (`l1`), so ReLU passes 0 and the second conv never sees them.
    static func network(_ spec: NetworkSpec, dead fraction: Double, criterion: ChannelPruning.Criterion) throws -> Network {
        let net = try Network(spec, seed: 3)
        var rng = SeededGenerator(seed: 11)
        for (name, t) in net.namedBuffers { for i in 0..<t.count { t[i] = name.hasSuffix("var") ? rng.uniform(0.5, 2) : rng.uniform(-0.5, 0.5) } }
        for (name, p) in net.namedParameters where p.isNormOrBias {
            for i in 0..<p.value.count { p.value[i] = name.hasSuffix("weight") ? rng.uniform(0.5, 1.5) : rng.uniform(-0.3, 0.3) }
        }
        let params = Dictionary(uniqueKeysWithValues: net.namedParameters.map { ($0.0, $0.1.value) })
        for (i, layer) in spec.layers.enumerated() {
            guard case let .residual(body, _) = layer, case let .conv(inner, _, _, _, _, _) = body[0] else { continue }
            let dead = Int(Double(inner) * fraction)
            // the dead channels spread over the block, not the first ones
            for j in 0..<dead {
                let o = (j * 7 + 3) % inner
                let gamma = params["\(i).body.1.weight"]!, beta = params["\(i).body.1.bias"]!
                if criterion == .bn { gamma[o] = 0 }
                if criterion == .l1 {
                    let w = params["\(i).body.0.weight"]!, per = w.count / inner
                    for k in 0..<per { w[o * per + k] = 0 }
                }
                beta[o] = 0
                gamma[o] = criterion == .bn ? 0 : gamma[o]
            }
            // (l1: a zero filter gives a zero conv output, batch norm maps it to
            // gamma * (0 - mean) / std + 0; zero the running mean so that it is 0)
            if criterion == .l1, let mean = net.namedBuffers.first(where: { $0.0 == "\(i).body.1.running_mean" })?.1 {
                for j in 0..<dead { mean[(j * 7 + 3) % inner] = 0 }
            }
        }
        return net
    }

    @Test("removing channels that are dead leaves the logits as they were, with fewer multiply-adds", arguments: ChannelPruning.Criterion.allCases)
    func deadChannelsGoFirst(_ criterion: ChannelPruning.Criterion) throws {
        let spec = Zoo.smallResNet(input: Shape(3, 24, 24), classes: 3, depth: 8, width: 32)
        let net = try Self.network(spec, dead: 0.5, criterion: criterion)
        let result = try ChannelPruning.prune(net, ratio: 0.5, criterion: criterion, multiple: 8)
        #expect(result.blocks.map(\.before) == [32, 64, 128] && result.blocks.map(\.after) == [16, 32, 64])
        var rng = SeededGenerator(seed: 5)
        let x = randomTensor(batch: 3, spec.input, &rng)
        let before = net.forward(x, mode: .eval).array
        let after = result.network.forward(x, mode: .eval).array
        expectClose(after, before, tolerance: 1e-4, "\(criterion): pruned logits")
        let macs = (try spec.plan().multiplyAdds, try result.network.spec.plan().multiplyAdds)
        #expect(Double(macs.1) < 0.6 * Double(macs.0), "multiply-adds \(macs.0) -> \(macs.1)")
        #expect(result.network.parameterCount < net.parameterCount)
        // the inference form (blocked kernels) gives the same logits as the training form
        let inference = InferenceNetwork(result.network)
        expectClose(inference.predict(x).array, after, tolerance: 1e-4, "\(criterion): inference form")

    }

    @Test("the kept count is a whole multiple; blocks too narrow to lose one keep all; ResNet18's blocks each halve")
    func counts() throws {
        let small = try Network(Zoo.smallResNet(input: Shape(1, 28, 28), classes: 2, depth: 8, width: 16))
        let r = try ChannelPruning.prune(small, ratio: 0.5, criterion: .bn, multiple: 16)
        #expect(r.blocks == [.init(path: "5", before: 32, after: 16), .init(path: "7", before: 64, after: 32)], "\(r.blocks)")
        let r18 = try Network(Zoo.resnet18(input: Shape(3, 64, 64), classes: 2))
        let p = try ChannelPruning.prune(r18, ratio: 0.5, criterion: .l1)
        #expect(p.blocks.count == 8 && p.blocks.allSatisfy { $0.after * 2 == $0.before })
        let macs = (try r18.spec.plan().multiplyAdds, try p.network.spec.plan().multiplyAdds)
        #expect(Double(macs.1) < 0.6 * Double(macs.0), "ResNet18 multiply-adds \(macs.0) -> \(macs.1)")
    }

    @Test("inner widths of 8 (half a block of 16) stay in the channel-blocked segment, with the training form's logits")
    func halfBlocks() throws {
        let spec = Zoo.smallResNet(input: Shape(3, 24, 24), classes: 3, depth: 8, width: 16)
        let net = try Self.network(spec, dead: 0.5, criterion: .bn)
        let result = try ChannelPruning.prune(net, ratio: 0.5, criterion: .bn, multiple: 8)
        #expect(result.blocks.map(\.after) == [8, 16, 32])
        var rng = SeededGenerator(seed: 6)
        let x = randomTensor(batch: 2, spec.input, &rng)
        let inference = InferenceNetwork(result.network)
        expectClose(inference.predict(x).array, result.network.forward(x, mode: .eval).array, tolerance: 1e-4, "half blocks")
        let layers = inference.profile(Tensor(spec.input, batch: 1)).map(\.0)
        #expect(layers.contains { $0.contains("channel-blocked 9 convs") }, "\(layers)")
    }

    @Test("a NaN batch-norm scale ranks its channel last")
    func nanRanksLast() throws {
        let spec = Zoo.smallResNet(input: Shape(1, 16, 16), classes: 2, depth: 8, width: 16)
        let net = try Network(spec, seed: 2)
        let params = Dictionary(uniqueKeysWithValues: net.namedParameters.map { ($0.0, $0.1.value) })
        let gamma = try #require(params["5.body.1.weight"])  // the second block's 32 inner channels
        for i in 0..<32 { gamma[i] = Float(i + 1) }
        gamma[31] = .nan
        gamma[0] = 100
        let r = try ChannelPruning.prune(net, ratio: 0.5, criterion: .bn, multiple: 16)
        let pruned = Dictionary(uniqueKeysWithValues: r.network.namedParameters.map { ($0.0, $0.1.value) })
        // kept: channel 0 (100) and 16...30 (the largest finite ones), in order; 31 (NaN) gone
        #expect(try #require(pruned["5.body.1.weight"]).array == [100] + (17...31).map(Float.init))
    }

    @Test("a ratio outside (0, 1) and a network without residual blocks are refused with the reason")
    func refusals() throws {
        let small = try Network(Zoo.smallResNet(input: Shape(1, 28, 28), classes: 2))
        for ratio in [0, 1, -0.5, .nan, .infinity] as [Double] {
            #expect(throws: NeuralError.self) { try ChannelPruning.prune(small, ratio: ratio, criterion: .bn) }
        }
        let light = try Network(Zoo.lightNet(input: Shape(3, 32, 32), classes: 2, width: 8))
        #expect(throws: NeuralError.self) { try ChannelPruning.prune(light, ratio: 0.5, criterion: .bn) }
    }
}
