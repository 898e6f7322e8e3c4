/// Crop + resize (+ normalize) in one separable pass, with weight tables computed
/// once per geometry and reused for every frame.
///
/// Area (box) filtering for down-scaling matches OpenCV's INTER_AREA; bilinear uses
/// half-pixel centres like OpenCV's INTER_LINEAR. `.auto` picks area on an axis that
/// shrinks and bilinear on one that grows.
public enum ResizeMethod: String, Sendable, Codable, CaseIterable {
    case auto, area, bilinear
}

/// Per-channel `(value / 255 - mean) / std`, the torchvision convention.
public struct PixelNormalization: Equatable, Sendable, Codable {
    public var mean: [Float]
    public var std: [Float]

    public init(mean: [Float], std: [Float]) {
        self.mean = mean
        self.std = std
    }

    /// Values scaled to 0...1 and nothing else.
    public static func unit(channels: Int) -> PixelNormalization {
        PixelNormalization(mean: Array(repeating: 0, count: channels), std: Array(repeating: 1, count: channels))
    }
}

/// Source taps for every output index along one axis: `taps` weights per output,
/// starting at `start[o]`, all inside the source.
struct AxisWeights: Equatable {
    let taps: Int
    let start: [Int]
    let weights: [Float]

    init(source: Int, output: Int, method: ResizeMethod) {
        let scale = Double(source) / Double(output)
        let useArea = method == .area || (method == .auto && scale > 1)
        if useArea && scale >= 1 {
            self = AxisWeights.area(source: source, output: output, scale: scale)
        } else {
            self = AxisWeights.bilinear(source: source, output: output, scale: scale)
        }
    }

    private init(taps: Int, start: [Int], weights: [Float]) {
        self.taps = taps
        self.start = start
        self.weights = weights
    }

    private static func area(source: Int, output: Int, scale: Double) -> AxisWeights {
        let taps = min(Int(scale.rounded(.up)) + 1, source)
        var start = [Int](repeating: 0, count: output)
        var weights = [Float](repeating: 0, count: output * taps)
        for o in 0..<output {
            let lo = Double(o) * scale, hi = min(Double(o + 1) * scale, Double(source))
            let s = min(Int(lo.rounded(.down)), source - taps)
            start[o] = s
            for k in 0..<taps {
                let i = Double(s + k)
                let overlap = max(0, min(i + 1, hi) - max(i, lo))
                weights[o * taps + k] = Float(overlap / scale)
            }
        }
        return AxisWeights(taps: taps, start: start, weights: weights)
    }

    private static func bilinear(source: Int, output: Int, scale: Double) -> AxisWeights {
        let taps = min(2, source)
        var start = [Int](repeating: 0, count: output)
        var weights = [Float](repeating: 0, count: output * taps)
        for o in 0..<output {
            var f = (Double(o) + 0.5) * scale - 0.5
            var i = Int(f.rounded(.down))
            if i < 0 { i = 0; f = 0 }
            if i >= source - 1 { i = source - 1; f = Double(i) }
            let frac = Float(f - Double(i))
            if taps == 1 {
                weights[o] = 1
            } else if i == source - 1 {
                start[o] = i - 1
                weights[o * 2 + 1] = 1
            } else {
                start[o] = i
                weights[o * 2] = 1 - frac
                weights[o * 2 + 1] = frac
            }
        }
        return AxisWeights(taps: taps, start: start, weights: weights)
    }
}

/// Resizes regions of 8-bit images; keeps its tables and scratch between calls, so
/// use one per pipeline (it is not thread-safe).
public final class Resampler {
    private struct Key: Equatable {
        var roiWidth, roiHeight, width, height: Int
        var method: ResizeMethod
    }
    private var key: Key?
    private var xAxis = AxisWeights(source: 1, output: 1, method: .bilinear)
    private var yAxis = AxisWeights(source: 1, output: 1, method: .bilinear)
    private var rows: [Float] = []
    private var line: [Float] = []

    public init() {}

    /// Resizes `roi` of `source` to `width` x `height`, as 8-bit pixels.
    public func resize(_ source: Image, roi: Rect? = nil, width: Int, height: Int,
                       method: ResizeMethod = .auto) throws -> Image {
        var out = Image(width: width, height: height, layout: source.layout)
        try run(source, roi: roi ?? Rect(x: 0, y: 0, width: source.width, height: source.height),
                width: width, height: height, method: method) { oy, row in
            out.pixels.withUnsafeMutableBufferPointer { dst in
                let d = dst.baseAddress! + oy * width * source.channels
                for i in 0..<(width * source.channels) {
                    d[i] = UInt8(min(max(row[i] + 0.5, 0), 255))
                }
            }
        }
        return out
    }

