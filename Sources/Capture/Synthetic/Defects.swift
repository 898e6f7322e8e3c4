import Foundation
import Imaging

/// The defect kinds the generator draws (and a multi-defect model learns).
public enum DefectKind: String, Sendable, Codable, CaseIterable, Comparable {
    /// A thin bright line from a tool or handling.
    case scratch
    /// A dark, jagged, branching fracture line.
    case crack
    /// A shallow depression: a bright/dark crescent from the side light.
    case dent
    /// Contamination: oil, rust or residue with a soft irregular edge.
    case stain
    /// A cluster of small dark pits (porosity).
    case pit
    /// A drilled hole that is not there.
    case missingFeature = "missing_feature"

    public static func < (a: DefectKind, b: DefectKind) -> Bool { a.rawValue < b.rawValue }
}

/// One drawn defect: what, where (bounding box in frame pixels), and whether subtle.
public struct DefectTruth: Equatable, Sendable, Codable {
    public var kind: DefectKind
    public var box: Rect
    public var subtle: Bool
}

/// Tracks the bounding box of everything a painter touched.
struct BoxTracker {
    var x0 = Int.max, y0 = Int.max, x1 = Int.min, y1 = Int.min

    mutating func add(_ x: Int, _ y: Int) {
        x0 = min(x0, x); y0 = min(y0, y); x1 = max(x1, x); y1 = max(y1, y)
    }

    func rect(width: Int, height: Int) -> Rect {
        let a = max(0, x0), b = max(0, y0), c = min(width - 1, x1), d = min(height - 1, y1)
        return Rect(x: a, y: b, width: max(1, c - a + 1), height: max(1, d - b + 1))
    }
}

/// Paints a polyline of `width` pixels in `color` with peak `alpha`, anti-aliased.
func strokePolyline(_ canvas: inout Canvas, _ points: [SIMD2<Float>], width: Float, color: SIMD3<Float>,
                    alpha: Float, box: inout BoxTracker) {
    let half = width / 2
    for (a, b) in zip(points, points.dropFirst()) {
        let lo = SIMD2<Float>(min(a.x, b.x), min(a.y, b.y)) - half - 1
        let hi = SIMD2<Float>(max(a.x, b.x), max(a.y, b.y)) + half + 1
        let ab = b - a
        let len2 = max((ab * ab).sum(), 1e-6)
        for y in Int(lo.y)...Int(hi.y) {
            for x in Int(lo.x)...Int(hi.x) {
                let p = SIMD2<Float>(Float(x) + 0.5, Float(y) + 0.5)
                let t = min(max(((p - a) * ab).sum() / len2, 0), 1)
                let d = p - (a + t * ab)
                let coverage = min(max(half + 0.5 - (d * d).sum().squareRoot(), 0), 1)
                if coverage > 0 {
                    canvas.blend(x, y, color, alpha * coverage)
                    box.add(x, y)
                }
            }
        }
    }
}

/// The smallest difference, in 0...1, between a blended defect colour and the surface
/// under it. A subtle defect is faint because of its low alpha, never because its colour
/// happens to match the plate: a pale stain on a pale plate in a gray image is invisible,
/// and an invisible defect with a label teaches nothing and cannot be caught.
let minimumColourContrast: Float = 0.25

/// `preferred` if it stands out from `surface` by `minimumColourContrast` (luminance on a
/// gray canvas, the largest channel difference on a colour one), else the colour of
/// `palette` that stands out most.
func visibleColour(_ preferred: SIMD3<Float>, palette: [SIMD3<Float>], on surface: SIMD3<Float>, channels: Int) -> SIMD3<Float> {
    func contrast(_ c: SIMD3<Float>) -> Float {
        channels == 1 ? abs(gray(c) - surface.x) : pointwiseMax(c - surface, surface - c).max()
    }
    guard contrast(preferred) < minimumColourContrast else { return preferred }
    return palette.max { contrast($0) < contrast($1) } ?? preferred
}

