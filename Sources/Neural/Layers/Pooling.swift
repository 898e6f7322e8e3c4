/// Max pooling over k x k windows (padding counts as -infinity), as PyTorch's MaxPool2d.
public final class MaxPool2d: Layer {
    public let geometry: ConvGeometry
    public var needsInputGradient = true
    public var outputShape: Shape { Shape(geometry.inChannels, geometry.outHeight, geometry.outWidth) }
    private var input: Tensor?
    private var output: Tensor?
    private var gradInput: Tensor?
    private var argmax: [Int32] = []

    /// `g`'s padding at most half its kernel (as PyTorch requires): every window holds a cell.
    public init(_ g: ConvGeometry) {
        precondition(2 * g.padding <= g.kernelH && 2 * g.padding <= g.kernelW, "max pool padding over half its kernel")
        geometry = g
    }

    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        input = x
        let g = geometry, y = ensure(&output, outputShape, batch: x.batch)
        let planes = x.batch * g.inChannels, op = g.outPlane
        if mode == .eval {
            // No gradient to route: a running maximum over the window's rows and columns,
            // each pass a branch-free loop over the output row.
            Parallel.forEachChunk(planes, work: planes * op * g.kernelH * g.kernelW) { range in
                for pl in range { maxPlane(x.data + pl * g.inPlane, y.data + pl * op) }
            }
            return y
        }
        if argmax.count < planes * op { argmax = Array(repeating: 0, count: planes * op) }
        argmax.withUnsafeMutableBufferPointer { idx in
            Parallel.forEachChunk(planes) { range in
                for pl in range {
                    let src = x.data + pl * g.inPlane, dst = y.data + pl * op
                    for oy in 0..<g.outHeight {
                        // the window clipped to the image, so the loops test no bounds
                        let y0 = oy * g.stride - g.padding
                        let rows = max(0, -y0)..<min(g.kernelH, g.inHeight - y0)
                        for ox in 0..<g.outWidth {
                            let x0 = ox * g.stride - g.padding
                            let cols = max(0, -x0)..<min(g.kernelW, g.inWidth - x0)
                            // the first cell in the window, then any strictly greater one, chosen
                            // without a branch (a data-dependent branch mispredicts half the time)
                            var at = (y0 + rows.lowerBound) * g.inWidth + x0 + cols.lowerBound
                            var best = src[at]
                            for ki in rows {
                                let row = (y0 + ki) * g.inWidth + x0
                                for kj in cols {
                                    let v = src[row + kj], greater = v > best
                                    best = greater ? v : best
                                    at = greater ? row + kj : at
                                }
                            }
                            dst[oy * g.outWidth + ox] = best
                            idx[pl * op + oy * g.outWidth + ox] = Int32(at)
                        }
                    }
                }
            }
        }
        return y
    }

    /// One plane's maxima (the evaluation path; the training path above is its twin): per
    /// output row, the maximum over the window's input rows (contiguous), then over each
    /// window's columns.
    @inline(__always)
    private func maxPlane(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>) {
        let g = geometry, s = g.stride, w = g.inWidth, kw = g.kernelW
        // the column maxima with `padding` cells of -infinity on the left and enough on the right
        let width = g.padding + w + kw + s * g.outWidth
        withUnsafeTemporaryAllocation(of: Float.self, capacity: width) { buf in
            let padded = buf.baseAddress!, column = padded + g.padding
            for oy in 0..<g.outHeight {
                padded.update(repeating: -.infinity, count: width)
                for ki in 0..<g.kernelH {
                    let iy = oy * s - g.padding + ki
                    guard iy >= 0 && iy < g.inHeight else { continue }
                    let row = src + iy * w
                    for ix in 0..<w { column[ix] = max(column[ix], row[ix]) }
                }
                let out = dst + oy * g.outWidth
                if kw == 3 {
                    for ox in 0..<g.outWidth {
                        let p = padded + ox * s
                        out[ox] = max(max(p[0], p[1]), p[2])
                    }
                } else {
                    for ox in 0..<g.outWidth {
                        let p = padded + ox * s
                        var best = p[0]
                        for kj in 1..<kw { best = max(best, p[kj]) }
                        out[ox] = best
                    }
                }
            }
        }
    }

    public func backward(_ dy: Tensor) -> Tensor {
        guard let x = input else { preconditionFailure("backward before forward") }
        let g = geometry, dx = ensure(&gradInput, x.shape, batch: x.batch)
        dx.zero()
        let op = g.outPlane
        argmax.withUnsafeBufferPointer { idx in
            for pl in 0..<(x.batch * g.inChannels) {
                let d = dx.data + pl * g.inPlane, grad = dy.data + pl * op
                for i in 0..<op { d[Int(idx[pl * op + i])] += grad[i] }
            }
        }
        return dx
    }
}