    /// Resizes `roi` of `source` to `width` x `height` and writes it normalized,
    /// planar (CHW), into `output`, which holds `channels * height * width` floats.
    public func resizeNormalized(_ source: Image, roi: Rect, width: Int, height: Int,
                                 method: ResizeMethod = .auto, normalization: PixelNormalization,
                                 into output: UnsafeMutablePointer<Float>) throws {
        let c = source.channels
        guard normalization.mean.count == c, normalization.std.count == c,
              normalization.std.allSatisfy({ $0 > 0 }) else {
            throw ImagingError.invalidGeometry("normalization needs \(c) means and positive stds")
        }
        let a = (0..<c).map { 1 / (255 * normalization.std[$0]) }
        let b = (0..<c).map { -normalization.mean[$0] / normalization.std[$0] }
        let plane = width * height
        try run(source, roi: roi, width: width, height: height, method: method) { oy, row in
            for ch in 0..<c {
                let d = output + ch * plane + oy * width
                let (ac, bc) = (a[ch], b[ch])
                for x in 0..<width { d[x] = row[x * c + ch] * ac + bc }
            }
        }
    }

    /// The separable core: horizontal pass over the ROI rows into `rows`, then one
    /// vertical combination per output row, handed to `emit` as interleaved floats.
    private func run(_ source: Image, roi: Rect, width: Int, height: Int, method: ResizeMethod,
                     emit: (Int, UnsafePointer<Float>) -> Void) throws {
        guard roi.fits(width: source.width, height: source.height) else {
            throw ImagingError.invalidGeometry("region \(roi) is outside the \(source.width)x\(source.height) image")
        }
        guard width > 0, height > 0, width <= 1 << 14, height <= 1 << 14 else {
            throw ImagingError.invalidGeometry("output size \(width)x\(height)")
        }
        prepare(Key(roiWidth: roi.width, roiHeight: roi.height, width: width, height: height, method: method))
        let c = source.channels
        let rowLength = width * c
        if rows.count < roi.height * rowLength { rows = [Float](repeating: 0, count: roi.height * rowLength) }
        if line.count < rowLength { line = [Float](repeating: 0, count: rowLength) }
        source.pixels.withUnsafeBufferPointer { srcBuf in
            rows.withUnsafeMutableBufferPointer { rowBuf in
                xAxis.start.withUnsafeBufferPointer { xs in
                    xAxis.weights.withUnsafeBufferPointer { xw in
                        for y in 0..<roi.height {
                            let s = srcBuf.baseAddress! + ((roi.y + y) * source.width + roi.x) * c
                            horizontalPass(s, c, xs.baseAddress!, xw.baseAddress!, xAxis.taps, width,
                                           rowBuf.baseAddress! + y * rowLength)
                        }
                    }
                }
                line.withUnsafeMutableBufferPointer { lineBuf in
                    let l = lineBuf.baseAddress!
                    for oy in 0..<height {
                        verticalPass(rowBuf.baseAddress!, rowLength, yAxis, oy, l)
                        emit(oy, UnsafePointer(l))
                    }
                }
            }
        }
    }

    private func prepare(_ k: Key) {
        guard k != key else { return }
        xAxis = AxisWeights(source: k.roiWidth, output: k.width, method: k.method)
        yAxis = AxisWeights(source: k.roiHeight, output: k.height, method: k.method)
        key = k
    }
}

/// One source row (interleaved, `c` channels) -> one row of `width` output pixels.
func horizontalPass(_ src: UnsafePointer<UInt8>, _ c: Int, _ start: UnsafePointer<Int>,
                    _ weights: UnsafePointer<Float>, _ taps: Int, _ width: Int,
                    _ dst: UnsafeMutablePointer<Float>) {
    for ox in 0..<width {
        let s = src + start[ox] * c
        let w = weights + ox * taps
        for ch in 0..<c {
            var acc: Float = 0
            for k in 0..<taps { acc += w[k] * Float(s[k * c + ch]) }
            dst[ox * c + ch] = acc
        }
    }
}

/// Combines the `taps` horizontal rows that output row `oy` draws on.
func verticalPass(_ rows: UnsafePointer<Float>, _ rowLength: Int, _ axis: AxisWeights, _ oy: Int,
                  _ dst: UnsafeMutablePointer<Float>) {
    let first = rows + axis.start[oy] * rowLength
    let w0 = axis.weights[oy * axis.taps]
    for i in 0..<rowLength { dst[i] = w0 * first[i] }
    for k in 1..<max(axis.taps, 1) {
        let w = axis.weights[oy * axis.taps + k]
        if w == 0 { continue }
        let r = first + k * rowLength
        for i in 0..<rowLength { dst[i] += w * r[i] }
    }
}
