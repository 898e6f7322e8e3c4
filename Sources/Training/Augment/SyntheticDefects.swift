import Foundation
import Neural

/// Synthetic defects painted onto good parts during training, which then count as
/// defective (CutPaste/DRAEM-style self-supervision). A line has many good parts and few
/// labelled defects: on a set of 20 surfaces and 600 labelled defects, stage 1 learned
/// the surfaces by heart (training AUROC 1.0) and not the defects (validation 0.62). With a
/// share of good parts made defective in ever new ways, it has to learn what a local
/// irregularity on a surface is, which also fails a kind of defect nobody labelled.
///
/// The vocabulary is the generic one of surface inspection, not any dataset's: thin lines
/// (scratches, cracks), blobs of another colour or brightness (stains, discolouration),
/// clusters of small dots (pits, inclusions), local warps with shading (dents) and patches
/// of foreign texture (another part's surface). Each is drawn visibly: its contrast to
/// the surface is at least `minimumContrast`, so no label says "defect" over nothing.
public struct SyntheticDefects: Codable, Equatable, Sendable {
    public enum Kind: String, Codable, CaseIterable, Sendable {
        case line, blob, spots, warp, patch
    }

    /// The share of drawn good parts that get a synthetic defect.
    public var rate: Float
    public var kinds: [Kind]
    /// The least change of brightness (0...1) a painted defect makes against its surface.
    public var minimumContrast: Float

    public init(rate: Float, kinds: [Kind] = Kind.allCases, minimumContrast: Float = 0.12) {
        self.rate = rate
        self.kinds = kinds
        self.minimumContrast = minimumContrast
    }
}

/// Paints one synthetic defect into `px` (bytes `[C, H, W]`, edited in place). `other` is
/// another image of the same shape, the source of foreign texture for `.patch`. With
/// `mask` (H x W bytes, zeroed by the caller), the pixels the defect covers are set to 255.
/// Returns whether the defect is visible: a warp or a patch of the same surface can change
/// next to nothing, and such a part must not be learnt as defective (the caller keeps it good
/// and renders the original).
@discardableResult
func paintDefect(_ kind: SyntheticDefects.Kind, _ px: UnsafeMutablePointer<UInt8>, _ other: UnsafePointer<UInt8>, _ shape: Shape,
                 minimumContrast: Float, mask: UnsafeMutablePointer<UInt8>? = nil, _ rng: inout SeededGenerator) -> Bool {
    let before = Array(UnsafeBufferPointer(start: px, count: shape.count))
    var canvas = Canvas(px: px, shape: shape, mask: mask)
    switch kind {
    case .line: canvas.line(&rng, minimumContrast)
    case .blob: canvas.blob(&rng, minimumContrast)
    case .spots: canvas.spots(&rng, minimumContrast)
    case .warp: canvas.warp(&rng)
    case .patch: canvas.patch(from: other, &rng)
    }
    // visible: at least a few pixels changed by the minimum contrast in some channel
    let step = Int(minimumContrast * 255 / 2)
    var changed = 0
    for i in 0..<shape.count where abs(Int(before[i]) - Int(px[i])) >= step {
        changed += 1
        if changed >= 3 { return true }
    }
    return false
}

/// A byte image with the drawing primitives of the synthetic defects.
struct Canvas {
    let px: UnsafeMutablePointer<UInt8>
    let c: Int, h: Int, w: Int
    /// Where the defect is (H x W, 255 where covered at least half), when asked for.
    let mask: UnsafeMutablePointer<UInt8>?
    var plane: Int { h * w }

    init(px: UnsafeMutablePointer<UInt8>, shape: Shape, mask: UnsafeMutablePointer<UInt8>? = nil) {
        self.px = px
        self.mask = mask
        (c, h, w) = (shape.channels, shape.height, shape.width)
    }

    func mark(_ x: Int, _ y: Int, _ coverage: Float) {
        if coverage >= 0.5, x >= 0, x < w, y >= 0, y < h { mask?[y * w + x] = 255 }
    }

