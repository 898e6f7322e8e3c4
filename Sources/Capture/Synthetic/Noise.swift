/// Deterministic noise for the synthetic generator: the same seed and coordinates
/// always give the same value, on every machine and thread.

/// A 64-bit mix of integers (SplitMix64 finalizer).
@inline(__always)
func mix(_ a: UInt64, _ b: UInt64 = 0, _ c: UInt64 = 0) -> UInt64 {
    var z = a &* 0x9E37_79B9_7F4A_7C15 ^ b &* 0xC2B2_AE3D_27D4_EB4F ^ c &* 0x1656_67B1_9E37_79F9
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}

/// Hash of a lattice point to [0, 1).
@inline(__always)
func lattice(_ x: Int, _ y: Int, _ seed: UInt64) -> Float {
    Float(mix(seed, UInt64(bitPattern: Int64(x)), UInt64(bitPattern: Int64(y))) >> 40) / Float(1 << 24)
}

/// Smooth value noise in [0, 1): lattice values blended with a smoothstep.
func valueNoise(_ x: Float, _ y: Float, _ seed: UInt64) -> Float {
    let xf = x.rounded(.down), yf = y.rounded(.down)
    let xi = Int(xf), yi = Int(yf)
    var tx = x - xf, ty = y - yf
    tx = tx * tx * (3 - 2 * tx)
    ty = ty * ty * (3 - 2 * ty)
    let a = lattice(xi, yi, seed), b = lattice(xi + 1, yi, seed)
    let c = lattice(xi, yi + 1, seed), d = lattice(xi + 1, yi + 1, seed)
    return (a + (b - a) * tx) + ((c + (d - c) * tx) - (a + (b - a) * tx)) * ty
}

/// Fractal sum of `octaves` value-noise layers, roughly in [0, 1).
func fbm(_ x: Float, _ y: Float, octaves: Int, _ seed: UInt64) -> Float {
    var sum: Float = 0, amplitude: Float = 0.5, frequency: Float = 1, norm: Float = 0
    for o in 0..<octaves {
        sum += amplitude * valueNoise(x * frequency, y * frequency, seed &+ UInt64(o))
        norm += amplitude
        amplitude *= 0.5
        frequency *= 2
    }
    return sum / norm
}

/// A small seeded random generator for the decisions behind one sample.
struct Dice {
    private var state: UInt64

    init(_ seed: UInt64, _ stream: UInt64) { state = mix(seed, stream, 0x5EED) }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return mix(state)
    }

    /// Uniform in [lo, hi).
    mutating func uniform(_ lo: Float, _ hi: Float) -> Float {
        lo + (hi - lo) * Float(next() >> 40) / Float(1 << 24)
    }

    /// Uniform integer in lo...hi.
    mutating func int(_ lo: Int, _ hi: Int) -> Int { lo + Int(next() % UInt64(hi - lo + 1)) }

    mutating func chance(_ p: Double) -> Bool { Double(next() >> 11) / Double(1 << 53) < p }
}