/// A random point on the plate, kept `margin` pixels inside it.
func pointOnPlate(_ part: PartLayout, _ dice: inout Dice, margin: Float) -> SIMD2<Float> {
    SIMD2(dice.uniform(part.plate.x0 + margin, part.plate.x1 - margin),
          dice.uniform(part.plate.y0 + margin, part.plate.y1 - margin))
}

func paintScratch(_ canvas: inout Canvas, _ part: PartLayout, _ dice: inout Dice, subtle: Bool) -> Rect {
    let size = Float(min(canvas.width, canvas.height))
    let start = pointOnPlate(part, &dice, margin: size * 0.1)
    let angle = dice.uniform(0, .pi)
    let length = size * dice.uniform(0.12, 0.4)
    let bend = dice.uniform(-0.15, 0.15)
    var points: [SIMD2<Float>] = []
    for i in 0...8 {
        let t = Float(i) / 8
        let a = angle + bend * t
        points.append(start + SIMD2(cos(a), sin(a)) * length * t)
    }
    var box = BoxTracker()
    let bright = dice.chance(0.75)
    let (light, dark) = (SIMD3<Float>(repeating: 0.95), SIMD3<Float>(repeating: 0.2))
    let color = visibleColour(bright ? light : dark, palette: [light, dark], on: canvas.localMean(start.x, start.y, radius: 3), channels: canvas.channels)
    let alpha = subtle ? dice.uniform(0.18, 0.3) : dice.uniform(0.45, 0.8)
    strokePolyline(&canvas, points, width: dice.uniform(1, 2.4), color: color, alpha: alpha, box: &box)
    return box.rect(width: canvas.width, height: canvas.height)
}

func paintCrack(_ canvas: inout Canvas, _ part: PartLayout, _ dice: inout Dice, subtle: Bool) -> Rect {
    let size = Float(min(canvas.width, canvas.height))
    var box = BoxTracker()
    let alpha = subtle ? dice.uniform(0.3, 0.45) : dice.uniform(0.6, 0.9)
    let color = SIMD3<Float>(repeating: 0.05)
    var p = pointOnPlate(part, &dice, margin: size * 0.12)
    var heading = dice.uniform(0, 2 * .pi)
    var points = [p]
    let steps = dice.int(8, 18)
    for _ in 0..<steps {
        heading += dice.uniform(-0.7, 0.7)
        p += SIMD2(cos(heading), sin(heading)) * size * dice.uniform(0.01, 0.025)
        points.append(p)
    }
    strokePolyline(&canvas, points, width: dice.uniform(1, 1.8), color: color, alpha: alpha, box: &box)
    if dice.chance(0.6) {  // a branch from somewhere along the crack
        var q = points[dice.int(2, points.count - 2)]
        var h = heading + dice.uniform(0.6, 1.4) * (dice.chance(0.5) ? 1 : -1)
        var branch = [q]
        for _ in 0..<dice.int(3, 7) {
            h += dice.uniform(-0.6, 0.6)
            q += SIMD2(cos(h), sin(h)) * size * dice.uniform(0.008, 0.02)
            branch.append(q)
        }
        strokePolyline(&canvas, branch, width: 1, color: color, alpha: alpha * 0.8, box: &box)
    }
    return box.rect(width: canvas.width, height: canvas.height)
}

func paintDent(_ canvas: inout Canvas, _ part: PartLayout, _ dice: inout Dice, subtle: Bool) -> Rect {
    let size = Float(min(canvas.width, canvas.height))
    let r = size * dice.uniform(0.03, 0.07)
    let c = pointOnPlate(part, &dice, margin: r * 1.5)
    let light = dice.uniform(0, 2 * .pi)
    let (lx, ly) = (cos(light), sin(light))
    let depth = subtle ? dice.uniform(0.12, 0.2) : dice.uniform(0.3, 0.5)
    let squash = dice.uniform(0.6, 1)
    var box = BoxTracker()
    for y in Int(c.y - r * 2)...Int(c.y + r * 2) {
        for x in Int(c.x - r * 2)...Int(c.x + r * 2) {
            let dx = (Float(x) + 0.5 - c.x) / r, dy = (Float(y) + 0.5 - c.y) / (r * squash)
            let g = exp(-(dx * dx + dy * dy))
            if g < 0.02 { continue }
            // Shading from the slope of a Gaussian depression facing the light.
            let slope = -2 * g * (dx * lx + dy * ly)
            canvas.shade(x, y, 1 + depth * slope)
            if g > 0.15 { box.add(x, y) }
        }
    }
    return box.rect(width: canvas.width, height: canvas.height)
}