    /// A change of colour: per channel, the target is the pixel shifted by `shift` (a shade
    /// darker or brighter, possibly tinted), blended in by the coverage `a` (0...1).
    struct Shade { var shift: [Float] }

    /// A shade for a defect around (x, y): darker more often than brighter, but brighter on
    /// a dark surface and darker on a bright one, where the other way would clip to nothing.
    func shade(_ rng: inout SeededGenerator, _ minimum: Float, tint: Float, at x: Float, _ y: Float) -> Shade {
        let local = brightness(around: Int(x), Int(y))
        let darker = local < 0.3 ? false : local > 0.7 ? true : rng.uniform() < 0.65
        let sign: Float = darker ? -1 : 1
        let base = sign * rng.uniform(minimum, max(minimum, 0.55))
        return Shade(shift: (0..<c).map { _ in base + (c == 3 ? rng.uniform(-tint, tint) : 0) })
    }

    /// The mean brightness (0...1) of the 9x9 neighbourhood of (x, y), over all channels.
    func brightness(around x: Int, _ y: Int) -> Float {
        var sum = 0, n = 0
        for yy in max(0, y - 4)...min(h - 1, max(0, y + 4)) {
            for xx in max(0, x - 4)...min(w - 1, max(0, x + 4)) {
                for k in 0..<c { sum += Int(px[k * plane + yy * w + xx]); n += 1 }
            }
        }
        return n == 0 ? 0.5 : Float(sum) / Float(n * 255)
    }

    /// Blends the shade in at opacity `a`; `cover` is how much of the pixel the defect's shape
    /// covers (for the mask; a faint defect still covers its whole area), `a` by default.
    func blend(_ x: Int, _ y: Int, _ s: Shade, _ a: Float, cover: Float? = nil) {
        guard a > 0, x >= 0, x < w, y >= 0, y < h else { return }
        mark(x, y, cover ?? a)
        for k in 0..<c {
            let i = k * plane + y * w + x
            let v = Float(px[i]) / 255, t = min(1, max(0, v + s.shift[k]))
            px[i] = UInt8(min(255, max(0, (v + (t - v) * min(1, a)) * 255 + 0.5)))
        }
    }

    /// A thin line of 1-5 segments wandering across the surface: straight-ish (a scratch)
    /// or jagged (a crack), 0.7-2.5 px wide with soft edges.
    mutating func line(_ rng: inout SeededGenerator, _ minimum: Float) {
        let side = Float(min(w, h))
        let jagged = rng.uniform() < 0.5
        let segments = jagged ? 3 + rng.below(6) : 1 + rng.below(2)
        let total = rng.uniform(0.15, 0.6) * side
        var p = (x: rng.uniform(0, Float(w)), y: rng.uniform(0, Float(h)))
        var angle = rng.uniform(0, 2 * .pi)
        let width = rng.uniform(0.7, 2.5)
        let s = shade(&rng, minimum, tint: 0.05, at: p.x, p.y)
        for _ in 0..<segments {
            let len = total / Float(segments)
            let q = (x: p.x + cos(angle) * len, y: p.y + sin(angle) * len)
            segment(p, q, width: width, s)
            p = q
            angle += jagged ? rng.uniform(-0.9, 0.9) : rng.uniform(-0.15, 0.15)
        }
    }

    func segment(_ a: (x: Float, y: Float), _ b: (x: Float, y: Float), width: Float, _ s: Shade) {
        let r = width / 2 + 1
        let x0 = max(0, Int(min(a.x, b.x) - r)), x1 = min(w - 1, Int(max(a.x, b.x) + r))
        let y0 = max(0, Int(min(a.y, b.y) - r)), y1 = min(h - 1, Int(max(a.y, b.y) + r))
        guard x0 <= x1, y0 <= y1 else { return }
        let dx = b.x - a.x, dy = b.y - a.y, len2 = max(dx * dx + dy * dy, 1e-6)
        for y in y0...y1 {
            for x in x0...x1 {
                let px = Float(x) + 0.5, py = Float(y) + 0.5
                let t = min(1, max(0, ((px - a.x) * dx + (py - a.y) * dy) / len2))
                let ex = px - (a.x + t * dx), ey = py - (a.y + t * dy)
                let d = (ex * ex + ey * ey).squareRoot()
                blend(x, y, s, min(1, width / 2 + 0.5 - d))
            }
        }
    }

