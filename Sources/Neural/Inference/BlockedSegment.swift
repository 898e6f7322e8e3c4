/// A run of a network's convs and ResNet blocks executed in the channel-blocked layout
/// (`BlockedLayout`, `BlockedConvPlan`) at small batches: the input is blocked once on
/// the way in and unblocked once on the way out; in between no layer packs its input, no
/// work is spent on padding columns, and each block's sum and ReLU happen in its last
/// conv's output write. Batches from `largeFrom` run `fallback` (the same layers compiled
/// as elsewhere). Inference only.
final class BlockedSegment: Layer {
    /// One conv: `input`, `output` and `residual` are indices into `buffers`.
    struct Step {
        let plan: BlockedConvPlan
        let weights: UnsafeMutablePointer<Float>
        let bias: [Float]
        let relu: Bool
        let input: Int, output: Int, residual: Int?
    }

    let steps: [Step]
    let fallback: Layer
    let largeFrom = 4
    let inputShape: Shape
    let outputShape: Shape
    var needsInputGradient = false
    /// One sample's blocked buffers, zeroed once: only their interiors are ever written.
    private let buffers: [UnsafeMutablePointer<Float>]
    private let layouts: [BlockedLayout]
    private var output: Tensor?

    /// A segment for `layers` (training layers: convs each with its batch norm and ReLU,
    /// and residual blocks of those, each with its ReLU), or nil if any of them does not fit
    /// the blocked kernel or there are fewer than two convs.
    init?(_ layers: [Layer], inputShape: Shape, fallback: Layer) {
        var builder = Builder()
        builder.layouts.append(BlockedLayout(channels: inputShape.channels, height: inputShape.height, width: inputShape.width))
        var current = 0
        var i = 0
        while i < layers.count {
            if let r = layers[i] as? Residual {
                let relu = isReLU(layers[safe: i + 1])
                guard let out = builder.residual(r, from: current, relu: relu) else { return nil }
                current = out
                i += relu ? 2 : 1
            } else if layers[i] is Conv2d {
                let (used, out) = builder.convRun(layers, at: i, from: current)
                guard used > 0, let out else { return nil }
                current = out
                i += used
            } else {
                return nil
            }
        }
        guard builder.steps.count >= 2 else { return nil }
        steps = builder.steps
        layouts = builder.layouts
        buffers = builder.layouts.map {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: $0.count)
            p.initialize(repeating: 0, count: $0.count)
            return p
        }
        self.fallback = fallback
        self.inputShape = inputShape
        outputShape = fallback.outputShape
        precondition(layouts[steps.last!.output].channels == outputShape.channels, "segment output differs from its layers'")
    }

    deinit {
        for b in buffers { b.deallocate() }
        for s in steps { s.weights.deallocate() }
    }

    func forward(_ x: Tensor, mode: Mode) -> Tensor {
        guard x.batch < largeFrom else { return fallback.forward(x, mode: mode) }
        let y = ensure(&output, outputShape, batch: x.batch)
        let inPlane = inputShape.count, outPlane = outputShape.count
        let last = steps.last!.output
        for b in 0..<x.batch {
            let src = x.data + b * inPlane
            Parallel.forEachChunk(inputShape.channels, work: 0) { layouts[0].pack(src, into: buffers[0], channels: $0) }
            for s in steps { run(s) }
            let dst = y.data + b * outPlane
            Parallel.forEachChunk(outputShape.channels, work: 0) { layouts[last].unpack(buffers[last], into: dst, channels: $0) }
        }
        return y
    }

    private func run(_ s: Step) {
        let units = s.plan.channelBlocks * s.plan.pixelBlocks, pixelBlocks = s.plan.pixelBlocks
        let x = UnsafePointer(buffers[s.input]), y = buffers[s.output]
        let residual = s.residual.map { UnsafePointer(buffers[$0]) }
        s.bias.withUnsafeBufferPointer { bias in
            Parallel.forEachChunk(units, work: s.plan.work) { range in
                var u = range.lowerBound
                while u < range.upperBound {
                    let k = u / pixelBlocks, p0 = u % pixelBlocks, p1 = min(pixelBlocks, p0 + range.upperBound - u)
                    s.plan.run(x, s.weights, bias: bias.baseAddress!, relu: s.relu, y, residual: residual,
                               channelBlocks: k..<(k + 1), pixels: p0..<p1)
                    u += p1 - p0
                }
            }
        }
    }

    func backward(_ dy: Tensor) -> Tensor { preconditionFailure("inference networks do not train") }

    /// What the segment runs, for profiles: its convs and where its blocks' sums happen.
    var summary: String {
        let sums = steps.filter { $0.residual != nil }.count
        let g0 = steps.first!.plan.geometry, g1 = steps.last!.plan.geometry
        return "channel-blocked \(steps.count) convs \(g0.inChannels)->\(g1.outChannels) at \(g0.inHeight)x\(g0.inWidth), \(sums) residual sums" +
            " (batches of \(largeFrom)+: as compiled apart)"
    }

    /// Collects steps and buffer layouts while a segment is built.
    private struct Builder {
        var steps: [Step] = []
        var layouts: [BlockedLayout] = []

        /// conv [batchnorm] [relu] at `i`: how many layers it took (0 if it does not fit) and its output buffer.
        mutating func convRun(_ layers: [Layer], at i: Int, from input: Int, residual: Int? = nil,
                              reluAfterSum: Bool = false) -> (Int, Int?) {
            guard let conv = layers[i] as? Conv2d, BlockedConvPlan.applies(to: conv.geometry),
                  layouts[input].channels == conv.geometry.inChannels else { return (0, nil) }
            var used = 1
            var folded = conv
            if let bn = layers[safe: i + 1] as? BatchNorm2d {
                folded = InferenceNetwork.fold(conv, bn)
                used += 1
            }
            var relu = reluAfterSum
            if residual == nil, isReLU(layers[safe: i + used]) {
                relu = true
                used += 1
            }
            let g = conv.geometry, plan = BlockedConvPlan(g)
            let w = UnsafeMutablePointer<Float>.allocate(capacity: plan.packedWeightCount)
            plan.packWeights(folded.weight.value.data, into: w)
            let bias = (0..<g.outChannels).map { folded.bias?.value[$0] ?? 0 }
            layouts.append(plan.output)
            steps.append(Step(plan: plan, weights: w, bias: bias, relu: relu, input: input, output: layouts.count - 1, residual: residual))
            return (used, layouts.count - 1)
        }

        /// A residual block: its shortcut first (or the input itself), then its body, whose
        /// last conv adds the shortcut and applies the block's ReLU.
        mutating func residual(_ r: Residual, from input: Int, relu: Bool) -> Int? {
            var shortcut = input
            var i = 0
            let sl = r.shortcut.layers
            while i < sl.count {
                let (used, out) = convRun(sl, at: i, from: shortcut)
                guard used > 0, let out else { return nil }
                shortcut = out
                i += used
            }
            guard layouts[shortcut].channels == r.outputShape.channels else { return nil }
            var current = input
            let bl = r.body.layers
            i = 0
            while i < bl.count {
                let lastConv = !bl[(i + 1)...].contains { $0 is Conv2d }
                let (used, out) = lastConv
                    ? convRun(bl, at: i, from: current, residual: shortcut, reluAfterSum: relu)
                    : convRun(bl, at: i, from: current)
                guard used > 0, let out else { return nil }
                current = out
                i += used
            }
            return layouts[current] == layouts[shortcut] ? current : nil
        }
    }
}

private func isReLU(_ layer: Layer?) -> Bool { (layer as? Activation)?.kind == .relu }
