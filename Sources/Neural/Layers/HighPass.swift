import Foundation

/// A fixed input filter for small defects on textured surfaces: each channel minus its
/// Gaussian blur (`sigma` pixels, mirrored at the borders), the result divided by one root
/// mean square per image, over all its channels and pixels (plus `epsilon`). What is left is what differs from its
/// surroundings (a scratch, a pit, the edge of a stain) at the same scale on a dark part
/// and on a bright one; the slow shading of light and surface is gone. With `keepInput`
/// the input follows as further channels (2C out), for the colour of a whole part.
///
/// No parameters. The backward pass is exact (gradient-checked), though as a network's
/// first layer it is never asked for one in training.
public final class HighPass: Layer {
    public let sigma: Double
    public let keepInput: Bool
    public let inputShape: Shape
    public let outputShape: Shape
    public var needsInputGradient = true
    /// Symmetric blurs with mirrored borders and statistics of the whole image: mirroring commutes.
    public var commutesWithMirroring: Bool { true }
    /// Added to the root mean square before dividing: a flat image is not amplified into noise.
    public static let epsilon: Float = 0.05

    /// The blur the high-pass subtracts.
    let gaussian: GaussianBlur
    private var input: Tensor?
    private var output: Tensor?
    private var gradInput: Tensor?
    private var blurScratch: Tensor?
    /// Per image of the last forward: the root mean square the high-pass was divided by.
    private var rms: [Float] = []

    public init(_ input: Shape, sigma: Double, keepInput: Bool) {
        precondition(SpecLimits.highPassSigma.contains(sigma), "highpass sigma \(sigma) outside \(SpecLimits.highPassSigma)")
        self.sigma = sigma
        self.keepInput = keepInput
        inputShape = input
        outputShape = Shape(keepInput ? 2 * input.channels : input.channels, input.height, input.width)
        gaussian = GaussianBlur(sigma: sigma, height: input.height, width: input.width)
    }

    var planeWork: Int { gaussian.work }

    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        input = x
        let (c, h, w) = (inputShape.channels, inputShape.height, inputShape.width)
        let plane = h * w, n = c * plane
        let y = ensure(&output, outputShape, batch: x.batch)
        let threads = Compute.current().threads
        let tmp = scratch(&blurScratch, count: threads * plane)
        let xs = x.data, ys = y.data
        let outStride = outputShape.count
        // the high-pass of every plane, unscaled, into the first C output channels
        Parallel.forEachWorker(x.batch * c, workers: x.batch * c * planeWork < Compute.current().minimumParallelWork ? 1 : threads) { worker, r in
            for bc in r {
                let (b, ch) = bc.quotientAndRemainder(dividingBy: c)
                let src = xs + b * n + ch * plane, dst = ys + b * outStride + ch * plane
                gaussian.apply(src, into: dst, tmp + worker * plane)
                for i in 0..<plane { dst[i] = src[i] - dst[i] }
            }
        }
        if rms.count != x.batch { rms = Array(repeating: 0, count: x.batch) }
        for b in 0..<x.batch {
            let dst = ys + b * outStride
            // four running sums (a single one is a chain of dependent adds, 4 cycles an element)
            var s4 = SIMD4<Double>()
            var i = 0
            while i + 4 <= n {
                let v = SIMD4<Double>(Double(dst[i]), Double(dst[i + 1]), Double(dst[i + 2]), Double(dst[i + 3]))
                s4 += v * v
                i += 4
            }
            var sum = s4.sum()
            while i < n { sum += Double(dst[i]) * Double(dst[i]); i += 1 }
            let s = Float((sum / Double(n)).squareRoot())
            rms[b] = s
            let a = 1 / (s + Self.epsilon)
            for i in 0..<n { dst[i] *= a }
            if keepInput { (dst + n).update(from: xs + b * n, count: n) }
        }
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        guard let x = input, let y = output else { preconditionFailure("backward before forward") }
        guard needsInputGradient else { return x }
        let (c, h, w) = (inputShape.channels, inputShape.height, inputShape.width)
        let plane = h * w, n = c * plane, outStride = outputShape.count
        let dx = ensure(&gradInput, inputShape, batch: x.batch)
        let tmp = scratch(&blurScratch, count: 2 * plane)
        let g = dy.data, ys = y.data, d = dx.data
        for b in 0..<x.batch {
            // y = hp * a with a = 1 / (s + eps), s = sqrt(mean(hp^2)):
            // dL/dhp = a * gy - hp * a^2 * (gy . hp) / (n * s) = a * gy - y * (gy . y) / (n * s)
            let gy = g + b * outStride, yb = ys + b * outStride, db = d + b * n
            let s = rms[b], a = 1 / (s + Self.epsilon)
            var dot: Double = 0
            for i in 0..<n { dot += Double(gy[i]) * Double(yb[i]) }
            let k = s > 0 ? Float(dot) / (Float(n) * s) : 0
            for i in 0..<n { db[i] = a * gy[i] - yb[i] * k }
            // through hp = x - blur(x): dL/dx = ghp - blurᵀ(ghp)
            for ch in 0..<c {
                let p = db + ch * plane
                gaussian.adjoint(p, into: tmp + plane, tmp)
                for i in 0..<plane { p[i] -= tmp[plane + i] }
            }
            if keepInput {
                for i in 0..<n { db[i] += gy[n + i] }
            }
        }
        return dx
    }
}

/// `i` mirrored into `0..<n` (PyTorch's "reflect": the edge pixel is not repeated, -1 -> 1),
/// folding again as often as needed, for any `i`.
@inlinable @inline(__always)
public func mirrored(_ i: Int, _ n: Int) -> Int {
    guard n > 1 else { return 0 }
    let period = 2 * (n - 1)
    var m = i % period
    if m < 0 { m += period }
    return m < n ? m : period - m
}