/// Average pooling over k x k windows, padding counted in the divisor
/// (PyTorch's AvgPool2d default, count_include_pad=True).
public final class AvgPool2d: Layer {
    public let geometry: ConvGeometry
    public var needsInputGradient = true
    public var outputShape: Shape { Shape(geometry.inChannels, geometry.outHeight, geometry.outWidth) }
    private var input: Tensor?
    private var output: Tensor?
    private var gradInput: Tensor?

    public init(_ g: ConvGeometry) { geometry = g }

    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        input = x
        let g = geometry, y = ensure(&output, outputShape, batch: x.batch)
        let scale = 1 / Float(g.kernelH * g.kernelW)
        Parallel.forEachChunk(x.batch * g.inChannels) { range in
            for pl in range {
                let src = x.data + pl * g.inPlane, dst = y.data + pl * g.outPlane
                for oy in 0..<g.outHeight {
                    for ox in 0..<g.outWidth {
                        var acc: Float = 0
                        for ki in 0..<g.kernelH {
                            let iy = oy * g.stride - g.padding + ki
                            if iy < 0 || iy >= g.inHeight { continue }
                            for kj in 0..<g.kernelW {
                                let ix = ox * g.stride - g.padding + kj
                                if ix >= 0 && ix < g.inWidth { acc += src[iy * g.inWidth + ix] }
                            }
                        }
                        dst[oy * g.outWidth + ox] = acc * scale
                    }
                }
            }
        }
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        guard let x = input else { preconditionFailure("backward before forward") }
        let g = geometry, dx = ensure(&gradInput, x.shape, batch: x.batch)
        dx.zero()
        let scale = 1 / Float(g.kernelH * g.kernelW)
        Parallel.forEachChunk(x.batch * g.inChannels) { range in
            for pl in range {
                let d = dx.data + pl * g.inPlane, grad = dy.data + pl * g.outPlane
                for oy in 0..<g.outHeight {
                    for ox in 0..<g.outWidth {
                        let v = grad[oy * g.outWidth + ox] * scale
                        for ki in 0..<g.kernelH {
                            let iy = oy * g.stride - g.padding + ki
                            if iy < 0 || iy >= g.inHeight { continue }
                            for kj in 0..<g.kernelW {
                                let ix = ox * g.stride - g.padding + kj
                                if ix >= 0 && ix < g.inWidth { d[iy * g.inWidth + ix] += v }
                            }
                        }
                    }
                }
            }
        }
        return dx
    }
}

/// Mean over each channel's plane: `[N, C, H, W]` -> `[N, C, 1, 1]`.
public final class GlobalAvgPool: Layer {
    public let inputShape: Shape
    public var needsInputGradient = true
    public var outputShape: Shape { Shape(inputShape.channels) }
    private var input: Tensor?
    private var output: Tensor?
    private var gradInput: Tensor?

    public init(_ shape: Shape) { inputShape = shape }

    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        input = x
        let y = ensure(&output, outputShape, batch: x.batch), p = x.plane
        let scale = 1 / Float(p)
        for i in 0..<(x.batch * x.channels) {
            let src = x.data + i * p
            var acc: Float = 0
            for j in 0..<p { acc += src[j] }
            y.data[i] = acc * scale
        }
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        guard let x = input else { preconditionFailure("backward before forward") }
        let dx = ensure(&gradInput, inputShape, batch: x.batch), p = x.plane
        let scale = 1 / Float(p)
        for i in 0..<(x.batch * x.channels) {
            let v = dy.data[i] * scale, d = dx.data + i * p
            for j in 0..<p { d[j] = v }
        }
        return dx
    }
}

/// Global average and global max pooling side by side: for each sample, C means then C
/// maxima. Backward spreads the mean's gradient over the map and routes the maximum's
/// to the first position that held it.
public final class GlobalAvgMaxPool: Layer {
    public let inputShape: Shape
    public var needsInputGradient = true
    public var outputShape: Shape { Shape(2 * inputShape.channels) }
    private var input: Tensor?
    private var output: Tensor?
    private var gradInput: Tensor?
    private var argmax: [Int] = []

