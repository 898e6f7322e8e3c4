import Imaging

/// A float image in 0...1 (interleaved channels) the generator paints on.
struct Canvas {
    let width: Int
    let height: Int
    let channels: Int
    var data: [Float]

    init(width: Int, height: Int, channels: Int) {
        self.width = width
        self.height = height
        self.channels = channels
        data = [Float](repeating: 0, count: width * height * channels)
    }

    /// Blends `color` into pixel (x, y) with `alpha` in 0...1.
    @inline(__always)
    mutating func blend(_ x: Int, _ y: Int, _ color: SIMD3<Float>, _ alpha: Float) {
        guard x >= 0, y >= 0, x < width, y < height, alpha > 0 else { return }
        let a = min(alpha, 1)
        let i = (y * width + x) * channels
        if channels == 1 {
            data[i] += (gray(color) - data[i]) * a
        } else {
            data[i] += (color.x - data[i]) * a
            data[i + 1] += (color.y - data[i + 1]) * a
            data[i + 2] += (color.z - data[i + 2]) * a
        }
    }

    /// Multiplies pixel (x, y) by `factor` (shading).
    @inline(__always)
    mutating func shade(_ x: Int, _ y: Int, _ factor: Float) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        let i = (y * width + x) * channels
        for c in 0..<channels { data[i + c] *= factor }
    }

    @inline(__always)
    func value(_ x: Int, _ y: Int) -> SIMD3<Float> {
        let i = (y * width + x) * channels
        return channels == 1 ? SIMD3(repeating: data[i]) : SIMD3(data[i], data[i + 1], data[i + 2])
    }

    /// The mean colour of the (2r+1)^2 pixels around (x, y) that lie on the canvas.
    func localMean(_ x: Float, _ y: Float, radius r: Int) -> SIMD3<Float> {
        var sum = SIMD3<Float>(repeating: 0), n: Float = 0
        for yy in (Int(y) - r)...(Int(y) + r) where yy >= 0 && yy < height {
            for xx in (Int(x) - r)...(Int(x) + r) where xx >= 0 && xx < width {
                sum += value(xx, yy)
                n += 1
            }
        }
        return n > 0 ? sum / n : sum
    }

    /// Quantizes to an 8-bit image.
    func image() -> Image {
        var pixels = [UInt8](repeating: 0, count: data.count)
        for i in 0..<data.count { pixels[i] = UInt8(min(max(data[i] * 255 + 0.5, 0), 255)) }
        return Image(width: width, height: height, layout: channels == 1 ? .gray : .rgb, pixels: pixels)
    }
}

@inline(__always) func gray(_ c: SIMD3<Float>) -> Float { 0.299 * c.x + 0.587 * c.y + 0.114 * c.z }
