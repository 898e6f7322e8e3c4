/// Batch normalization over N, H, W per channel, as PyTorch's BatchNorm2d:
/// train mode normalizes with the batch's biased variance and updates running stats
/// (momentum 0.1, unbiased variance); eval mode uses the running stats.
/// Parameters `weight` (gamma) and `bias` (beta) `[C]`; buffers `running_mean`, `running_var`.
public final class BatchNorm2d: Layer {
    public let shape: Shape
    public let weight: Parameter
    public let bias: Parameter
    public let runningMean: Tensor
    public let runningVar: Tensor
    public var momentum: Float = 0.1
    public var epsilon: Float = 1e-5
    public var needsInputGradient = true
    public var outputShape: Shape { shape }

    private var input: Tensor?
    private var output: Tensor?
    private var gradInput: Tensor?
    private var mean: [Float]
    private var invStd: [Float]
    private var trainedLast = false

    public init(_ shape: Shape) {
        self.shape = shape
        let c = shape.channels
        weight = Parameter(name: "weight", Shape(c), count: 1, isNormOrBias: true)
        bias = Parameter(name: "bias", Shape(c), count: 1, isNormOrBias: true)
        weight.dims = [c]; bias.dims = [c]
        weight.value.fill(1)
        runningMean = Tensor(batch: 1, channels: c)
        runningVar = Tensor(batch: 1, channels: c)
        runningVar.fill(1)
        mean = Array(repeating: 0, count: c)
        invStd = Array(repeating: 1, count: c)
    }

    public var parameters: [Parameter] { [weight, bias] }
    public var buffers: [(String, Tensor)] { [("running_mean", runningMean), ("running_var", runningVar)] }

    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        input = x
        trainedLast = mode == .train
        let y = ensure(&output, shape, batch: x.batch)
        let n = x.batch, p = x.plane, cs = x.channels, m = n * p
        let gamma = weight.value.data, beta = bias.value.data
        let rm = runningMean.data, rv = runningVar.data
        mean.withUnsafeMutableBufferPointer { meanP in
            invStd.withUnsafeMutableBufferPointer { istdP in
                Parallel.forEachChunk(cs) { channels in
                    for c in channels {
                        if mode == .train {
                            var s = 0.0, ss = 0.0
                            for i in 0..<n {
                                let row = x.data + (i * cs + c) * p
                                let (a, b) = sumAndSquares(row, p)
                                s += Double(a); ss += Double(b)
                            }
                            let mu = s / Double(m)
                            let variance = max(0, ss / Double(m) - mu * mu)
                            meanP[c] = Float(mu)
                            istdP[c] = Float(1 / (variance + Double(epsilon)).squareRoot())
                            let unbiased = m > 1 ? variance * Double(m) / Double(m - 1) : variance
                            rm[c] = (1 - momentum) * rm[c] + momentum * Float(mu)
                            rv[c] = (1 - momentum) * rv[c] + momentum * Float(unbiased)
                        } else {
                            meanP[c] = rm[c]
                            istdP[c] = 1 / (rv[c] + epsilon).squareRoot()
                        }
                        let scale = gamma[c] * istdP[c], shift = beta[c] - meanP[c] * scale
                        for i in 0..<n {
                            let src = x.data + (i * cs + c) * p, dst = y.data + (i * cs + c) * p
                            for j in 0..<p { dst[j] = src[j] * scale + shift }
                        }
                    }
                }
            }
        }
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        guard let x = input else { preconditionFailure("backward before forward") }
        let n = x.batch, p = x.plane, cs = x.channels, m = Float(n * p)
        let dx = ensure(&gradInput, shape, batch: n)
        let gamma = weight.value.data, dgamma = weight.grad.data, dbeta = bias.grad.data
        let training = trainedLast, needDx = needsInputGradient
        mean.withUnsafeBufferPointer { meanP in
            invStd.withUnsafeBufferPointer { istdP in
                Parallel.forEachChunk(cs) { channels in
                    for c in channels {
                        let mu = meanP[c], istd = istdP[c]
                        var sumDy: Float = 0, sumDyXhat: Float = 0
                        for i in 0..<n {
                            let g = dy.data + (i * cs + c) * p, xr = x.data + (i * cs + c) * p
                            let (a, b) = centredSums(g, xr, mu: mu, p)
                            sumDy += a; sumDyXhat += b
                        }
                        sumDyXhat *= istd
                        dgamma[c] += sumDyXhat
                        dbeta[c] += sumDy
                        guard needDx else { continue }
                        let k = gamma[c] * istd
                        if !training {
                            for i in 0..<n {
                                let g = dy.data + (i * cs + c) * p, d = dx.data + (i * cs + c) * p
                                for j in 0..<p { d[j] = g[j] * k }
                            }
                            continue
                        }
                        let meanDy = sumDy / m, meanDyXhat = sumDyXhat / m
                        for i in 0..<n {
                            let g = dy.data + (i * cs + c) * p, xr = x.data + (i * cs + c) * p
                            let d = dx.data + (i * cs + c) * p
                            for j in 0..<p {
                                let xhat = (xr[j] - mu) * istd
                                d[j] = k * (g[j] - meanDy - xhat * meanDyXhat)
                            }
                        }
                    }
                }
            }
        }
        return dx
    }
}
