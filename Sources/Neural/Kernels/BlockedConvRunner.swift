/// The channel-blocked conv (`BlockedConvPlan`) on NCHW tensors, for training: each worker
/// takes a slice of the batch and walks it a few images at a time, packing them into its
/// own blocked buffer (zero border: no padding work), running every output channel block
/// over them and unpacking the result into the NCHW output. Used by `Conv2d` for its
/// forward pass, its weight gradient (`accumulateWeightGradient`) and, for stride-1
/// convs, its input gradient, which is the conv of the output gradient with the weights
/// transposed and flipped (`flipped(_:)`). Where the im2col + GEMM path reached 64-72 %
/// of this machine's peak on these layers, the blocked forward kernel reaches over 90 %
/// and the weight gradient about 77 % (one core); packing costs a copy of each operand.
/// Training steps, interleaved (`linesight-bench --ab-training`): 1.19x (small ResNet,
/// batch 64 and 128) and 1.11x (ResNet18, batch 32) over im2col + GEMM alone.
/// A 3x3 stride-1 conv with 16 or more input channels runs its `run` (the forward pass,
/// or the input gradient) as Winograd F(2x2, 3x3) (`BlockedWinogradPlan`) when asked.
final class BlockedConvRunner {
    let plan: BlockedConvPlan
    /// The micro-kernels' instruction set (the tests run each one the CPU has).
    var isa = FloatISA.current
    let winograd: BlockedWinogradPlan?
    /// Images per step of one worker: its blocked input and output stay within about 1 MB.
    let imagesPerStep: Int
    private let weights: UnsafeMutablePointer<Float>
    private let zeroBias: [Float]
    /// Per worker: blocked input and output buffers for `imagesPerStep` images, zeroed once
    /// (only interiors are written, so the borders stay zero).
    private var inputs: [UnsafeMutablePointer<Float>] = []
    private var outputs: [UnsafeMutablePointer<Float>] = []
    /// Pixel tables by image count (the full step and the slices' remainders), and tile
    /// tables for Winograd.
    private var tables: [Int: BlockedConvPlan.Pixels] = [:]
    private var tileTables: [Int: BlockedWinogradPlan.Tiles] = [:]
    /// Per worker: Winograd's scratch.
    private var scratch: [UnsafeMutablePointer<Float>] = []

    static let stepBudget = 1 << 18   // floats

    /// Whether the blocked kernel takes `g` (its padding read from the input's zero border).
    static func applies(to g: ConvGeometry) -> Bool {
        BlockedConvPlan.appliesToTraining(g, inputBorder: max(1, g.padding))
    }

    init(_ g: ConvGeometry, winograd: Bool = true) {
        plan = BlockedConvPlan(g, inputBorder: max(1, g.padding))
        self.winograd = winograd && BlockedWinogradPlan.applies(to: g, inputBorder: plan.input.border)
            ? BlockedWinogradPlan(g, inputBorder: plan.input.border) : nil
        imagesPerStep = max(1, Self.stepBudget / (plan.input.count + plan.output.count))
        weights = alignedFloats(self.winograd?.packedWeightCount ?? plan.packedWeightCount)
        zeroBias = [Float](repeating: 0, count: g.outChannels)
    }

    deinit {
        freeAligned(weights)
        for b in inputs + outputs + scratch { freeAligned(b) }
    }

    /// Packs `[Cout, Cin, kh, kw]` weights for the next `run`s.
    func setWeights(_ w: UnsafePointer<Float>) {
        if let winograd { winograd.packWeights(w, into: weights) } else { plan.packWeights(w, into: weights) }
    }

    /// y = conv(x) + bias for `n` images of `x` `[n, Cin, H, W]` into `y` `[n, Cout, H', W']`,
    /// the batch split across `workers`.
    func run(_ x: UnsafePointer<Float>, batch n: Int, bias: UnsafePointer<Float>?, into y: UnsafeMutablePointer<Float>,
             workers: Int) {
        let chunks = min(workers, max(1, n))
        prepare(batch: n, chunks: chunks)
        let inPlane = plan.geometry.inChannels * plan.geometry.inPlane
        let outPlane = plan.geometry.outChannels * plan.geometry.outPlane
        zeroBias.withUnsafeBufferPointer { zeros in
            let b = bias ?? zeros.baseAddress!
            Parallel.forEachWorker(n, workers: chunks) { w, images in
                var i = images.lowerBound
                while i < images.upperBound {
                    let cnt = min(imagesPerStep, images.upperBound - i)
                    step(x + i * inPlane, cnt, b, y + i * outPlane, worker: w)
                    i += cnt
                }
            }
        }
    }

