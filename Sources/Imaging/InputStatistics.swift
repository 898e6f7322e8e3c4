/// What one image looks like to a model, in three numbers that move when lighting, focus or
/// the camera changes: brightness (mean luminance, 0...1), contrast (its standard
/// deviation) and sharpness (the mean absolute difference between neighbouring pixels'
/// luminance). Luminance is the mean over channels. The daemon measures the model's input
/// (`normalized`), training its images (`bytes`): the same pixels either way.
public struct InputStatistics: Equatable, Sendable {
    public var brightness: Double
    public var contrast: Double
    public var sharpness: Double

    public static let names = ["brightness", "contrast", "sharpness"]
    public var values: [Double] { [brightness, contrast, sharpness] }

    public init(brightness: Double, contrast: Double, sharpness: Double) {
        (self.brightness, self.contrast, self.sharpness) = (brightness, contrast, sharpness)
    }

    /// A CHW model input normalized per channel as `(v - mean[c]) / std[c]`, v in 0...1.
    /// `scratch` (kept by the caller between frames) holds the luminance: no allocation per frame.
    public static func measure(normalized x: UnsafeBufferPointer<Float>, channels: Int, height: Int, width: Int,
                               mean: [Float], std: [Float], scratch: inout [Float]) -> InputStatistics {
        measure(channels: channels, height: height, width: width, &scratch) { c, i in x[c * height * width + i] * std[c] + mean[c] }
    }

    public static func measure(normalized x: UnsafeBufferPointer<Float>, channels: Int, height: Int, width: Int,
                               mean: [Float], std: [Float]) -> InputStatistics {
        var scratch: [Float] = []
        return measure(normalized: x, channels: channels, height: height, width: width, mean: mean, std: std, scratch: &scratch)
    }

    /// CHW bytes, 0...255.
    public static func measure(bytes x: UnsafeBufferPointer<UInt8>, channels: Int, height: Int, width: Int) -> InputStatistics {
        var scratch: [Float] = []
        return measure(channels: channels, height: height, width: width, &scratch) { c, i in Float(x[c * height * width + i]) / 255 }
    }

    static func measure(channels: Int, height: Int, width: Int, _ lum: inout [Float], _ value: (Int, Int) -> Float) -> InputStatistics {
        let n = height * width
        guard n > 0, channels > 0 else { return InputStatistics(brightness: 0, contrast: 0, sharpness: 0) }
        if lum.count != n { lum = [Float](repeating: 0, count: n) } else { for i in 0..<n { lum[i] = 0 } }
        for c in 0..<channels { for i in 0..<n { lum[i] += value(c, i) } }
        var sum = 0.0, squares = 0.0, edges = 0.0, pairs = 0
        for i in 0..<n {
            let v = Double(lum[i] / Float(channels))
            lum[i] = Float(v)
            sum += v
            squares += v * v
        }
        for y in 0..<height {
            for x in 0..<width {
                let i = y * width + x
                if x + 1 < width { edges += Double(abs(lum[i + 1] - lum[i])); pairs += 1 }
                if y + 1 < height { edges += Double(abs(lum[i + width] - lum[i])); pairs += 1 }
            }
        }
        let mean = sum / Double(n)
        return InputStatistics(brightness: mean, contrast: max(0, squares / Double(n) - mean * mean).squareRoot(),
                               sharpness: pairs == 0 ? 0 : edges / Double(pairs))
    }
}
