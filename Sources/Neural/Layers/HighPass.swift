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
    /// Added to the root mean square before dividing: a flat image is not amplified into noise.
    public static let epsilon: Float = 0.05

    /// The normalized Gaussian, `2 * radius + 1` taps.
    let taps: [Float]
    let radius: Int
    /// Source column (row) of each padded position `-radius ..< side + radius`, mirrored.
    let columnMap: [Int32], rowMap: [Int32]
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
        (taps, radius) = Self.gaussian(sigma)
        columnMap = Self.mirror(input.width, radius: radius)
        rowMap = Self.mirror(input.height, radius: radius)
    }

    /// Taps out to three sigma, summing to one.
    static func gaussian(_ sigma: Double) -> ([Float], Int) {
        let r = Int((3 * sigma).rounded(.up))
        let w = (-r...r).map { exp(-Double($0 * $0) / (2 * sigma * sigma)) }
        let total = w.reduce(0, +)
        return (w.map { Float($0 / total) }, r)
    }

    /// Index `p - radius` of each padded position, mirrored into `0..<side`.
    static func mirror(_ side: Int, radius: Int) -> [Int32] {
        (0..<(side + 2 * radius)).map { Int32(mirrored($0 - radius, side)) }
    }

    var planeWork: Int { inputShape.height * inputShape.width * taps.count * 2 }

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
                blur(src, into: dst, tmp + worker * plane)
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

    /// `out = V(H(src))`: the horizontal pass into `tmp`, the vertical one into `out`. Each
    /// row is mirrored once into a padded row, so both passes run over contiguous memory, a
    /// tap at a time across the row (vectorized; a gather per tap and pixel took 1.1 ms of a
    /// 3x128x128 frame's 1.7). The sums keep the taps' order, so the result is unchanged.
    private func blur(_ src: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, _ tmp: UnsafeMutablePointer<Float>) {
        let (h, w) = (inputShape.height, inputShape.width)
        taps.withUnsafeBufferPointer { k in
            columnMap.withUnsafeBufferPointer { cm in
                withUnsafeTemporaryAllocation(of: Float.self, capacity: w + 2 * radius) { padded in
                    let p = padded.baseAddress!
                    for row in 0..<h {
                        let s = src + row * w, t = tmp + row * w
                        for i in 0..<(w + 2 * radius) { p[i] = s[Int(cm[i])] }
                        let k0 = k[0]
                        for col in 0..<w { t[col] = k0 * p[col] }
                        for j in 1..<k.count {
                            let kj = k[j], pj = p + j
                            for col in 0..<w { t[col] += kj * pj[col] }
                        }
                    }
                }
            }
            rowMap.withUnsafeBufferPointer { rm in
                for row in 0..<h {
                    let o = out + row * w
                    let t0 = tmp + Int(rm[row]) * w, k0 = k[0]
                    for col in 0..<w { o[col] = k0 * t0[col] }
                    for j in 1..<k.count {
                        let t = tmp + Int(rm[row + j]) * w, kj = k[j]
                        for col in 0..<w { o[col] += kj * t[col] }
                    }
                }
            }
        }
    }

    /// `out = Hᵀ(Vᵀ(g))`, the adjoint of `blur` (the mirrored borders make it differ from
    /// the blur itself there).
    private func blurAdjoint(_ g: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, _ tmp: UnsafeMutablePointer<Float>) {
        let (h, w) = (inputShape.height, inputShape.width)
        tmp.update(repeating: 0, count: h * w)
        out.update(repeating: 0, count: h * w)
        taps.withUnsafeBufferPointer { k in
            rowMap.withUnsafeBufferPointer { rm in
                for row in 0..<h {
                    for j in 0..<k.count {
                        let t = tmp + Int(rm[row + j]) * w, kj = k[j], gr = g + row * w
                        for col in 0..<w { t[col] += kj * gr[col] }
                    }
                }
            }
            columnMap.withUnsafeBufferPointer { cm in
                for row in 0..<h {
                    let t = tmp + row * w, o = out + row * w
                    for col in 0..<w {
                        for j in 0..<k.count { o[Int(cm[col + j])] += k[j] * t[col] }
                    }
                }
            }
        }
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
                blurAdjoint(p, into: tmp + plane, tmp)
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