    /// An irregular blob 4-22 px across, blended at 40-95 % (a stain, a discoloured area),
    /// its colour shifted more than a line's.
    mutating func blob(_ rng: inout SeededGenerator, _ minimum: Float) {
        let side = Float(min(w, h))
        let radius = rng.uniform(0.03, 0.17) * side
        let cx = rng.uniform(radius, Float(w) - radius), cy = rng.uniform(radius, Float(h) - radius)
        // the outline: a circle bent by three waves (2, 3 and 4 per turn) of random size and phase
        let a2 = rng.uniform(0, 0.3), p2 = rng.uniform(0, 2 * .pi), a3 = rng.uniform(0, 0.3), p3 = rng.uniform(0, 2 * .pi)
        let a4 = rng.uniform(0, 0.3), p4 = rng.uniform(0, 2 * .pi)
        let opacity = rng.uniform(0.4, 0.95)
        let s = shade(&rng, minimum / 0.4, tint: 0.3, at: cx, cy)
        let r = Int(radius * 1.6) + 2
        for y in max(0, Int(cy) - r)...min(h - 1, Int(cy) + r) {
            for x in max(0, Int(cx) - r)...min(w - 1, Int(cx) + r) {
                let dx = Float(x) + 0.5 - cx, dy = Float(y) + 0.5 - cy
                let theta = atan2(dy, dx)
                let edge = radius * (1 + a2 * cos(2 * theta + p2) + a3 * cos(3 * theta + p3) + a4 * cos(4 * theta + p4))
                let d = (dx * dx + dy * dy).squareRoot()
                let cover = min(1, max(0, (edge - d) / 1.5))
                blend(x, y, s, opacity * cover, cover: cover)
            }
        }
    }

    /// 1-7 small dots 0.8-2.8 px in radius within a few pixels of each other (pits, inclusions).
    mutating func spots(_ rng: inout SeededGenerator, _ minimum: Float) {
        let n = 1 + rng.below(7)
        let cx = rng.uniform(4, Float(w) - 4), cy = rng.uniform(4, Float(h) - 4)
        let spread = rng.uniform(2, 12)
        let s = shade(&rng, minimum, tint: 0.05, at: cx, cy)
        for _ in 0..<n {
            let x = min(Float(w) - 1, max(1, cx + rng.uniform(-spread, spread))), y = min(Float(h) - 1, max(1, cy + rng.uniform(-spread, spread)))
            let radius = rng.uniform(0.8, 2.8)
            for yy in Int(y - radius - 1)...Int(y + radius + 1) {
                for xx in Int(x - radius - 1)...Int(x + radius + 1) {
                    let dx = Float(xx) + 0.5 - x, dy = Float(yy) + 0.5 - y
                    blend(xx, yy, s, min(1, radius + 0.5 - (dx * dx + dy * dy).squareRoot()))
                }
            }
        }
    }

