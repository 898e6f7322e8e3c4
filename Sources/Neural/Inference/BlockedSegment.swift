import Dispatch

/// A run of a network's convs, max pools and ResNet blocks executed in the channel-blocked
/// layout (`BlockedLayout`, `BlockedConvPlan`, `BlockedMaxPool`): the input is blocked
/// once on the way in and unblocked once on the way out; in between no layer packs its
/// input, no work is spent on padding columns, and each block's sum and ReLU happen in its
/// last conv's output write. A batch runs as one (in sub-batches that fit the cache): its pixels follow each
/// other, so each weight block loaded serves every sample. Measured on 2 cores
/// (`linesight-bench --ab-compile`) against the direct and Winograd convs: faster at every
/// batch tried (1, 4, 8, 16, 32) on the small ResNet and on ResNet18. Inference only.
final class BlockedSegment: Layer {
    /// One conv: `input`, `output` and `residual` are indices into `buffers`. It runs on
    /// the kernel `ConvKernelChoice` picks for each batch size: Winograd F(2x2, 3x3)
    /// (`winograd`, with its weights) or the direct blocked kernel (`plan`, `weights`); each
    /// packing exists only if some batch needs it.
    struct Step {
        let plan: BlockedConvPlan
        let weights: UnsafeMutablePointer<Float>?
        let winograd: BlockedWinogradPlan?
        let winogradWeights: UnsafeMutablePointer<Float>?
        let bias: [Float]
        let relu: Bool
        let input: Int, output: Int, residual: Int?
        let options: ConvKernelOptions

        /// Whether a batch of `batch` samples runs as Winograd.
        func winograd(batch: Int) -> Bool {
            winograd != nil && ConvKernelChoice.choose(plan.geometry, batch: batch, setting: .blockedSegment(inputBorder: plan.input.border),
                                                       workers: 1, options: options) == .blockedWinograd
        }
    }

    /// One max pool, run before the conv `before` (an index into `steps`).
    struct Pool {
        let plan: BlockedMaxPool
        let input: Int, output: Int
        let before: Int
    }

    let steps: [Step]
    let pools: [Pool]
    let inputShape: Shape
    let outputShape: Shape
    var needsInputGradient = false
    /// The blocked buffers, one sample after another, zeroed when allocated: only their
    /// interiors are ever written. Sized for `capacity` samples.
    private var buffers: [UnsafeMutablePointer<Float>] = []
    private var capacity = 0
    private let layouts: [BlockedLayout]
    /// Each step's pixel or tile table, by sub-batch size.
    private var tables: [Int: [Table]] = [:]
    enum Table {
        case pixels(BlockedConvPlan.Pixels)
        case tiles(BlockedWinogradPlan.Tiles)
    }
    /// Floats past each buffer's last sample that the Winograd steps' edge tiles may read.
    private let slack: Int
    /// One scratch per worker for the Winograd steps (`BlockedWinogradPlan.scratchCount`).
    private var scratch: [UnsafeMutablePointer<Float>] = []
    private let scratchCount: Int
    /// Samples that run together: a batch runs in sub-batches of at most this many, so
    /// that the three buffers a step touches (input, output, residual) stay within
    /// `cacheBudget` bytes (16 MB by default; on this machine's 32 MB L3, ResNet18 at
    /// 3x128x128 ran 155 ms for 16 samples in one sub-batch and 494 ms for 32).
    let subBatch: Int
    static let defaultCacheBudget = 16 << 20
    private var output: Tensor?
    /// While set, every run appends each step's seconds (a step's pools included) here,
    /// for `InferenceNetwork.profile`.
    var stepSeconds: [[Double]]?

