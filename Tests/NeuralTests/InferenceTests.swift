import Testing
@testable import Neural

@Suite("Inference path")
struct InferenceTests {
    @Test("folded and fused network == the training network in eval mode", arguments: [
        Zoo.smallResNet(input: Shape(1, 20, 20), classes: 4, depth: 10, width: 6),
        Zoo.lightNet(input: Shape(3, 50, 50), classes: 3, width: 4),
        Zoo.resnet18(input: Shape(3, 32, 32), classes: 5),
        Zoo.smallResNet(input: Shape(1, 13, 11), classes: 3, depth: 8, width: 16),
    ])
    func equivalence(_ spec: NetworkSpec) throws {
        let net = try Network(spec, seed: 4)
        var rng = SeededGenerator(seed: 8)
        for (name, t) in net.namedBuffers {
            for i in 0..<t.count { t[i] = name.hasSuffix("var") ? rng.uniform(0.5, 2) : rng.uniform(-0.5, 0.5) }
        }
        for (name, p) in net.namedParameters where p.isNormOrBias {
            for i in 0..<p.value.count { p.value[i] = name.hasSuffix("weight") ? rng.uniform(0.5, 1.5) : rng.uniform(-0.3, 0.3) }
        }
        let fast = InferenceNetwork(net), separate = compiled(net, ConvKernelOptions(blocked: false, fuseResiduals: false))
        let winograd = compiled(net, ConvKernelOptions(direct: false)), gemmOnly = compiled(net, ConvKernelOptions(winograd: false, direct: false))
        for batch in [1, 5] {
            let x = randomTensor(batch: batch, spec.input, &rng)
            let expected = net.forward(x, mode: .eval).array
            expectClose(fast.predict(x).array, expected, tolerance: 1e-5, "\(spec.name) batch \(batch)")
            expectClose(separate.predict(x).array, expected, tolerance: 1e-5, "\(spec.name) batch \(batch), direct, residual sums apart")
            expectClose(winograd.predict(x).array, expected, tolerance: 1e-5, "\(spec.name) batch \(batch), Winograd")
            expectClose(gemmOnly.predict(x).array, expected, tolerance: 1e-5, "\(spec.name) batch \(batch), GEMM only")
        }
        let x = randomTensor(batch: 1, spec.input, &rng)
        expectClose(fast.predict(sample: x.data), net.forward(x, mode: .eval).array, tolerance: 1e-5, "\(spec.name) sample")
    }

    @Test("the four flips mirror each plane; flip averaging is the mean of four single predictions")
    func flipAveraging() throws {
        let src: [Float] = (0..<24).map(Float.init)   // 2 channels of 3 x 4
        var out = [Float](repeating: -1, count: 24)
        func flipped(_ f: Flip) -> [Float] {
            src.withUnsafeBufferPointer { s in out.withUnsafeMutableBufferPointer { f.copy(s.baseAddress!, to: $0.baseAddress!, channels: 2, height: 3, width: 4) } }
            return out
        }
        #expect(flipped(.none) == src)
        #expect(Array(flipped(.horizontal)[0..<8]) == [3, 2, 1, 0, 7, 6, 5, 4] && flipped(.horizontal)[12] == 15)
        #expect(Array(flipped(.vertical)[0..<4]) == [8, 9, 10, 11] && Array(flipped(.vertical)[12..<16]) == [20, 21, 22, 23])
        #expect(flipped(.both) == ((0..<12).reversed() + (12..<24).reversed()).map(Float.init), "both: each plane turned half a circle")
        let spec = Zoo.smallResNet(input: Shape(1, 12, 16), classes: 2, depth: 8, width: 4)
        let net = try Network(spec, seed: 3), fast = InferenceNetwork(net)
        var rng = SeededGenerator(seed: 5)
        let x = randomTensor(batch: 1, spec.input, &rng)
        var mean = [Float](repeating: 0, count: 2)
        for f in Flip.allCases {
            let y = Tensor(spec.input, batch: 1)
            f.copy(x.data, to: y.data, channels: 1, height: 12, width: 16)
            for (j, v) in net.forward(y, mode: .eval).array.enumerated() { mean[j] += v / 4 }
        }
        expectClose(fast.predictFlipAveraged(sample: x.data), mean, tolerance: 1e-5, "flip-averaged logits")
        #expect(abs(fast.predict(sample: x.data)[0] - mean[0]) > 1e-6, "an asymmetric input scores differently in one pass")
    }

    @Test("folding removes every batch norm and dropout")
    func structure() throws {
        let net = try Network(Zoo.lightNet(input: Shape(1, 32, 32), classes: 2), seed: 1)
        let fast = InferenceNetwork(net)
        let mirror = Mirror(reflecting: fast)
        let root = try #require(mirror.children.first { $0.label == "root" }?.value as? Sequential)
        #expect(!root.layers.contains { $0 is BatchNorm2d || $0 is Dropout || $0 is Activation })
        #expect(root.layers.contains { $0 is FusedActivation })
    }

