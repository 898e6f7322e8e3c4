import Foundation
import Testing
@testable import Neural

/// Forward, backward and optimizer steps against PyTorch 1.13 (fixtures from
/// scripts/make_fixtures.py). Tolerances, relative to the largest reference value:
/// forward 1e-5, gradients 1e-4, weights after two SGD steps 1e-5 and after two Adam
/// steps 5e-5 (Adam divides by sqrt(v): a near-zero gradient's float noise becomes a
/// visible fraction of its 1e-3 step). All float32.
@Suite("PyTorch golden fixtures")
struct GoldenTests {
    @Test("forward, backward, SGD and Adam match PyTorch",
          arguments: ["conv_bn_relu", "residual_block", "mixed_layers", "small_resnet", "highpass"])
    func network(_ name: String) throws {
        let (t, meta) = try fixture(name)
        let spec = try JSONDecoder().decode(NetworkSpec.self, from: Data(try #require(meta["spec"]).utf8))
        let net = try Network(spec)
        let names = Set(net.namedParameters.map(\.0))
        let expectedNames = Set(t.keys.filter { $0.hasPrefix("param.") }.map { String($0.dropFirst(6)) })
        #expect(names == expectedNames, "parameter names differ from PyTorch's")
        func load() throws {
            for (n, p) in net.namedParameters {
                let e = try #require(t["param." + n])
                #expect(e.shape == p.dims, "\(n): shape \(p.dims), PyTorch \(e.shape)")
                e.values.withUnsafeBufferPointer { p.value.data.update(from: $0.baseAddress!, count: p.value.count) }
            }
        }
        try load()
        let x = tensor(try #require(t["input"]))
        let y = net.forward(x, mode: .train)
        expectClose(y.array, try #require(t["output"]).values, tolerance: 1e-5, "\(name) output")

        let dy = Tensor(y.shape, batch: y.batch)
        if let r = t["grad_output"] {
            r.values.withUnsafeBufferPointer { dy.data.update(from: $0.baseAddress!, count: dy.count) }
        } else {
            let labels = try #require(t["labels"]).values.map { Int32($0) }
            let loss = SoftmaxCrossEntropy(classWeights: try #require(t["class_weights"]).values, labelSmoothing: 0.1)
            let value = loss(y, labels, grad: dy)
            expectClose([value], try #require(t["loss"]).values, tolerance: 1e-5, "\(name) loss")
        }
        net.zeroGradients()
        let dx = try #require(net.backward(dy, inputGradient: true))
        expectClose(dx.array, try #require(t["grad_input"]).values, tolerance: 1e-4, "\(name) input gradient")
        for (n, p) in net.namedParameters {
            expectClose(p.grad.array, try #require(t["grad." + n]).values, tolerance: 1e-4, "\(name) grad \(n)")
        }
        for (n, b) in net.namedBuffers {
            expectClose(b.array, try #require(t["buffer." + n]).values, tolerance: 1e-5, "\(name) buffer \(n)")
        }

        let optimizers: [(String, Optimizer, Float)] = [
            ("sgd", SGD(learningRate: 0.1, momentum: 0.9, nesterov: true, weightDecay: .init(1e-3)), 1e-5),
            ("adam", Adam(learningRate: 1e-3, weightDecay: .init(1e-2)), 5e-5),
        ]
        for (label, opt, tol) in optimizers {
            try load()
            opt.step(net.namedParameters)
            opt.step(net.namedParameters)
            for (n, p) in net.namedParameters {
                expectClose(p.value.array, try #require(t["\(label).\(n)"]).values, tolerance: tol, "\(name) \(label) \(n)")
            }
        }
    }

    @Test("the small ResNet spec in the zoo is the one PyTorch was given")
    func zooMatchesFixture() throws {
        let (_, meta) = try fixture("small_resnet")
        let spec = try JSONDecoder().decode(NetworkSpec.self, from: Data(try #require(meta["spec"]).utf8))
        #expect(spec.layers == Zoo.smallResNet(input: Shape(1, 12, 12), classes: 5, depth: 8, width: 8).layers)
    }

    @Test("losses match PyTorch: cross-entropy, BCE with pos_weight, focal")
    func losses() throws {
        let (t, _) = try fixture("losses")
        let logits = tensor(try #require(t["logits"]))
        let labels = try #require(t["labels"]).values.map { Int32($0) }
        let grad = Tensor(logits.shape, batch: logits.batch)

        let ce = SoftmaxCrossEntropy(classWeights: try #require(t["class_weights"]).values, labelSmoothing: 0.2)
        expectClose([ce(logits, labels, grad: grad)], try #require(t["ce.loss"]).values, tolerance: 1e-6, "CE loss")
        expectClose(grad.array, try #require(t["ce.grad"]).values, tolerance: 1e-6, "CE grad")

        let bce = SigmoidBinaryCrossEntropy(positiveWeights: try #require(t["bce.pos_weight"]).values)
        let value = bce(logits, try #require(t["bce.targets"]).values, grad: grad)
        expectClose([value], try #require(t["bce.loss"]).values, tolerance: 1e-6, "BCE loss")
        expectClose(grad.array, try #require(t["bce.grad"]).values, tolerance: 1e-6, "BCE grad")

        let focal = FocalLoss(gamma: 2, alpha: try #require(t["focal.alpha"]).values)
        expectClose([focal(logits, labels, grad: grad)], try #require(t["focal.loss"]).values, tolerance: 1e-6, "focal loss")
        expectClose(grad.array, try #require(t["focal.grad"]).values, tolerance: 1e-5, "focal grad")
    }
}
