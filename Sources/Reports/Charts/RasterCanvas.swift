import Foundation

/// Draws into an RGB pixel buffer (`png` when done): filled shapes, thick lines, and text
/// in the built-in pixel font, scaled to whole pixels.
public final class RasterCanvas: Canvas {
    public let width: Int
    public let height: Int
    public private(set) var pixels: [UInt8]

    public init(width: Int, height: Int) {
        self.width = width
        self.height = height
        pixels = [UInt8](repeating: 255, count: width * height * 3)
    }

    public var png: Data { PNG.encode(rgb: pixels, width: width, height: height) }

    public func pixel(_ x: Int, _ y: Int) -> Color {
        let i = (y * width + x) * 3
        return Color(pixels[i], pixels[i + 1], pixels[i + 2])
    }

    func plot(_ x: Int, _ y: Int, _ c: Color) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        let i = (y * width + x) * 3
        pixels[i] = c.r
        pixels[i + 1] = c.g
        pixels[i + 2] = c.b
    }

    func fill(_ x0: Double, _ y0: Double, _ x1: Double, _ y1: Double, _ c: Color) {
        let xa = max(0, Int(x0.rounded())), xb = min(width, Int(x1.rounded()))
        let ya = max(0, Int(y0.rounded())), yb = min(height, Int(y1.rounded()))
        guard xa < xb, ya < yb else { return }
        for y in ya..<yb { for x in xa..<xb { plot(x, y, c) } }
    }

    public func rect(x: Double, y: Double, w: Double, h: Double, fill c: Color, role: String?, data: [String: String]) {
        fill(x, y, x + w, y + h, c)
    }

    public func polyline(_ points: [(Double, Double)], stroke: Color, width w: Double, dashed: Bool, role: String?) {
        let half = max(0.5, w / 2)
        var travelled = 0.0
        for (a, b) in zip(points, points.dropFirst()) {
            let dx = b.0 - a.0, dy = b.1 - a.1
            let length = (dx * dx + dy * dy).squareRoot()
            let steps = max(1, Int(length * 2))
            for s in 0...steps {
                let t = Double(s) / Double(steps)
                if dashed, (travelled + t * length).truncatingRemainder(dividingBy: 10) >= 6 { continue }
                let x = a.0 + dx * t, y = a.1 + dy * t
                fill(x - half, y - half, x + half, y + half, stroke)
            }
            travelled += length
        }
    }

    public func circle(x: Double, y: Double, r: Double, fill c: Color, role: String?, data: [String: String]) {
        for py in Int((y - r).rounded(.down))...Int((y + r).rounded(.up)) {
            for px in Int((x - r).rounded(.down))...Int((x + r).rounded(.up)) {
                let dx = Double(px) + 0.5 - x, dy = Double(py) + 0.5 - y
                if dx * dx + dy * dy <= r * r { plot(px, py, c) }
            }
        }
    }

    public func text(_ s: String, x: Double, y: Double, size: Double, anchor: TextAnchor, color: Color) {
        let scale = max(1, Int((size / 9).rounded()))
        let w = Double(s.count * PixelFont.advance * scale - scale)
        var left = Int((anchor == .start ? x : anchor == .middle ? x - w / 2 : x - w).rounded())
        let top = Int(y.rounded()) - PixelFont.height * scale
        for c in s {
            for (row, bits) in PixelFont.glyph(c).enumerated() {
                for col in 0..<PixelFont.width where bits & (0x10 >> UInt8(col)) != 0 {
                    for dy in 0..<scale { for dx in 0..<scale { plot(left + col * scale + dx, top + row * scale + dy, color) } }
                }
            }
            left += PixelFont.advance * scale
        }
    }
}
