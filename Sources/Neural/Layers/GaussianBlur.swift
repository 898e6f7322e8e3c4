import Foundation

/// A separable Gaussian blur of one `height x width` plane with mirrored borders (PyTorch's
/// "reflect", folded again for a blur wider than the plane), taps out to three sigma summing
/// to one. Shared by the fixed input filters (`HighPass`, `AnomalyMap`).
struct GaussianBlur {
    let sigma: Double
    let height: Int, width: Int
    /// The normalized Gaussian, `2 * radius + 1` taps.
    let taps: [Float]
    let radius: Int
    /// Source column (row) of each padded position `-radius ..< side + radius`, mirrored.
    let columnMap: [Int32], rowMap: [Int32]

    init(sigma: Double, height: Int, width: Int) {
        self.sigma = sigma
        (self.height, self.width) = (height, width)
        (taps, radius) = Self.gaussian(sigma)
        columnMap = Self.mirror(width, radius: radius)
        rowMap = Self.mirror(height, radius: radius)
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

    /// Multiply-adds of one plane.
    var work: Int { height * width * taps.count * 2 }

    /// `out = V(H(src))`: the horizontal pass into `tmp`, the vertical one into `out` (`out`
    /// may be `src`; `tmp` is a separate plane). Each row is mirrored once into a padded row,
    /// so both passes run over contiguous memory, a tap at a time across the row
    /// (vectorized; a gather per tap and pixel took 1.1 ms of a 3x128x128 frame's 1.7).
    func apply(_ src: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, _ tmp: UnsafeMutablePointer<Float>) {
        let (h, w) = (height, width)
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

    /// `out = Hᵀ(Vᵀ(g))`, the adjoint of `apply` (the mirrored borders make it differ from
    /// the blur itself there).
    func adjoint(_ g: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, _ tmp: UnsafeMutablePointer<Float>) {
        let (h, w) = (height, width)
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
}
