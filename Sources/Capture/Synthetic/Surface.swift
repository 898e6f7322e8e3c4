import Foundation

/// Surface finishes the generator can render.
public enum SurfaceTexture: String, Sendable, Codable, CaseIterable {
    /// Machined metal with directional brushing streaks.
    case brushed
    /// Sand-cast or blasted metal: fine isotropic grain.
    case cast
    /// Painted or moulded plastic: smooth with soft orange peel.
    case painted
    /// Woven composite or fabric: a regular weave.
    case woven
}

/// Where the part and its features sit in the frame.
struct PartLayout {
    /// The plate, inset from the frame edges (the conveyor shows around it).
    var plate: (x0: Float, y0: Float, x1: Float, y1: Float)
    /// Drilled holes: centre and radius.
    var holes: [(x: Float, y: Float, r: Float)]

    func onPlate(_ x: Float, _ y: Float) -> Bool {
        x >= plate.x0 && x < plate.x1 && y >= plate.y0 && y < plate.y1
    }

    static func make(width: Int, height: Int, dice: inout Dice) -> PartLayout {
        let w = Float(width), h = Float(height)
        let mx = w * dice.uniform(0.05, 0.09), my = h * dice.uniform(0.05, 0.09)
        let plate = (x0: mx + dice.uniform(-2, 2), y0: my + dice.uniform(-2, 2), x1: w - mx, y1: h - my)
        let r = min(w, h) * dice.uniform(0.035, 0.05)
        let inset = r * 2.2
        let holes = [(plate.x0 + inset, plate.y0 + inset), (plate.x1 - inset, plate.y0 + inset),
                     (plate.x0 + inset, plate.y1 - inset), (plate.x1 - inset, plate.y1 - inset)]
            .map { (x: $0.0, y: $0.1, r: r) }
        return PartLayout(plate: plate, holes: holes)
    }
}

/// Paints background, plate texture and holes (skipping `missingHole`, if any).
func paintPart(_ canvas: inout Canvas, _ part: PartLayout, texture: SurfaceTexture, tint: SIMD3<Float>,
               missingHole: Int?, seed: UInt64) {
    let belt = SIMD3<Float>(0.12, 0.13, 0.14)
    for y in 0..<canvas.height {
        for x in 0..<canvas.width {
            let fx = Float(x) + 0.5, fy = Float(y) + 0.5
            var color: SIMD3<Float>
            if part.onPlate(fx, fy) {
                color = tint * surfaceValue(texture, fx, fy, seed)
                for (i, hole) in part.holes.enumerated() where i != missingHole {
                    let d = ((fx - hole.x) * (fx - hole.x) + (fy - hole.y) * (fy - hole.y)).squareRoot()
                    if d < hole.r + 1.5 {
                        // Dark bore with a bright chamfer ring, anti-aliased at the edge.
                        let ring = max(0, 1 - abs(d - hole.r) / 1.5)
                        let inside = min(max(hole.r - d + 0.5, 0), 1)
                        color = color * (1 - inside) + SIMD3(repeating: 0.06) * inside
                        color += SIMD3(repeating: 0.25 * ring)
                    }
                }
            } else {
                color = belt * (0.85 + 0.3 * valueNoise(fx / 6, fy / 6, seed ^ 0xBE17))
            }
            let i = (y * canvas.width + x) * canvas.channels
            if canvas.channels == 1 {
                canvas.data[i] = gray(color)
            } else {
                canvas.data[i] = color.x; canvas.data[i + 1] = color.y; canvas.data[i + 2] = color.z
            }
        }
    }
}

/// The texture's brightness at a point, around 0.5-0.8.
func surfaceValue(_ texture: SurfaceTexture, _ x: Float, _ y: Float, _ seed: UInt64) -> Float {
    switch texture {
    case .brushed:
        let streak = valueNoise(x / 40, y * 1.3, seed) * 0.6 + valueNoise(x / 9, y * 2.1, seed ^ 1) * 0.4
        return 0.58 + 0.14 * streak + 0.05 * fbm(x / 60, y / 60, octaves: 2, seed ^ 2)
    case .cast:
        let grain = lattice(Int(x), Int(y), seed) - 0.5
        return 0.55 + 0.10 * fbm(x / 3, y / 3, octaves: 2, seed) + 0.05 * grain
    case .painted:
        return 0.66 + 0.06 * fbm(x / 80, y / 80, octaves: 3, seed) + 0.02 * valueNoise(x / 2.5, y / 2.5, seed ^ 3)
    case .woven:
        let u = sin(x * 0.55) * sin(y * 0.55)
        let over = (Int((x / 5.7).rounded(.down)) + Int((y / 5.7).rounded(.down))) & 1 == 0
        return 0.55 + 0.08 * (over ? u : -u) + 0.04 * fbm(x / 25, y / 25, octaves: 2, seed)
    }
}

/// Uneven light: gain, a linear gradient and a vignette; then sensor noise.
func applyLighting(_ canvas: inout Canvas, dice: inout Dice, seed: UInt64) {
    let gain = dice.uniform(0.82, 1.15)
    let angle = dice.uniform(0, 2 * .pi)
    let slope = dice.uniform(0, 0.22)
    let vignette = dice.uniform(0.05, 0.25)
    let noise = dice.uniform(0.006, 0.02)
    let cx = Float(canvas.width) / 2, cy = Float(canvas.height) / 2
    let radius = (cx * cx + cy * cy).squareRoot()
    let (ca, sa) = (cos(angle), sin(angle))
    for y in 0..<canvas.height {
        for x in 0..<canvas.width {
            let dx = (Float(x) - cx) / radius, dy = (Float(y) - cy) / radius
            let light = gain * (1 + slope * (dx * ca + dy * sa)) * (1 - vignette * (dx * dx + dy * dy))
            let n = noise * (lattice(x, y, seed ^ 0x0153) - 0.5) * 2
            let i = (y * canvas.width + x) * canvas.channels
            for c in 0..<canvas.channels { canvas.data[i + c] = canvas.data[i + c] * light + n }
        }
    }
}
