/// Sums over a row of floats in 16 lanes: the compiler keeps a float sum serial (it may
/// not reorder the additions), 4 cycles an element; these reorder them, which changes the
/// result by rounding only. Multiply and add stay separate: a fused `addProduct` is a
/// libm call per lane on the x86-64-v2 baseline the package compiles for. Naive twins:
/// `sumAndSquaresNaive`, `centredSumsNaive`.

/// (Σ x, Σ x²) over `count` floats.
@inline(__always)
func sumAndSquares(_ x: UnsafePointer<Float>, _ count: Int) -> (Float, Float) {
    typealias V = SIMD8<Float>
    var s0 = V(), s1 = V(), q0 = V(), q1 = V()
    var j = 0
    while j + 16 <= count {
        let a = UnsafeRawPointer(x + j).loadUnaligned(as: V.self), b = UnsafeRawPointer(x + j + 8).loadUnaligned(as: V.self)
        s0 += a; s1 += b
        q0 += a * a; q1 += b * b
        j += 16
    }
    var s = (s0 + s1).sum(), q = (q0 + q1).sum()
    while j < count { s += x[j]; q += x[j] * x[j]; j += 1 }
    return (s, q)
}

/// (Σ g, Σ g·(x − mu)) over `count` floats of `g` and `x`.
@inline(__always)
func centredSums(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, mu: Float, _ count: Int) -> (Float, Float) {
    typealias V = SIMD8<Float>
    var s0 = V(), s1 = V(), d0 = V(), d1 = V()
    let m = V(repeating: mu)
    var j = 0
    while j + 16 <= count {
        let ga = UnsafeRawPointer(g + j).loadUnaligned(as: V.self), gb = UnsafeRawPointer(g + j + 8).loadUnaligned(as: V.self)
        let xa = UnsafeRawPointer(x + j).loadUnaligned(as: V.self), xb = UnsafeRawPointer(x + j + 8).loadUnaligned(as: V.self)
        s0 += ga; s1 += gb
        d0 += ga * (xa - m); d1 += gb * (xb - m)
        j += 16
    }
    var s = (s0 + s1).sum(), d = (d0 + d1).sum()
    while j < count { s += g[j]; d += g[j] * (x[j] - mu); j += 1 }
    return (s, d)
}

func sumAndSquaresNaive(_ x: UnsafePointer<Float>, _ count: Int) -> (Double, Double) {
    var s = 0.0, q = 0.0
    for j in 0..<count { s += Double(x[j]); q += Double(x[j]) * Double(x[j]) }
    return (s, q)
}

func centredSumsNaive(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, mu: Float, _ count: Int) -> (Double, Double) {
    var s = 0.0, d = 0.0
    for j in 0..<count { s += Double(g[j]); d += Double(g[j]) * (Double(x[j]) - Double(mu)) }
    return (s, d)
}
