import Foundation
import Neural

/// Random, label-preserving image changes for training. All off by default.
/// Values are applied on pixels in [0, 1], before normalization.
public struct Augmentation: Codable, Equatable, Sendable {
    /// Random crop after padding each side by this many pixels (a random shift).
    public var cropPadding: Int = 0
    public var horizontalFlip = false
    public var verticalFlip = false
    /// A random multiple of 90 degrees (square inputs; otherwise 0 or 180): with both flips,
    /// all eight orientations of a surface, none of which changes what a defect is.
    public var quarterTurns = false
    /// Rotation by a uniform angle in [-degrees, +degrees], bilinear.
    public var rotationDegrees: Float = 0
    /// What lies outside the image after a shift or rotation: the image mirrored at its
    /// edge (true: a surface continues, and no black border tells a shifted image apart) or
    /// black (false: a part on a dark background).
    public var reflectBorder = false
    /// Additive brightness shift, uniform in [-b, +b].
    public var brightness: Float = 0
    /// Contrast factor, uniform in [1 - c, 1 + c], around the sample's mean.
    public var contrast: Float = 0
    /// Colour images: saturation factor, uniform in [1 - s, 1 + s] (a blend with the gray).
    public var saturation: Float = 0
    /// Colour images: each channel's gain, uniform in [1 - g, 1 + g] on its own (white
    /// balance and a lamp's colour drift; a stain stays a different colour from its surface).
    public var channelGain: Float = 0
    /// Standard deviation of added Gaussian noise.
    public var noiseStd: Float = 0

