/// 2-D convolution, any kernel, stride, padding and groups.
/// Weight `[Cout, Cin/groups, kh, kw]`, optional bias `[Cout]`.
///
///     y[n, o] = b[o] + sum over c in o's group, i, j of W[o, c, i, j] x[n, c, s h + i - p, s w + j - p]
///
/// Which kernel runs (im2col + GEMM, a pointwise GEMM, the channel-blocked kernel or its
/// Winograd form) is `ConvKernelChoice`'s choice for the geometry, batch and the `Compute`
/// in force; the kernels' plumbing is in `Conv2d+Kernels.swift`. Depthwise convs use
/// `DepthwiseConv2d` instead.
public final class Conv2d: Layer {
    public let geometry: ConvGeometry
    public let weight: Parameter
    public let bias: Parameter?
    public var needsInputGradient = true
    public var outputShape: Shape { Shape(geometry.outChannels, geometry.outHeight, geometry.outWidth) }

    var input: Tensor?
    private var output: Tensor?
    private var gradInput: Tensor?
    var workerCol: [Tensor?] = []      // per worker: [Cin*kh*kw, step*P]
    var workerProduct: [Tensor?] = []  // per worker: [Cout, step*P]
    var workerGrad: [Tensor?] = []     // per worker but the first: dW partial sums
    /// The channel-blocked runners, made at the first pass that chose them.
    var blockedForward: BlockedConvRunner?
    var blockedInputGradient: BlockedConvRunner?
    /// The weights transposed and flipped for `blockedInputGradient`.
    var flippedWeights: UnsafeMutablePointer<Float>?

    /// Floats of im2col buffer a worker aims for (about 2 MB: stays in cache).
    static let columnBudget = 1 << 19

    public init(_ g: ConvGeometry, bias hasBias: Bool) {
        precondition(g.inChannels % g.groups == 0 && g.outChannels % g.groups == 0, "channels not divisible by groups")
        geometry = g
        weight = Parameter(name: "weight", Shape(g.patch, 1, 1), count: g.outChannels)
        weight.dims = [g.outChannels, g.inPerGroup, g.kernelH, g.kernelW]
        if hasBias {
            let b = Parameter(name: "bias", Shape(g.outChannels), count: 1, isNormOrBias: true)
            b.dims = [g.outChannels]
            bias = b
        } else {
            bias = nil
        }
    }

    deinit { flippedWeights?.deallocate() }

    public var parameters: [Parameter] { bias.map { [weight, $0] } ?? [weight] }

    /// x `[N, Cin, H, W]` -> y `[N, Cout, H', W']`: y = W * x + b.
    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        input = x
        let y = ensure(&output, outputShape, batch: x.batch)
        convolve(x, into: y)
        return y
    }

    /// dy `[N, Cout, H', W']` -> dx `[N, Cin, H, W]`:
    /// db += sum of dy over N and the plane; dW += dy (x) x (correlation); dx = W^T (x) dy.
    public func backward(_ dy: Tensor) -> Tensor {
        guard let x = input else { preconditionFailure("backward before forward") }
        if let bias { accumulateBiasGrad(dy, bias.grad.data) }
        let dx = needsInputGradient ? ensure(&gradInput, x.shape, batch: x.batch) : nil
        convolveBackward(x, dy, into: dx)
        return dx ?? x
    }
}

/// y[n, c, :] += b[c]
func addBias(_ y: Tensor, _ b: UnsafePointer<Float>) {
    let p = y.plane
    for n in 0..<y.batch {
        for c in 0..<y.channels {
            let row = y.data + (n * y.channels + c) * p
            let v = b[c]
            for i in 0..<p { row[i] += v }
        }
    }
}

/// db[c] += sum over n and the plane of dy[n, c, :]
func accumulateBiasGrad(_ dy: Tensor, _ db: UnsafeMutablePointer<Float>) {
    let p = dy.plane
    for c in 0..<dy.channels {
        var acc: Float = 0
        for n in 0..<dy.batch {
            let row = dy.data + (n * dy.channels + c) * p
            for i in 0..<p { acc += row[i] }
        }
        db[c] += acc
    }
}
