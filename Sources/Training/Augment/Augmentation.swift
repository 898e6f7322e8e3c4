import Foundation
import Neural

/// Random, label-preserving image changes for training. All off by default.
/// Values are applied on pixels in [0, 1], before normalization.
public struct Augmentation: Codable, Equatable, Sendable {
    /// Random crop after zero-padding each side by this many pixels (a random shift).
    public var cropPadding: Int = 0
    public var horizontalFlip = false
    public var verticalFlip = false
    /// Rotation by a uniform angle in [-degrees, +degrees], bilinear, zero outside.
    public var rotationDegrees: Float = 0
    /// Additive brightness shift, uniform in [-b, +b].
    public var brightness: Float = 0
    /// Contrast factor, uniform in [1 - c, 1 + c], around the sample's mean.
    public var contrast: Float = 0
    /// Standard deviation of added Gaussian noise.
    public var noiseStd: Float = 0

    public init(cropPadding: Int = 0, horizontalFlip: Bool = false, verticalFlip: Bool = false,
                rotationDegrees: Float = 0, brightness: Float = 0, contrast: Float = 0, noiseStd: Float = 0) {
        self.cropPadding = cropPadding; self.horizontalFlip = horizontalFlip; self.verticalFlip = verticalFlip
        self.rotationDegrees = rotationDegrees; self.brightness = brightness; self.contrast = contrast
        self.noiseStd = noiseStd
    }

    public static let none = Augmentation()
    public var isIdentity: Bool { self == .none }
}

/// Per-channel normalization applied to every batch: x' = (x - mean) / std.
public struct Normalization: Codable, Equatable, Sendable {
    public var mean: [Float]
    public var std: [Float]

    public init(mean: [Float], std: [Float]) {
        self.mean = mean
        self.std = std
    }

    public static func identity(channels: Int) -> Normalization {
        Normalization(mean: Array(repeating: 0, count: channels), std: Array(repeating: 1, count: channels))
    }
}

/// The random draws for one sample.
struct SampleDraw {
    var shiftX = 0, shiftY = 0
    var flipH = false, flipV = false
    var angle: Float = 0
    var brightness: Float = 0, contrast: Float = 1

    init(_ a: Augmentation, _ rng: inout SeededGenerator) {
        if a.cropPadding > 0 {
            shiftX = rng.below(2 * a.cropPadding + 1) - a.cropPadding
            shiftY = rng.below(2 * a.cropPadding + 1) - a.cropPadding
        }
        if a.horizontalFlip { flipH = rng.uniform() < 0.5 }
        if a.verticalFlip { flipV = rng.uniform() < 0.5 }
        if a.rotationDegrees > 0 { angle = rng.uniform(-a.rotationDegrees, a.rotationDegrees) * .pi / 180 }
        if a.brightness > 0 { brightness = rng.uniform(-a.brightness, a.brightness) }
        if a.contrast > 0 { contrast = rng.uniform(1 - a.contrast, 1 + a.contrast) }
    }
}

/// Writes one sample (bytes `[C, H, W]`) into `out` as normalized floats, augmented.
func renderSample(_ src: UnsafePointer<UInt8>, _ shape: Shape, _ out: UnsafeMutablePointer<Float>,
                  _ a: Augmentation, _ norm: Normalization, _ rng: inout SeededGenerator) {
    let h = shape.height, w = shape.width, plane = h * w
    let d = SampleDraw(a, &rng)
    let scale: Float = 1 / 255
    let cosA = cos(d.angle), sinA = sin(d.angle)
    let cy = Float(h - 1) / 2, cx = Float(w - 1) / 2
    for c in 0..<shape.channels {
        let s = src + c * plane, o = out + c * plane
        var sum: Float = 0
        for y in 0..<h {
            for x in 0..<w {
                let fx = d.flipH ? w - 1 - x : x, fy = d.flipV ? h - 1 - y : y
                var v: Float
                if d.angle == 0 {
                    let sx = fx + d.shiftX, sy = fy + d.shiftY
                    v = sx >= 0 && sx < w && sy >= 0 && sy < h ? Float(s[sy * w + sx]) * scale : 0
                } else {
                    let rx = Float(fx) - cx, ry = Float(fy) - cy
                    let sx = cosA * rx + sinA * ry + cx + Float(d.shiftX)
                    let sy = -sinA * rx + cosA * ry + cy + Float(d.shiftY)
                    v = bilinear(s, w, h, sx, sy) * scale
                }
                o[y * w + x] = v
                sum += v
            }
        }
        let mean = sum / Float(plane), m = norm.mean[c], sd = 1 / norm.std[c]
        let noisy = a.noiseStd > 0
        for i in 0..<plane {
            var v = (o[i] - mean) * d.contrast + mean + d.brightness
            if noisy { v += rng.normal() * a.noiseStd }
            o[i] = (v - m) * sd
        }
    }
}

@inline(__always)
func bilinear(_ s: UnsafePointer<UInt8>, _ w: Int, _ h: Int, _ x: Float, _ y: Float) -> Float {
    let x0 = Int(x.rounded(.down)), y0 = Int(y.rounded(.down))
    let fx = x - Float(x0), fy = y - Float(y0)
    func px(_ xx: Int, _ yy: Int) -> Float { xx >= 0 && xx < w && yy >= 0 && yy < h ? Float(s[yy * w + xx]) : 0 }
    let top = px(x0, y0) * (1 - fx) + px(x0 + 1, y0) * fx
    let bottom = px(x0, y0 + 1) * (1 - fx) + px(x0 + 1, y0 + 1) * fx
    return top * (1 - fy) + bottom * fy
}

/// Fills `batch` with the samples at `indices` of `data`, augmented (when given) and
/// normalized. Each sample's random draws come from `seed` and its position in the
/// batch only, so results do not depend on the thread count.
public func assembleBatch(_ data: ImageDataset, _ indices: ArraySlice<Int>, into batch: Tensor,
                          augmentation: Augmentation, normalization: Normalization, seed: UInt64) {
    precondition(batch.shape == data.shape && batch.batch == indices.count, "batch tensor does not fit")
    let per = data.shape.count
    let idx = Array(indices)
    data.pixels.withUnsafeBufferPointer { px in
        Parallel.forEachChunk(idx.count) { range in
            for j in range {
                var rng = SeededGenerator(seed: seed &+ UInt64(j) &* 0x9E37_79B9_7F4A_7C15)
                renderSample(px.baseAddress! + idx[j] * per, data.shape, batch.data + j * per,
                             augmentation, normalization, &rng)
            }
        }
    }
}