    /// A segment for `layers` (training layers: convs each with its batch norm and ReLU,
    /// max pools after a ReLU, and residual blocks of convs, each with its ReLU), or nil if
    /// any of them does not fit the blocked kernels, it ends in a pool, or it has fewer
    /// than two convs.
    /// Each conv's kernel is chosen by `ConvKernelChoice` among those `options` allows.
    init?(_ layers: [Layer], inputShape: Shape, cacheBudget: Int = BlockedSegment.defaultCacheBudget,
          options: ConvKernelOptions = .all) {
        var builder = Builder(options: options)
        // a 7x7 stem reads its padding of 3 from the input's border
        let border = max(1, (layers.first as? Conv2d)?.geometry.padding ?? 1)
        builder.layouts.append(BlockedLayout(channels: inputShape.channels, height: inputShape.height, width: inputShape.width, border: border))
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
            } else if let pool = layers[i] as? MaxPool2d, let out = builder.maxPool(pool, from: current) {
                current = out
                i += 1
            } else {
                return nil
            }
        }
        guard builder.steps.count >= 2 else { return nil }
        guard builder.pools.allSatisfy({ $0.before < builder.steps.count }) else { return nil }   // not last
        steps = builder.steps
        pools = builder.pools
        layouts = builder.layouts
        slack = builder.layouts.map { 2 * $0.rowStride }.max()!
        scratchCount = builder.steps.compactMap { $0.winograd?.scratchCount }.max() ?? 0
        let widest = builder.layouts.map(\.count).max()! * MemoryLayout<Float>.size
        subBatch = max(1, cacheBudget / (3 * widest))
        self.inputShape = inputShape
        let out = layouts[steps.last!.output]
        outputShape = Shape(out.channels, out.height, out.width)
        precondition(outputShape == layers.last!.outputShape, "segment output differs from its layers'")
    }

    deinit {
        for b in buffers + scratch { freeAligned(b) }
        for s in steps { for w in [s.weights, s.winogradWeights] { if let w { freeAligned(w) } } }
    }

    func forward(_ x: Tensor, mode: Mode) -> Tensor {
        let n = x.batch
        let y = ensure(&output, outputShape, batch: n)
        var start = 0
        while start < n {
            let count = min(subBatch, n - start)
            run(x.data + start * inputShape.count, count, y.data + start * outputShape.count)
            start += count
        }
        return y
    }

    /// `n` samples (at most `subBatch`) from `x` `[n, C, H, W]` to `y`.
    private func run(_ x: UnsafePointer<Float>, _ n: Int, _ y: UnsafeMutablePointer<Float>) {
        let tables = prepare(batch: n)
        let inPlane = inputShape.count, outPlane = outputShape.count
        let first = layouts[0], last = steps.last!.output, lastLayout = layouts[last]
        forEachPlane(n, inputShape) { b, c in
            first.pack(x + b * inPlane, into: buffers[0] + b * first.count, channels: c..<(c + 1))
        }
        var pool = 0
        for (i, (s, table)) in zip(steps, tables).enumerated() {
            while pool < pools.count && pools[pool].before == i {
                run(pools[pool], batch: n)
                pool += 1
            }
            let start = stepSeconds == nil ? 0 : DispatchTime.now().uptimeNanoseconds
            run(s, table, batch: n)
            if stepSeconds != nil { stepSeconds![i].append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9) }
        }
        forEachPlane(n, outputShape) { b, c in
            lastLayout.unpack(buffers[last] + b * lastLayout.count, into: y + b * outPlane, channels: c..<(c + 1))
        }
    }

    /// `body(sample, channel)` for every plane of `n` samples of `shape`, split across
    /// threads when there are enough of them to copy.
    private func forEachPlane(_ n: Int, _ shape: Shape, _ body: (Int, Int) -> Void) {
        Parallel.forEachChunk(n * shape.channels, work: n * shape.count * 4) { range in
            for i in range { body(i / shape.channels, i % shape.channels) }
        }
    }

    /// Buffers for at least `batch` samples, scratch for every worker; the pixel and tile
    /// tables for exactly that many samples.
    private func prepare(batch n: Int) -> [Table] {
        if n > capacity {
            for b in buffers { freeAligned(b) }
            buffers = layouts.map { alignedFloats($0.count * n + slack) }
            capacity = n
        }
        let workers = Compute.current().threads
        if scratchCount > 0 && scratch.count < workers {
            scratch += (scratch.count..<workers).map { _ in alignedFloats(scratchCount) }
        }
        if let t = tables[n] { return t }
        if tables.count >= 4 { tables.removeAll() }   // a full sub-batch and a few last ones
        let t = steps.map { s in
            if let w = s.winograd, s.winograd(batch: n) { return Table.tiles(w.tiles(batch: n)) }
            return .pixels(s.plan.pixels(batch: n))
        }
        tables[n] = t
        return t
    }

    private func run(_ s: Step, _ table: Table, batch: Int) {
        switch table {
        case .pixels(let p): run(s, p, batch: batch)
        case .tiles(let t): run(s, s.winograd!, t, batch: batch)
        }
    }

    private func run(_ s: Step, _ plan: BlockedWinogradPlan, _ tiles: BlockedWinogradPlan.Tiles, batch: Int) {
        let residual = s.residual.map { UnsafePointer(buffers[$0]) }
        s.bias.withUnsafeBufferPointer { bias in
            plan.runParallel(buffers[s.input], s.winogradWeights!, bias: bias.baseAddress!, relu: s.relu, buffers[s.output],
                             residual: residual, tiles, batch: batch, scratch: scratch)
        }
    }

    private func run(_ s: Step, _ table: BlockedConvPlan.Pixels, batch: Int) {
        let pixelBlocks = table.blocks, units = s.plan.channelBlocks * pixelBlocks
        let x = UnsafePointer(buffers[s.input]), y = buffers[s.output]
        let residual = s.residual.map { UnsafePointer(buffers[$0]) }
        s.bias.withUnsafeBufferPointer { bias in
            // a quarter of the engine's threshold: the small ResNet's 1x1 shortcut convs
            // (400,000 multiply-adds) took 11.3 us on one core and 8.1-8.7 us on two
            Parallel.forEachChunk(units, work: s.plan.work * batch, threshold: Compute.current().minimumParallelWork / 4) { range in
                var u = range.lowerBound
                while u < range.upperBound {
                    let k = u / pixelBlocks, p0 = u % pixelBlocks, p1 = min(pixelBlocks, p0 + range.upperBound - u)
                    s.plan.run(x, s.weights!, bias: bias.baseAddress!, relu: s.relu, y, residual: residual, table,
                               channelBlocks: k..<(k + 1), pixelBlocks: p0..<p1)
                    u += p1 - p0
                }
            }
        }
    }

    private func run(_ p: Pool, batch: Int) {
        let x = UnsafePointer(buffers[p.input]), y = buffers[p.output], g = p.plan.geometry
        // work in multiply-add terms: a vector max with its load counts as 4 (ResNet18's
        // pool, 64 channels at 32x32: 135 us on one thread)
        Parallel.forEachChunk(batch * p.plan.planes, work: 4 * batch * g.inChannels * g.outPlane * g.kernelH * g.kernelW) {
            p.plan.run(x, y, planes: $0)
        }
    }

    func backward(_ dy: Tensor) -> Tensor { preconditionFailure("inference networks do not train") }

    /// Step `i` as it runs a batch of `batch`, for profiles.
    func describe(step i: Int, batch: Int) -> String {
        let s = steps[i], g = s.plan.geometry
        let pooled = pools.contains { $0.before == i } ? "max pool, then " : ""
        return pooled + (!s.winograd(batch: min(batch, subBatch)) ? "conv k\(g.kernelH) s\(g.stride)" : "winograd") +
            " \(g.inChannels)->\(g.outChannels) at \(g.inHeight)x\(g.inWidth)" + (s.residual == nil ? "" : " +sum") + (s.relu ? " +relu" : "")
    }

    /// What the segment runs, for profiles: its convs and where its blocks' sums happen.
    var summary: String {
        let sums = steps.filter { $0.residual != nil }.count
        let g0 = steps.first!.plan.geometry, g1 = steps.last!.plan.geometry
        let winograd = steps.filter { $0.winograd != nil }.count
        return "channel-blocked \(steps.count) convs (up to \(winograd) Winograd) \(g0.inChannels)->\(g1.outChannels) at \(g0.inHeight)x\(g0.inWidth), " +
            (pools.isEmpty ? "" : "\(pools.count) max pool, ") + "\(sums) residual sums"
    }

    /// Collects steps and buffer layouts while a segment is built.
    private struct Builder {
        let options: ConvKernelOptions
        var steps: [Step] = []
        var pools: [Pool] = []
        var layouts: [BlockedLayout] = []
        /// Buffers written with a ReLU: never negative, so a border of zeros pads a max pool.
        var rectified: Set<Int> = []

        /// A max pool after a ReLU; nil for one the blocked kernel cannot take.
        mutating func maxPool(_ pool: MaxPool2d, from input: Int) -> Int? {
            let g = pool.geometry
            guard rectified.contains(input), BlockedMaxPool.applies(to: g, inputBorder: layouts[input].border),
                  layouts[input].channels == g.inChannels else { return nil }
            let plan = BlockedMaxPool(g, inputBorder: layouts[input].border)
            layouts.append(plan.output)
            pools.append(Pool(plan: plan, input: input, output: layouts.count - 1, before: steps.count))
            rectified.insert(layouts.count - 1)
            return layouts.count - 1
        }

        /// conv [batchnorm] [relu] at `i`: how many layers it took (0 if it does not fit) and its output buffer.
        mutating func convRun(_ layers: [Layer], at i: Int, from input: Int, residual: Int? = nil,
                              reluAfterSum: Bool = false) -> (Int, Int?) {
            let border = layouts[input].border
            guard let conv = layers[i] as? Conv2d, BlockedConvPlan.applies(to: conv.geometry, inputBorder: border),
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
            let g = conv.geometry, plan = BlockedConvPlan(g, inputBorder: border)
            // Winograd's packing if the largest batches take it, the direct one's if batch 1 does not
            func kernel(_ batch: Int) -> ConvKernel {
                ConvKernelChoice.choose(g, batch: batch, setting: .blockedSegment(inputBorder: border), workers: 1, options: options)
            }
            let fast = kernel(1 << 30) == .blockedWinograd ? BlockedWinogradPlan(g, inputBorder: border) : nil
            var w: UnsafeMutablePointer<Float>?, u: UnsafeMutablePointer<Float>?
            if let fast {
                u = alignedFloats(fast.packedWeightCount)
                fast.packWeights(folded.weight.value.data, into: u!)
            }
            if kernel(1) != .blockedWinograd {
                w = alignedFloats(plan.packedWeightCount)
                plan.packWeights(folded.weight.value.data, into: w!)
            }
            let bias = (0..<g.outChannels).map { folded.bias?.value[$0] ?? 0 }
            layouts.append(plan.output)
            steps.append(Step(plan: plan, weights: w, winograd: fast, winogradWeights: u, bias: bias, relu: relu, input: input, output: layouts.count - 1, residual: residual,
                              options: options))
            if relu { rectified.insert(layouts.count - 1) }
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

/// Whether `layer` is a ReLU (the activation the blocked and direct kernels fuse).
func isReLU(_ layer: Layer?) -> Bool { (layer as? Activation)?.kind == .relu }