    public init(_ shape: Shape) { inputShape = shape }

    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        input = x
        let y = ensure(&output, outputShape, batch: x.batch), p = x.plane, c = x.channels
        let scale = 1 / Float(p)
        if argmax.count != x.batch * c { argmax = [Int](repeating: 0, count: x.batch * c) }
        for n in 0..<x.batch {
            for k in 0..<c {
                let src = x.data + (n * c + k) * p
                let (acc, best, at) = sumAndMax(src, p)
                y.data[n * 2 * c + k] = acc * scale
                y.data[n * 2 * c + c + k] = best
                argmax[n * c + k] = at
            }
        }
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        guard let x = input else { preconditionFailure("backward before forward") }
        let dx = ensure(&gradInput, inputShape, batch: x.batch), p = x.plane, c = x.channels
        let scale = 1 / Float(p)
        for n in 0..<x.batch {
            for k in 0..<c {
                let v = dy.data[n * 2 * c + k] * scale, d = dx.data + (n * c + k) * p
                for j in 0..<p { d[j] = v }
                d[argmax[n * c + k]] += dy.data[n * 2 * c + c + k]
            }
        }
        return dx
    }
}

/// Global average and global peak pooling: for each sample, C means, then C standard scores
/// of the maximum, z = (max - mean) / sqrt(var + eps) over the map. Backward:
/// dz/dx_i = ([i = argmax] - 1/P) / s - z (x_i - mean) / (P s^2), s = sqrt(var + eps).
public final class GlobalAvgPeakPool: Layer {
    public let inputShape: Shape
    public var needsInputGradient = true
    public var outputShape: Shape { Shape(2 * inputShape.channels) }
    /// Keeps a flat map (a channel the image does not excite) from scoring a huge peak.
    public static let epsilon: Float = 1e-3
    private var input: Tensor?
    private var output: Tensor?
    private var gradInput: Tensor?
    private var argmax: [Int] = []
    private var stats: [(mean: Float, s: Float)] = []

    public init(_ shape: Shape) { inputShape = shape }

    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        input = x
        let y = ensure(&output, outputShape, batch: x.batch), p = x.plane, c = x.channels
        let scale = 1 / Float(p)
        if argmax.count != x.batch * c {
            argmax = [Int](repeating: 0, count: x.batch * c)
            stats = [(Float, Float)](repeating: (0, 1), count: x.batch * c)
        }
        for n in 0..<x.batch {
            for k in 0..<c {
                let src = x.data + (n * c + k) * p
                let (acc, best, at) = sumAndMax(src, p)
                let mean = acc * scale
                var sq: Float = 0
                for j in 0..<p { let d = src[j] - mean; sq += d * d }
                let s = (sq * scale + Self.epsilon).squareRoot()
                y.data[n * 2 * c + k] = mean
                y.data[n * 2 * c + c + k] = (best - mean) / s
                argmax[n * c + k] = at
                stats[n * c + k] = (mean, s)
            }
        }
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        guard let x = input, let y = output else { preconditionFailure("backward before forward") }
        let dx = ensure(&gradInput, inputShape, batch: x.batch), p = x.plane, c = x.channels
        let scale = 1 / Float(p)
        for n in 0..<x.batch {
            for k in 0..<c {
                let (mean, s) = stats[n * c + k]
                let gAvg = dy.data[n * 2 * c + k], gz = dy.data[n * 2 * c + c + k], z = y.data[n * 2 * c + c + k]
                let src = x.data + (n * c + k) * p, d = dx.data + (n * c + k) * p
                let constant = gAvg * scale - gz * scale / s, slope = gz * z * scale / (s * s)
                for j in 0..<p { d[j] = constant - slope * (src[j] - mean) }
                d[argmax[n * c + k]] += gz / s
            }
        }
        return dx
    }
}

/// The sum of `count` floats, their maximum and its first position.
@inline(__always)
private func sumAndMax(_ src: UnsafeMutablePointer<Float>, _ count: Int) -> (sum: Float, max: Float, at: Int) {
    var acc: Float = 0, best = src[0], at = 0
    for j in 0..<count {
        let v = src[j]
        acc += v
        if v > best { best = v; at = j }
    }
    return (acc, best, at)
}
