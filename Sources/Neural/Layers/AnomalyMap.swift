import Foundation

/// A fixed input filter that marks what does not belong to the surface: the input, then one
/// more channel, each pixel's distance from the image's own surface (C + 1 out).
///
/// A defect is a local irregularity of its own surface, and on twenty textures a network
/// trained from a few hundred labelled defects learns the textures rather than that. This
/// layer measures it without learning: every pixel gets a small description of its
/// neighbourhood (colour, fine detail, its strength, a band of coarser detail, ridges and
/// blobs at two scales, the local gradient structure), a Gaussian is fitted to the
/// descriptions of all the image's pixels, and each pixel scores its Mahalanobis
/// distance from it (per-image PaDiM-like statistics, no training, no reference images).
/// A stain of another colour, a scratch across a grain or a pit on slate stands out of its
/// own picture, whatever the surface is. The network learns what to make of the map.
///
/// Each channel is first brought to local contrast (minus its blur, over the local standard
/// deviation plus a tenth of the channel's own), so the map is the same for any brightness,
/// contrast or normalization of the input, and shading and vignetting are gone.
/// The map is `log(1 + d²)` smoothed, minus `log(1 + F)` (F descriptors: a pixel at the
/// surface's typical distance scores about 0).
///
/// No parameters, and no gradient through the map: it is a network's first layer
/// (`NetworkSpec.plan` refuses it elsewhere).
public final class AnomalyMap: Layer {
    public let inputShape: Shape
    public let outputShape: Shape
    public var needsInputGradient = true
    /// Symmetric blurs with mirrored borders and statistics of the whole image: mirroring commutes.
    public var commutesWithMirroring: Bool { true }
    /// Descriptors per pixel: 3 per input channel, 4 of ridges and blobs, 3 of gradients.
    public let descriptors: Int
    /// Local contrast; fine colour; the detail's blur; the energy (and final) blur; the band's
    /// coarse blur; the ridge scales.
    let local: GaussianBlur, fine: GaussianBlur, detail: GaussianBlur, energy: GaussianBlur, band: GaussianBlur, ridge: GaussianBlur
    private var output: Tensor?
    private var work: Tensor?
    private var gradInput: Tensor?

    /// The share of a channel's standard deviation added to its local one before dividing:
    /// a flat patch is not amplified into noise.
    public static let contrastFloor: Float = 0.1
    /// Added to the covariance's diagonal, relative to its mean variance: descriptors that
    /// never vary (a gray image's three equal channels) do not make it singular.
    public static let ridgeShare = 1e-4
    /// And this much absolutely (descriptors are in units of local contrast, about 1 on a
    /// surface): the rounding noise of a flat image is not blown up into a map.
    public static let ridgeFloor = 1e-6

    public init(_ input: Shape) {
        inputShape = input
        outputShape = Shape(input.channels + 1, input.height, input.width)
        descriptors = 3 * input.channels + 7
        let (h, w) = (input.height, input.width)
        local = GaussianBlur(sigma: 8, height: h, width: w)
        fine = GaussianBlur(sigma: 1.5, height: h, width: w)
        detail = GaussianBlur(sigma: 3, height: h, width: w)
        energy = GaussianBlur(sigma: 2, height: h, width: w)
        band = GaussianBlur(sigma: 6, height: h, width: w)
        ridge = GaussianBlur(sigma: 1, height: h, width: w)
    }

