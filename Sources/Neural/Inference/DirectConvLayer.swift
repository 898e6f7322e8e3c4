/// A convolution (any kernel size and stride, ungrouped) run by the register-blocked
/// direct kernel (`DirectConvPlan`), inference only: weights packed once, bias (folded
/// batch norm) and ReLU applied as the outputs are written.
public final class DirectConvLayer: Layer {
    public let plan: DirectConvPlan
    public var needsInputGradient = false
    public var outputShape: Shape { Shape(plan.geometry.outChannels, plan.geometry.outHeight, plan.geometry.outWidth) }
    /// ReLU fused into the output write (set by the inference compiler).
    public var relu = false
    /// The micro-kernel's instruction set (the tests run each one the CPU has).
    var isa = FloatISA.current
    private let weights: UnsafeMutablePointer<Float>
    private let bias: UnsafeMutablePointer<Float>
    private var packed: Tensor?
    private var output: Tensor?

    /// Where it pays: pointwise (1x1) convs stay a plain GEMM, and a 1- or 3-channel stem
    /// has too few multiply-adds per output for the register blocking (im2col + GEMM).
    public static func applies(to g: ConvGeometry) -> Bool {
        g.groups == 1 && g.kernelH == g.kernelW && g.kernelH > 1 && g.inChannels * g.kernelH * g.kernelW >= 64
    }

    /// `weight` `[Cout, Cin, kh, kw]`, `bias` `[Cout]` (already folded with batch norm).
    public init(_ g: ConvGeometry, weight: UnsafePointer<Float>, bias: [Float]) {
        plan = DirectConvPlan(g)
        weights = alignedFloats(plan.packedWeightCount)
        plan.packWeights(weight, into: weights)
        self.bias = .allocate(capacity: g.outChannels)
        self.bias.initialize(from: bias, count: g.outChannels)
    }

    deinit {
        freeAligned(weights)
        bias.deallocate()
    }

    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        forward(x, adding: nil, relu: relu)
    }

    /// act(conv(x) + bias + residual): with `residual` (shaped as the output) a ResNet
    /// block's sum and its ReLU happen in the output write, not in passes of their own.
    public func forward(_ x: Tensor, adding residual: Tensor?, relu: Bool) -> Tensor {
        let g = plan.geometry, n = x.batch, per = plan.packedInputCount
        let y = ensure(&output, outputShape, batch: n)
        // A buffer that starts zeroed and only packInput writes: its padding stays zero.
        let p = scratch(&packed, count: per * n)
        let serial = plan.work * n < Compute.current().minimumParallelWork
        // Packing copies each input once: split over samples, or over channels at batch 1.
        if n == 1 {
            Parallel.forEachChunk(g.inChannels, work: serial ? 0 : .max) { channels in
                plan.packInput(x.data, into: p, channels: channels, padding: false)
            }
        } else {
            Parallel.forEachChunk(n, work: serial ? 0 : .max) { samples in
                for b in samples {
                    plan.packInput(x.data + b * g.inChannels * g.inPlane, into: p + b * per, channels: 0..<g.inChannels, padding: false)
                }
            }
        }
        // Split the work over output-channel blocks of all samples, so batch 1 uses every core too.
        let blocks = plan.channelBlocks, sampleOut = g.outChannels * g.outPlane
        if let residual { precondition(residual.shape == y.shape && residual.batch == n, "residual shape differs from the output's") }
        Parallel.forEachChunk(n * blocks, work: serial ? 0 : .max) { range in
            var i = range.lowerBound
            while i < range.upperBound {
                let b = i / blocks, k0 = i % blocks, k1 = min(blocks, k0 + range.upperBound - i)
                plan.run(p + b * per, weights, bias: bias, relu: relu, y.data + b * sampleOut,
                         residual: residual.map { UnsafePointer($0.data + b * sampleOut) }, channelBlocks: k0..<k1, isa: isa)
                i += k1 - k0
            }
        }
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor { preconditionFailure("inference networks do not train") }
}
