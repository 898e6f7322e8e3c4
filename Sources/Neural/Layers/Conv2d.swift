/// 2-D convolution, any kernel, stride, padding and groups.
/// Weight `[Cout, Cin/groups, kh, kw]`, optional bias `[Cout]`.
///
/// Kernels: 1x1 stride-1 convs are one GEMM per image straight on NCHW memory;
/// everything else is batched im2col + one GEMM per group (col kept for backward);
/// depthwise convs use `DepthwiseConv2d` instead (see `LayerFactory`).
public final class Conv2d: Layer {
    public let geometry: ConvGeometry
    public let weight: Parameter
    public let bias: Parameter?
    public var needsInputGradient = true
    public var outputShape: Shape { Shape(geometry.outChannels, geometry.outHeight, geometry.outWidth) }

    private var input: Tensor?
    private var output: Tensor?
    private var gradInput: Tensor?
    private var col: Tensor?        // [Cin*kh*kw, N*P], kept from forward for backward
    private var product: Tensor?    // [Cout, N*P], the GEMM's channel-major result

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

    public var parameters: [Parameter] { bias.map { [weight, $0] } ?? [weight] }

    var isPointwise: Bool {
        geometry.kernelH == 1 && geometry.kernelW == 1 && geometry.stride == 1
            && geometry.padding == 0 && geometry.groups == 1
    }

    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        input = x
        let n = x.batch, g = geometry, p = g.outPlane
        let y = ensure(&output, outputShape, batch: n)
        if isPointwise {
            for i in 0..<n {
                sgemm(false, false, g.outChannels, p, g.inChannels, 1, weight.value.data, g.inChannels,
                      x.data + i * x.sampleCount, p, 0, y.data + i * y.sampleCount, p)
            }
            if let bias { addBias(y, bias.value.data) }
            return y
        }
        let np = n * p
        let colP = scratch(&col, count: g.inChannels * g.kernelH * g.kernelW * np)
        let tmpP = scratch(&product, count: g.outChannels * np)
        im2col(x.data, batch: n, g, colP)
        for grp in 0..<g.groups {
            sgemm(false, false, g.outPerGroup, np, g.patch, 1,
                  weight.value.data + grp * g.outPerGroup * g.patch, g.patch,
                  colP + grp * g.patch * np, np, 0, tmpP + grp * g.outPerGroup * np, np)
        }
        channelMajorToNCHW(tmpP, y.data, batch: n, channels: g.outChannels, plane: p, bias: bias?.value.data)
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        guard let x = input else { preconditionFailure("backward before forward") }
        let n = x.batch, g = geometry, p = g.outPlane
        if let bias { accumulateBiasGrad(dy, bias.grad.data) }
        if isPointwise {
            let dx = needsInputGradient ? ensure(&gradInput, x.shape, batch: n) : x
            for i in 0..<n {
                let dyi = dy.data + i * dy.sampleCount, xi = x.data + i * x.sampleCount
                sgemm(false, true, g.outChannels, g.inChannels, p, 1, dyi, p, xi, p, 1, weight.grad.data, g.inChannels)
                if needsInputGradient {
                    sgemm(true, false, g.inChannels, p, g.outChannels, 1, weight.value.data, g.inChannels,
                          dyi, p, 0, dx.data + i * dx.sampleCount, p)
                }
            }
            return dx
        }
        let np = n * p
        guard let colP = col?.data, let tmpP = product?.data else { preconditionFailure("backward before forward") }
        nchwToChannelMajor(dy.data, tmpP, batch: n, channels: g.outChannels, plane: p)
        for grp in 0..<g.groups {
            sgemm(false, true, g.outPerGroup, g.patch, np, 1, tmpP + grp * g.outPerGroup * np, np,
                  colP + grp * g.patch * np, np, 1, weight.grad.data + grp * g.outPerGroup * g.patch, g.patch)
        }
        guard needsInputGradient else { return x }
        let dx = ensure(&gradInput, x.shape, batch: n)
        // Reuse col for dcol: it is no longer needed once dW is done.
        for grp in 0..<g.groups {
            sgemm(true, false, g.patch, np, g.outPerGroup, 1, weight.value.data + grp * g.outPerGroup * g.patch, g.patch,
                  tmpP + grp * g.outPerGroup * np, np, 0, colP + grp * g.patch * np, np)
        }
        dx.zero()
        col2im(colP, batch: n, g, dx.data)
        return dx
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