    /// Planes of scratch one image needs: C normalized, F descriptors, gray, three temporaries.
    private var planesPerImage: Int { inputShape.channels + descriptors + 4 }

    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        let (c, plane) = (inputShape.channels, inputShape.height * inputShape.width)
        let y = ensure(&output, outputShape, batch: x.batch)
        let workers = min(Compute.current().threads, x.batch)
        let scratchPlanes = planesPerImage * plane
        let buffer = scratch(&work, count: workers * scratchPlanes)
        let xs = x.data, ys = y.data, n = c * plane, outStride = outputShape.count
        Parallel.forEachWorker(x.batch, workers: workers) { worker, r in
            for b in r {
                let dst = ys + b * outStride
                dst.update(from: xs + b * n, count: n)
                map(xs + b * n, into: dst + n, buffer + worker * scratchPlanes)
            }
        }
        return y
    }

    /// The gradient of the input's copy only: the map is held constant (a network's first
    /// layer is never asked for its input gradient in training; a saliency map may be).
    public func backward(_ dy: Tensor) -> Tensor {
        guard needsInputGradient else { return dy }
        let n = inputShape.count, outStride = outputShape.count
        let dx = ensure(&gradInput, inputShape, batch: dy.batch)
        for b in 0..<dy.batch { (dx.data + b * n).update(from: dy.data + b * outStride, count: n) }
        return dx
    }

    /// The map of one image (`src`: C planes) into `out` (one plane).
    func map(_ src: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, _ buffer: UnsafeMutablePointer<Float>) {
        let (c, h, w) = (inputShape.channels, inputShape.height, inputShape.width)
        let plane = h * w, f = descriptors
        let norm = buffer, desc = buffer + c * plane, gray = desc + f * plane
        let t1 = gray + plane, t2 = t1 + plane, tmp = t2 + plane
        gray.update(repeating: 0, count: plane)
        for ch in 0..<c {
            let s = src + ch * plane, xn = norm + ch * plane
            // local contrast: (x - blur) / (sqrt(blur((x - blur)^2)) + floor * std)
            var sum = 0.0, sq = 0.0
            for i in 0..<plane { let v = Double(s[i]); sum += v; sq += v * v }
            let mean = sum / Double(plane)
            let std = Float(max(0, sq / Double(plane) - mean * mean).squareRoot())
            local.apply(s, into: t1, tmp)
            for i in 0..<plane { let d = s[i] - t1[i]; xn[i] = d; t2[i] = d * d }
            local.apply(t2, into: t2, tmp)
            let floor = Self.contrastFloor * std + 1e-6
            for i in 0..<plane { xn[i] /= max(0, t2[i]).squareRoot() + floor }
            // colour, detail energy, band
            let colour = desc + ch * plane, strength = desc + (c + ch) * plane, coarse = desc + (2 * c + ch) * plane
            fine.apply(xn, into: colour, tmp)
            detail.apply(xn, into: t1, tmp)
            for i in 0..<plane { let d = xn[i] - t1[i]; t1[i] = d * d }
            energy.apply(t1, into: strength, tmp)
            for i in 0..<plane { strength[i] = max(0, strength[i]).squareRoot() }
            band.apply(xn, into: t1, tmp)
            for i in 0..<plane { coarse[i] = colour[i] - t1[i] }
            let share = 1 / Float(c)
            for i in 0..<plane { gray[i] += share * xn[i] }
        }
        // ridges and blobs of the gray image at two scales: the Hessian's trace and the
        // difference of its eigenvalues, scaled by sigma^2
        for (k, blur) in [ridge, energy].enumerated() {
            blur.apply(gray, into: t1, tmp)
            let s2 = Float(blur.sigma * blur.sigma)
            let trace = desc + (3 * c + 2 * k) * plane, anisotropy = trace + plane
            hessian(t1, trace: trace, anisotropy: anisotropy, t2, tmp, scale: s2)
        }
        // the gradient's structure: blurred gx^2, gy^2, gx*gy
        let gxx = desc + (3 * c + 4) * plane, gyy = gxx + plane, gxy = gyy + plane
        Self.differentiate(gray, dx: t1, dy: t2, h, w)
        for i in 0..<plane { gxx[i] = t1[i] * t1[i]; gyy[i] = t2[i] * t2[i]; gxy[i] = t1[i] * t2[i] }
        for p in [gxx, gyy, gxy] { energy.apply(p, into: p, tmp) }
        mahalanobis(desc, into: out, t1, tmp)
    }

    /// Writes the Hessian's trace and eigenvalue difference of `g` (times `scale`); `t` and
    /// `tmp` are two more planes (`g` is overwritten).
    private func hessian(_ g: UnsafeMutablePointer<Float>, trace: UnsafeMutablePointer<Float>, anisotropy: UnsafeMutablePointer<Float>,
                         _ t: UnsafeMutablePointer<Float>, _ tmp: UnsafeMutablePointer<Float>, scale: Float) {
        let (h, w) = (inputShape.height, inputShape.width), plane = h * w
        // gx into trace, gy into t; then gxx into anisotropy, gxy into tmp, gyy into g
        Self.differentiate(g, dx: trace, dy: t, h, w)
        Self.differentiate(trace, dx: anisotropy, dy: tmp, h, w)
        Self.differentiate(t, dx: nil, dy: g, h, w)
        for i in 0..<plane {
            let xx = anisotropy[i], yy = g[i], xy = tmp[i]
            trace[i] = scale * (xx + yy)
            let d = xx - yy
            anisotropy[i] = scale * (d * d + 4 * xy * xy).squareRoot()
        }
    }

    /// Central differences, the edge pixel repeated at the borders.
    static func differentiate(_ g: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>?, dy: UnsafeMutablePointer<Float>?, _ h: Int, _ w: Int) {
        for row in 0..<h {
            let up = g + max(row - 1, 0) * w, down = g + min(row + 1, h - 1) * w, r = g + row * w
            if let dy { for col in 0..<w { dy[row * w + col] = 0.5 * (down[col] - up[col]) } }
            if let dx {
                for col in 0..<w { dx[row * w + col] = 0.5 * (r[min(col + 1, w - 1)] - r[max(col - 1, 0)]) }
            }
        }
    }

    /// Fits the Gaussian of the descriptors over all pixels and writes every pixel's
    /// smoothed log squared Mahalanobis distance into `out`. `desc` is centered in place.
    private func mahalanobis(_ desc: UnsafeMutablePointer<Float>, into out: UnsafeMutablePointer<Float>,
                             _ acc: UnsafeMutablePointer<Float>, _ tmp: UnsafeMutablePointer<Float>) {
        let (h, w) = (inputShape.height, inputShape.width), plane = h * w, f = descriptors
        let count = Double(plane)
        var mean = [Double](repeating: 0, count: f)
        for j in 0..<f {
            let p = desc + j * plane
            mean[j] = Self.dot(p, nil, plane) / count
            let m = Float(mean[j])
            for i in 0..<plane { p[i] -= m }
        }
        // the covariance, row by row in Float, summed in Double
        var cov = [Double](repeating: 0, count: f * f)
        for a in 0..<f {
            for b in 0...a {
                let pa = desc + a * plane, pb = desc + b * plane
                let total = Self.dot(pa, pb, plane)
                cov[a * f + b] = total / count
                cov[b * f + a] = total / count
            }
        }
        let inverse = Self.inverseCholeskyFactor(cov, f, ridgeShare: Self.ridgeShare, ridgeFloor: Self.ridgeFloor)
        // d^2 = |L^-1 (x - mean)|^2, accumulated a row of L^-1 at a time over all pixels
        out.update(repeating: 0, count: plane)
        for a in 0..<f {
            acc.update(repeating: 0, count: plane)
            for b in 0...a {
                let l = Float(inverse[a * f + b]), p = desc + b * plane
                if l == 0 { continue }
                for i in 0..<plane { acc[i] += l * p[i] }
            }
            for i in 0..<plane { out[i] += acc[i] * acc[i] }
        }
        energy.apply(out, into: out, tmp)
        let offset = Float(log1p(Double(f)))
        for i in 0..<plane { out[i] = log1p(max(0, out[i])) - offset }
    }

    /// The sum of `a[i] * b[i]` (of `a[i]` without `b`): eight lanes in Float over blocks of
    /// 256, the blocks summed in Double (a single running sum is a chain of dependent adds).
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>?, _ n: Int) -> Double {
        let ra = UnsafeRawPointer(a), rb = b.map(UnsafeRawPointer.init)
        var total = 0.0, i = 0
        while i < n {
            let end = min(n, i + 256)
            var acc = SIMD8<Float>()
            while i + 8 <= end {
                let x = ra.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
                acc += rb.map { x * $0.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self) } ?? x
                i += 8
            }
            var rest: Float = 0
            while i < end { rest += a[i] * (b?[i] ?? 1); i += 1 }
            total += Double(acc.sum() + rest)
        }
        return total
    }

    /// L⁻¹ (row-major, lower triangular) of the Cholesky factor of `cov + ridge I`, the ridge
    /// `ridgeShare` of the mean variance plus `ridgeFloor` (raised tenfold until the factor exists).
    static func inverseCholeskyFactor(_ cov: [Double], _ f: Int, ridgeShare: Double, ridgeFloor: Double) -> [Double] {
        let trace = (0..<f).reduce(0.0) { $0 + cov[$1 * f + $1] }
        var ridge = ridgeShare * max(trace / Double(f), 0) + ridgeFloor
        while true {
            var l = [Double](repeating: 0, count: f * f)
            var ok = ridge.isFinite
            for i in 0..<f where ok {
                for j in 0...i {
                    var s = cov[i * f + j] + (i == j ? ridge : 0)
                    for k in 0..<j { s -= l[i * f + k] * l[j * f + k] }
                    if i == j {
                        guard s > 0, s.isFinite else { ok = false; break }
                        l[i * f + i] = s.squareRoot()
                    } else {
                        l[i * f + j] = s / l[j * f + j]
                    }
                }
            }
            if ok {
                // invert the lower triangle by forward substitution, column by column
                var inv = [Double](repeating: 0, count: f * f)
                for col in 0..<f {
                    for i in col..<f {
                        var s = i == col ? 1.0 : 0.0
                        for k in col..<i { s -= l[i * f + k] * inv[k * f + col] }
                        inv[i * f + col] = s / l[i * f + i]
                    }
                }
                return inv
            }
            // not finite (a NaN pixel) or not positive: a wider ridge, or no map at all
            guard ridge.isFinite, ridge < 1e30 else { return [Double](repeating: 0, count: f * f) }
            ridge *= 10
        }
    }
}