    /// dW += the weight gradient of `n` images of `x` `[n, Cin, H, W]` with output gradient
    /// `dy` `[n, Cout, H', W']`; worker `w` sums its slice of the batch into `partials[w]`.
    func weightGradient(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, batch n: Int,
                        into partials: [UnsafeMutablePointer<Float>]) {
        let chunks = min(partials.count, max(1, n))
        prepare(batch: n, chunks: chunks)
        let g = plan.geometry, inPlane = g.inChannels * g.inPlane, outPlane = g.outChannels * g.outPlane
        Parallel.forEachWorker(n, workers: chunks) { w, images in
            var i = images.lowerBound
            while i < images.upperBound {
                let cnt = min(imagesPerStep, images.upperBound - i)
                for b in 0..<cnt {
                    plan.input.pack(x + (i + b) * inPlane, into: inputs[w] + b * plan.input.count, channels: 0..<g.inChannels)
                    plan.output.pack(dy + (i + b) * outPlane, into: outputs[w] + b * plan.output.count, channels: 0..<g.outChannels)
                }
                plan.accumulateWeightGradient(inputs[w], outputs[w], tables[cnt]!, into: partials[w],
                                              channelBlocks: 0..<plan.channelBlocks, isa: isa)
                i += cnt
            }
        }
    }

    /// `cnt` images through worker `w`'s buffers.
    private func step(_ x: UnsafePointer<Float>, _ cnt: Int, _ bias: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                      worker w: Int) {
        let g = plan.geometry, inLayout = plan.input, outLayout = plan.output
        let blockedIn = inputs[w], blockedOut = outputs[w]
        for b in 0..<cnt {
            inLayout.pack(x + b * g.inChannels * g.inPlane, into: blockedIn + b * inLayout.count, channels: 0..<g.inChannels)
        }
        if let winograd {
            // every step size, even one of few tiles: the weights are packed for Winograd alone
            let tiles = tileTables[cnt]!
            winograd.run(blockedIn, weights, bias: bias, relu: false, blockedOut, residual: nil, tiles,
                         groups: 0..<tiles.groups, channelBlocks: 0..<plan.channelBlocks, scratch: scratch[w], isa: isa)
        } else {
            let table = tables[cnt]!
            plan.run(blockedIn, weights, bias: bias, relu: false, blockedOut, residual: nil, table,
                     channelBlocks: 0..<plan.channelBlocks, pixelBlocks: 0..<table.blocks, isa: isa)
        }
        for b in 0..<cnt {
            outLayout.unpack(blockedOut + b * outLayout.count, into: y + b * g.outChannels * g.outPlane, channels: 0..<g.outChannels)
        }
    }

    /// Buffers for `chunks` workers and the pixel tables every step of this batch uses,
    /// made before the workers start (they only read them).
    private func prepare(batch n: Int, chunks: Int) {
        while inputs.count < chunks {
            inputs.append(alignedFloats(plan.input.count * imagesPerStep + (winograd?.inputSlack ?? 0)))
            outputs.append(alignedFloats(plan.output.count * imagesPerStep))
            if let winograd { scratch.append(alignedFloats(winograd.scratchCount)) }
        }
        var sizes: Set<Int> = []
        for i in 0..<chunks {
            let slice = n * (i + 1) / chunks - n * i / chunks
            if slice >= imagesPerStep { sizes.insert(imagesPerStep) }
            if slice % imagesPerStep > 0 { sizes.insert(slice % imagesPerStep) }
        }
        for s in sizes where tables[s] == nil { tables[s] = plan.pixels(batch: s) }
        if let winograd {
            for s in sizes where tileTables[s] == nil { tileTables[s] = winograd.tiles(batch: s) }
        }
    }

    /// The geometry whose conv of a stride-1 conv's output gradient is its input gradient
    /// (with `flipped` weights), or nil if `g` is not such a conv or the result does not
    /// fit the blocked kernel.
    static func inputGradientGeometry(of g: ConvGeometry) -> ConvGeometry? {
        guard g.stride == 1, g.groups == 1, g.kernelH == g.kernelW, g.padding <= g.kernelH - 1 else { return nil }
        let t = ConvGeometry(input: Shape(g.outChannels, g.outHeight, g.outWidth), outChannels: g.inChannels,
                             kernel: g.kernelH, stride: 1, padding: g.kernelH - 1 - g.padding)
        guard t.outHeight == g.inHeight, t.outWidth == g.inWidth, applies(to: t) else { return nil }
        return t
    }

    /// `[Cout, Cin, k, k]` weights as `[Cin, Cout, k, k]`, each kernel turned by 180 degrees,
    /// into `out`.
    static func flipped(_ w: UnsafePointer<Float>, _ g: ConvGeometry, into out: UnsafeMutablePointer<Float>) {
        let k = g.kernelH, taps = k * k
        for o in 0..<g.outChannels {
            for c in 0..<g.inChannels {
                let src = w + (o * g.inChannels + c) * taps, dst = out + (c * g.outChannels + o) * taps
                for t in 0..<taps { dst[taps - 1 - t] = src[t] }
            }
        }
    }
}