    /// A dent: the surface pushed or pulled radially inside a disc 8-24 px across (up to a
    /// few pixels), with the shading of a slope lit from one side.
    mutating func warp(_ rng: inout SeededGenerator) {
        let side = Float(min(w, h))
        let radius = rng.uniform(0.06, 0.19) * side
        let cx = rng.uniform(radius, Float(w) - radius), cy = rng.uniform(radius, Float(h) - radius)
        let push = rng.uniform(0.25, 0.5) * radius * (rng.uniform() < 0.5 ? -1 : 1)
        let light = rng.uniform(0, 2 * .pi)
        let shading = rng.uniform(0.03, 0.15)
        let r = Int(radius) + 1
        let x0 = max(0, Int(cx) - r), x1 = min(w - 1, Int(cx) + r), y0 = max(0, Int(cy) - r), y1 = min(h - 1, Int(cy) + r)
        guard x0 < x1, y0 < y1 else { return }
        let bw = x1 - x0 + 1
        var source = [UInt8](repeating: 0, count: c * (y1 - y0 + 1) * bw)
        for k in 0..<c { for y in y0...y1 { for x in x0...x1 { source[(k * (y1 - y0 + 1) + y - y0) * bw + x - x0] = px[k * plane + y * w + x] } } }
        for y in y0...y1 {
            for x in x0...x1 {
                let dx = Float(x) - cx, dy = Float(y) - cy
                let d = (dx * dx + dy * dy).squareRoot() / radius
                guard d < 1 else { continue }
                let bump = (1 - d * d) * (1 - d * d)  // smooth to zero at the rim
                mark(x, y, d < 0.75 ? 1 : 0)
                let scale = 1 - push * bump / radius
                let sx = cx + dx * scale, sy = cy + dy * scale
                // the slope of the bump, lit from `light`
                let slope = -4 * d * (1 - d * d) * (cos(light) * dx + sin(light) * dy) / max(d * radius, 1e-3)
                for k in 0..<c {
                    let v = sampleBox(source, k, y1 - y0 + 1, bw, sx - Float(x0), sy - Float(y0)) / 255
                    let shaded = v + shading * slope * (push > 0 ? 1 : -1)
                    px[k * plane + y * w + x] = UInt8(min(255, max(0, shaded * 255 + 0.5)))
                }
            }
        }
    }

    func sampleBox(_ s: [UInt8], _ k: Int, _ bh: Int, _ bw: Int, _ x: Float, _ y: Float) -> Float {
        let xc = min(Float(bw - 1), max(0, x)), yc = min(Float(bh - 1), max(0, y))
        let x0 = Int(xc), y0 = Int(yc), x1 = min(bw - 1, x0 + 1), y1 = min(bh - 1, y0 + 1)
        let fx = xc - Float(x0), fy = yc - Float(y0)
        func p(_ xx: Int, _ yy: Int) -> Float { Float(s[(k * bh + yy) * bw + xx]) }
        return (p(x0, y0) * (1 - fx) + p(x1, y0) * fx) * (1 - fy) + (p(x0, y1) * (1 - fx) + p(x1, y1) * fx) * fy
    }

    /// A patch of another surface (6-32 px, soft-edged, 60-100 % opaque): foreign matter,
    /// a repair, a label where none belongs.
    mutating func patch(from other: UnsafePointer<UInt8>, _ rng: inout SeededGenerator) {
        let side = Float(min(w, h))
        let pw = Int(rng.uniform(0.05, 0.25) * side) + 2, ph = Int(rng.uniform(0.05, 0.25) * side) + 2
        let sx = rng.below(max(1, w - pw)), sy = rng.below(max(1, h - ph))
        let dx = rng.below(max(1, w - pw)), dy = rng.below(max(1, h - ph))
        let opacity = rng.uniform(0.6, 1)
        for y in 0..<ph where dy + y < h && sy + y < h {
            for x in 0..<pw where dx + x < w && sx + x < w {
                let edge = Float(min(x, y, pw - 1 - x, ph - 1 - y)) + 0.5
                let a = opacity * min(1, edge / 1.5)
                mark(dx + x, dy + y, min(1, edge / 1.5))
                for k in 0..<c {
                    let i = k * plane + (dy + y) * w + dx + x
                    let v = Float(px[i]), t = Float(other[k * plane + (sy + y) * w + sx + x])
                    px[i] = UInt8(min(255, max(0, v + (t - v) * a + 0.5)))
                }
            }
        }
    }
}