    public init(cropPadding: Int = 0, horizontalFlip: Bool = false, verticalFlip: Bool = false, quarterTurns: Bool = false,
                rotationDegrees: Float = 0, reflectBorder: Bool = false, brightness: Float = 0, contrast: Float = 0,
                saturation: Float = 0, channelGain: Float = 0, noiseStd: Float = 0) {
        self.cropPadding = cropPadding; self.horizontalFlip = horizontalFlip; self.verticalFlip = verticalFlip
        self.quarterTurns = quarterTurns; self.rotationDegrees = rotationDegrees; self.reflectBorder = reflectBorder
        self.brightness = brightness; self.contrast = contrast; self.saturation = saturation; self.channelGain = channelGain
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
    var quarter = 0
    var angle: Float = 0
    var brightness: Float = 0, contrast: Float = 1
    var saturation: Float = 1
    var gains: [Float] = []

    init(_ a: Augmentation, square: Bool, channels: Int, _ rng: inout SeededGenerator) {
        if a.cropPadding > 0 {
            shiftX = rng.below(2 * a.cropPadding + 1) - a.cropPadding
            shiftY = rng.below(2 * a.cropPadding + 1) - a.cropPadding
        }
        if a.horizontalFlip { flipH = rng.uniform() < 0.5 }
        if a.verticalFlip { flipV = rng.uniform() < 0.5 }
        if a.quarterTurns { quarter = square ? rng.below(4) : 2 * rng.below(2) }
        if a.rotationDegrees > 0 { angle = rng.uniform(-a.rotationDegrees, a.rotationDegrees) * .pi / 180 }
        if a.brightness > 0 { brightness = rng.uniform(-a.brightness, a.brightness) }
        if a.contrast > 0 { contrast = rng.uniform(1 - a.contrast, 1 + a.contrast) }
        if channels == 3, a.saturation > 0 { saturation = rng.uniform(1 - a.saturation, 1 + a.saturation) }
        if channels == 3, a.channelGain > 0 { gains = (0..<3).map { _ in rng.uniform(1 - a.channelGain, 1 + a.channelGain) } }
    }

    /// The source pixel an output pixel reads, before shift and rotation: flips, then quarter turns.
    @inline(__always)
    func oriented(_ x: Int, _ y: Int, _ w: Int, _ h: Int) -> (Int, Int) {
        let fx = flipH ? w - 1 - x : x, fy = flipV ? h - 1 - y : y
        switch quarter {
        case 1: return (fy, w - 1 - fx)
        case 2: return (w - 1 - fx, h - 1 - fy)
        case 3: return (h - 1 - fy, fx)
        default: return (fx, fy)
        }
    }
}

/// Writes one sample (bytes `[C, H, W]`) into `out` as normalized floats, augmented.
/// Returns the draw, so a mask of the sample can follow the same geometry (`renderSpatial`).
@discardableResult
func renderSample(_ src: UnsafePointer<UInt8>, _ shape: Shape, _ out: UnsafeMutablePointer<Float>,
                  _ a: Augmentation, _ norm: Normalization, _ rng: inout SeededGenerator) -> SampleDraw {
    let h = shape.height, w = shape.width, plane = h * w
    let d = SampleDraw(a, square: h == w, channels: shape.channels, &rng)
    for c in 0..<shape.channels {
        renderSpatial(src + c * plane, h, w, d, reflect: a.reflectBorder, out + c * plane)
    }
    if shape.channels == 3, d.saturation != 1 || !d.gains.isEmpty {
        let r = out, g = out + plane, b = out + 2 * plane
        let gains = d.gains.isEmpty ? [1, 1, 1] : d.gains
        for i in 0..<plane {
            let gray = 0.299 * r[i] + 0.587 * g[i] + 0.114 * b[i]
            r[i] = (gray + (r[i] - gray) * d.saturation) * gains[0]
            g[i] = (gray + (g[i] - gray) * d.saturation) * gains[1]
            b[i] = (gray + (b[i] - gray) * d.saturation) * gains[2]
        }
    }
    for c in 0..<shape.channels {
        let o = out + c * plane
        var sum: Float = 0
        for i in 0..<plane { sum += o[i] }
        let mean = sum / Float(plane), m = norm.mean[c], sd = 1 / norm.std[c]
        let noisy = a.noiseStd > 0
        for i in 0..<plane {
            var v = (o[i] - mean) * d.contrast + mean + d.brightness
            if noisy { v += rng.normal() * a.noiseStd }
            o[i] = (v - m) * sd
        }
    }
    return d
}

/// One plane (bytes, H x W) moved as the draw says (flips, quarter turns, shift, rotation)
/// into `o` as floats in 0...1.
func renderSpatial(_ s: UnsafePointer<UInt8>, _ h: Int, _ w: Int, _ d: SampleDraw, reflect: Bool, _ o: UnsafeMutablePointer<Float>) {
    let scale: Float = 1 / 255
    let cosA = cos(d.angle), sinA = sin(d.angle)
    let cy = Float(h - 1) / 2, cx = Float(w - 1) / 2
    for y in 0..<h {
        for x in 0..<w {
            let (fx, fy) = d.oriented(x, y, w, h)
            var v: Float
            if d.angle == 0 {
                var sx = fx + d.shiftX, sy = fy + d.shiftY
                if reflect { (sx, sy) = (mirrored(sx, w), mirrored(sy, h)) }
                v = sx >= 0 && sx < w && sy >= 0 && sy < h ? Float(s[sy * w + sx]) * scale : 0
            } else {
                let rx = Float(fx) - cx, ry = Float(fy) - cy
                let sx = cosA * rx + sinA * ry + cx + Float(d.shiftX)
                let sy = -sinA * rx + cosA * ry + cy + Float(d.shiftY)
                v = bilinear(s, w, h, sx, sy, reflect: reflect) * scale
            }
            o[y * w + x] = v
        }
    }
}

@inline(__always)
func bilinear(_ s: UnsafePointer<UInt8>, _ w: Int, _ h: Int, _ x: Float, _ y: Float, reflect: Bool = false) -> Float {
    let x0 = Int(x.rounded(.down)), y0 = Int(y.rounded(.down))
    let fx = x - Float(x0), fy = y - Float(y0)
    func px(_ xx: Int, _ yy: Int) -> Float {
        if reflect { return Float(s[mirrored(yy, h) * w + mirrored(xx, w)]) }
        return xx >= 0 && xx < w && yy >= 0 && yy < h ? Float(s[yy * w + xx]) : 0
    }
    let top = px(x0, y0) * (1 - fx) + px(x0 + 1, y0) * fx
    let bottom = px(x0, y0 + 1) * (1 - fx) + px(x0 + 1, y0 + 1) * fx
    return top * (1 - fy) + bottom * fy
}

/// Fills `batch` with the samples at `indices` of `data`, augmented (when given) and
/// normalized. Each sample's random draws come from `seed` and its position in the
/// batch only, so results do not depend on the thread count. With `synthetic`, a share of
/// the good samples (label 0) get a synthetic defect before augmentation; the batch's labels
/// are returned, those samples' as 1. With `masks` (H x W floats per sample), where each
/// sample's defect lies, moved with it by the augmentation: 1 on a synthetic defect and 0
/// elsewhere, 0 everywhere on a good part, -1 everywhere on a real defect (unknown).
@discardableResult
public func assembleBatch(_ data: ImageDataset, _ indices: ArraySlice<Int>, into batch: Tensor,
                          augmentation: Augmentation, normalization: Normalization, seed: UInt64,
                          synthetic: SyntheticDefects? = nil, masks: UnsafeMutablePointer<Float>? = nil) -> [Int32] {
    precondition(batch.shape == data.shape && batch.batch == indices.count, "batch tensor does not fit")
    let per = data.shape.count, plane = data.shape.height * data.shape.width
    let idx = Array(indices)
    nonisolated(unsafe) var labels = idx.map { data.labels.isEmpty ? 0 : data.labels[$0] }
    nonisolated(unsafe) let masks = masks
    data.pixels.withUnsafeBufferPointer { px in
        labels.withUnsafeMutableBufferPointer { out in
            let outLabels = out
            Parallel.forEachChunk(idx.count) { range in
                var scratch = [UInt8](repeating: 0, count: synthetic == nil ? 0 : per)
                var painted = [UInt8](repeating: 0, count: masks == nil || synthetic == nil ? 0 : plane)
                for j in range {
                    var rng = SeededGenerator(seed: seed &+ UInt64(j) &* 0x9E37_79B9_7F4A_7C15)
                    let source = px.baseAddress! + idx[j] * per
                    let mask = masks.map { $0 + j * plane }
                    if let synthetic, !synthetic.kinds.isEmpty, outLabels[j] == 0 {
                        var draw = SeededGenerator(seed: (seed ^ 0x5EED_DEFE_C75E_ED00) &+ UInt64(j) &* 0xBF58_476D_1CE4_E5B9)
                        if draw.uniform() < synthetic.rate {
                            let kind = synthetic.kinds[draw.below(synthetic.kinds.count)]
                            let other = px.baseAddress! + draw.below(data.count) * per
                            let visible = scratch.withUnsafeMutableBufferPointer { s in
                                painted.withUnsafeMutableBufferPointer { m in
                                    s.baseAddress!.update(from: source, count: per)
                                    // an empty array's base address is shared storage, never a buffer to write
                                    let paintedMask = m.count == plane ? m.baseAddress : nil
                                    paintedMask?.update(repeating: 0, count: plane)
                                    return paintDefect(kind, s.baseAddress!, other, data.shape, minimumContrast: synthetic.minimumContrast,
                                                       mask: paintedMask, &draw)
                                }
                            }
                            if visible {  // else: nothing to see, the part stays good
                                outLabels[j] = 1
                                let d = scratch.withUnsafeBufferPointer { s in
                                    renderSample(s.baseAddress!, data.shape, batch.data + j * per, augmentation, normalization, &rng)
                                }
                                if let mask {
                                    painted.withUnsafeBufferPointer { renderSpatial($0.baseAddress!, data.shape.height, data.shape.width, d,
                                                                                    reflect: augmentation.reflectBorder, mask) }
                                }
                                continue
                            }
                        }
                    }
                    renderSample(source, data.shape, batch.data + j * per, augmentation, normalization, &rng)
                    mask?.update(repeating: outLabels[j] == 0 ? 0 : -1, count: plane)
                }
            }
        }
    }
    return labels
}