func paintStain(_ canvas: inout Canvas, _ part: PartLayout, _ dice: inout Dice, subtle: Bool, seed: UInt64) -> Rect {
    let size = Float(min(canvas.width, canvas.height))
    let r = size * dice.uniform(0.04, 0.1)
    let c = pointOnPlate(part, &dice, margin: r * 1.3)
    let palette: [SIMD3<Float>] = [SIMD3(0.45, 0.25, 0.1), SIMD3(0.12, 0.11, 0.09), SIMD3(0.75, 0.72, 0.55)]
    let color = visibleColour(palette[dice.int(0, palette.count - 1)], palette: palette,
                              on: canvas.localMean(c.x, c.y, radius: Int(r / 2)), channels: canvas.channels)
    let alpha = subtle ? dice.uniform(0.18, 0.28) : dice.uniform(0.45, 0.75)
    let stretch = dice.uniform(0.6, 1.4)
    var box = BoxTracker()
    for y in Int(c.y - r * 1.6)...Int(c.y + r * 1.6) {
        for x in Int(c.x - r * 1.6)...Int(c.x + r * 1.6) {
            let dx = (Float(x) - c.x) / (r * stretch), dy = (Float(y) - c.y) / r
            let wobble = 0.35 * (fbm(Float(x) / (r * 0.5), Float(y) / (r * 0.5), octaves: 3, seed) - 0.5)
            let edge = 1 + wobble - (dx * dx + dy * dy).squareRoot()
            let a = alpha * min(max(edge * 4, 0), 1)
            if a > 0 {
                canvas.blend(x, y, color, a)
                if a > alpha * 0.3 { box.add(x, y) }
            }
        }
    }
    return box.rect(width: canvas.width, height: canvas.height)
}

func paintPits(_ canvas: inout Canvas, _ part: PartLayout, _ dice: inout Dice, subtle: Bool) -> Rect {
    let size = Float(min(canvas.width, canvas.height))
    let c = pointOnPlate(part, &dice, margin: size * 0.06)
    let spread = size * dice.uniform(0.01, 0.04)
    var box = BoxTracker()
    for _ in 0..<dice.int(subtle ? 1 : 3, subtle ? 3 : 7) {
        let p = c + SIMD2(dice.uniform(-spread, spread), dice.uniform(-spread, spread))
        let r = subtle ? dice.uniform(1, 1.8) : dice.uniform(1.5, 3.5)
        for y in Int(p.y - r - 2)...Int(p.y + r + 2) {
            for x in Int(p.x - r - 2)...Int(p.x + r + 2) {
                let dx = Float(x) + 0.5 - p.x, dy = Float(y) + 0.5 - p.y
                let inside = min(max(r + 0.5 - (dx * dx + dy * dy).squareRoot(), 0), 1)
                if inside > 0 {
                    canvas.blend(x, y, SIMD3(repeating: 0.08), inside * (subtle ? 0.55 : 0.85))
                    box.add(x, y)
                }
            }
        }
    }
    return box.rect(width: canvas.width, height: canvas.height)
}

/// The box of the hole left out by `paintPart`.
func missingFeatureBox(_ part: PartLayout, hole: Int, width: Int, height: Int) -> Rect {
    let h = part.holes[hole]
    var box = BoxTracker()
    box.add(Int(h.x - h.r - 2), Int(h.y - h.r - 2))
    box.add(Int(h.x + h.r + 2), Int(h.y + h.r + 2))
    return box.rect(width: width, height: height)
}