    @Test("ResNet18 and the small ResNets run as one channel-blocked segment each, stem and max pool included; a depthwise net does not")
    func blockedSegments() throws {
        let r18 = InferenceNetwork(try Network(Zoo.resnet18(input: Shape(3, 32, 32), classes: 2), seed: 1))
        let rows = r18.profile(Tensor(Shape(3, 32, 32), batch: 1), repeats: 2).map(\.layer)
        #expect(rows.first == "0 channel-blocked 20 convs (up to 13 Winograd) 3->512 at 32x32, 1 max pool, 8 residual sums", "\(rows)")
        // the segment's steps follow it: Winograd where a batch has enough tiles, the direct kernel where not
        #expect(rows.contains { $0.hasSuffix("0.1 max pool, then winograd 64->64 at 8x8 +relu") }, "\(rows)")
        #expect(rows.contains { $0.hasSuffix("0.17 conv k3 s1 512->512 at 1x1 +sum +relu") }, "\(rows)")
        #expect(rows.contains { $0.hasSuffix("0.5 conv k1 s2 64->128 at 8x8") }, "\(rows)")
        let stage1 = InferenceNetwork(try Network(Zoo.smallResNet(input: Shape(1, 128, 128), classes: 2), seed: 1))
        let stage1Rows = stage1.profile(Tensor(Shape(1, 128, 128), batch: 1), repeats: 1).map(\.layer)
        #expect(stage1Rows.first == "0 channel-blocked 9 convs (up to 4 Winograd) 1->128 at 128x128, 1 max pool, 3 residual sums", "\(stage1Rows)")
        let small = InferenceNetwork(try Network(Zoo.smallResNet(input: Shape(1, 28, 28), classes: 10, depth: 8, width: 32), seed: 1))
        let smallRows = small.profile(Tensor(Shape(1, 28, 28), batch: 1), repeats: 2).map(\.layer)
        #expect(smallRows.contains { $0.contains("channel-blocked 9 convs (up to 4 Winograd) 1->128 at 28x28, 3 residual sums") }, "\(smallRows)")
        #expect(smallRows.filter { $0.contains("channel-blocked") }.count == 1)
        let light = InferenceNetwork(try Network(Zoo.lightNet(input: Shape(3, 32, 32), classes: 2), seed: 1))
        #expect(!light.profile(Tensor(Shape(3, 32, 32), batch: 1), repeats: 1).contains { $0.layer.contains("channel-blocked") })
    }

    @Test("a batch larger than the blocked segment's sub-batch runs in parts (2, 2, 1) and matches the training layers")
    func blockedSubBatches() throws {
        let spec = Zoo.smallResNet(input: Shape(1, 28, 28), classes: 2, depth: 8, width: 16)
        let net = try Network(spec, seed: 6)
        let layers = Array(net.root.layers.prefix { !($0 is GlobalAvgPool) })
        #expect(layers.count == 9, "stem conv, batch norm, ReLU, then three blocks each with its ReLU")
        // the widest buffer: 16 channels of 30 x 30 floats; a budget for two samples of three such buffers
        let segment = try #require(BlockedSegment(layers, inputShape: spec.input, cacheBudget: 2 * 3 * 16 * 900 * 4))
        #expect(segment.subBatch == 2)
        var rng = SeededGenerator(seed: 2)
        for batch in [5, 1, 2] {
            let x = randomTensor(batch: batch, spec.input, &rng)
            var h = x
            for layer in layers { h = layer.forward(h, mode: .eval) }
            expectClose(segment.forward(x, mode: .eval).array, h.array, tolerance: 1e-4, "batch \(batch)")
        }
    }

    @Test("ResNet convs run the direct kernel with ReLU fused into it; the profile names every layer")
    func directKernelAndProfile() throws {
        let net = try Network(Zoo.resnet18(input: Shape(3, 32, 32), classes: 2), seed: 1)
        let fast = compiled(net, ConvKernelOptions(blocked: false))
        let rows = fast.profile(Tensor(Shape(3, 32, 32), batch: 1), repeats: 3)
        #expect(rows.filter { $0.layer.contains("direct conv") }.count == 17)   // the 7x7 stem and 16 3x3 convs
        #expect(rows.contains { $0.layer.contains("direct conv 64->64 k3 s1 at 8x8 +relu") })
        #expect(rows.filter { $0.layer.contains("gemm conv") && $0.layer.contains("k1") }.count == 3)
        // every block's sum and ReLU run in its last conv
        #expect(rows.filter { $0.layer.contains("residual block (whole, again; sum and relu in its last conv)") }.count == 8)
        #expect(rows.allSatisfy { $0.seconds >= 0 })
        // from batch `directBatchLimit`, stride-2 and wide stride-1 layers switch to their
        // batched kernels (im2col + GEMM with the blocked kernels off, Winograd), and so do
        // those blocks' sums
        let batched = fast.profile(Tensor(Shape(3, 32, 32), batch: ConvKernelChoice.directBatchLimit), repeats: 1)
        #expect(batched.contains { $0.layer.contains("im2col + gemm conv 64->128 k3 s2 at 8x8 +relu") })
        #expect(batched.contains { $0.layer.contains("winograd conv 256->256 k3 s1 at 2x2") })
        #expect(batched.contains { $0.layer.contains("direct conv 64->64 k3 s1 at 8x8 +relu") })
        #expect(batched.filter { $0.layer.contains("in its last conv: not at this batch)") }.count == 6)
    }
}

/// `net` compiled with only the conv kernels `kernels` allows (the threads in force kept).
func compiled(_ net: Network, _ kernels: ConvKernelOptions) -> InferenceNetwork {
    InferenceNetwork(net, compute: Compute.current().with(kernels: kernels))
}
