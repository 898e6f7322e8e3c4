/// What a model wants from a camera frame: a region, an output size, a channel
/// layout, a resize method and a normalization.
public struct InputGeometry: Equatable, Sendable {
    public var width: Int
    public var height: Int
    public var layout: PixelLayout
    /// Region of the full camera frame to inspect; nil for the whole frame.
    public var roi: Rect?
    public var method: ResizeMethod
    public var normalization: PixelNormalization

    public init(width: Int, height: Int, layout: PixelLayout, roi: Rect? = nil,
                method: ResizeMethod = .auto, normalization: PixelNormalization? = nil) {
        self.width = width
        self.height = height
        self.layout = layout
        self.roi = roi
        self.method = method
        self.normalization = normalization ?? .unit(channels: layout.channels)
    }

    /// Floats one model input occupies (channels x height x width).
    public var floatCount: Int { layout.channels * width * height }
}

/// Camera frame -> model input in one call: a JPEG is decoded at the smallest
/// TurboJPEG scale that still covers the model input; a raw frame is converted only
/// inside the ROI; then one resample pass writes the normalized planar floats
/// straight into the caller's tensor slot. All buffers are reused between frames,
/// so one preprocessor per pipeline thread.
public final class Preprocessor {
    public let geometry: InputGeometry
    private let decoder: JPEGDecoder
    private let resampler = Resampler()
    private var pixels = Image()

    public init(geometry: InputGeometry, pixelLimit: Int = 50_000_000) throws {
        guard geometry.width > 0, geometry.height > 0 else {
            throw ImagingError.invalidGeometry("model input \(geometry.width)x\(geometry.height)")
        }
        let c = geometry.layout.channels
        guard geometry.normalization.mean.count == c, geometry.normalization.std.count == c,
              geometry.normalization.std.allSatisfy({ $0 > 0 }) else {
            throw ImagingError.invalidGeometry("normalization needs \(c) means and positive stds")
        }
        self.geometry = geometry
        self.decoder = try JPEGDecoder(pixelLimit: pixelLimit)
    }

    /// Writes `geometry.floatCount` floats for `frame` into `output`.
    public func process(_ frame: FrameView, into output: UnsafeMutablePointer<Float>) throws {
        let g = geometry
        if frame.format == .mjpeg {
            let head = try decoder.header(frame.bytes)
            let roi = try region(g.roi, frameWidth: head.width, frameHeight: head.height)
            let need = max(Double(g.width) / Double(roi.width), Double(g.height) / Double(roi.height))
            let scale = decoder.scale(atLeast: need)
            try decoder.decode(frame.bytes, layout: g.layout, scale: scale, into: &pixels)
            let scaled = Self.scaled(roi, scale, within: pixels.width, pixels.height)
            try resampler.resizeNormalized(pixels, roi: scaled, width: g.width, height: g.height,
                                           method: g.method, normalization: g.normalization, into: output)
        } else {
            let roi = try region(g.roi, frameWidth: frame.width, frameHeight: frame.height)
            try convert(frame, roi: roi, to: g.layout, into: &pixels)
            try resampler.resizeNormalized(pixels, roi: Rect(x: 0, y: 0, width: roi.width, height: roi.height),
                                           width: g.width, height: g.height, method: g.method,
                                           normalization: g.normalization, into: output)
        }
    }

    /// Convenience for tests and tools: the model input as a new array.
    public func process(_ frame: FrameView) throws -> [Float] {
        var out = [Float](repeating: 0, count: geometry.floatCount)
        try out.withUnsafeMutableBufferPointer { try process(frame, into: $0.baseAddress!) }
        return out
    }

    private func region(_ roi: Rect?, frameWidth: Int, frameHeight: Int) throws -> Rect {
        guard let roi else { return Rect(x: 0, y: 0, width: frameWidth, height: frameHeight) }
        guard roi.fits(width: frameWidth, height: frameHeight) else {
            throw ImagingError.invalidGeometry("region \(roi) is outside the \(frameWidth)x\(frameHeight) frame")
        }
        return roi
    }

    /// The ROI in the coordinates of an image decoded at `scale`, kept inside it.
    static func scaled(_ roi: Rect, _ scale: (num: Int, denom: Int), within w: Int, _ h: Int) -> Rect {
        let x0 = roi.x * scale.num / scale.denom, y0 = roi.y * scale.num / scale.denom
        let x1 = min(w, ((roi.x + roi.width) * scale.num + scale.denom - 1) / scale.denom)
        let y1 = min(h, ((roi.y + roi.height) * scale.num + scale.denom - 1) / scale.denom)
        return Rect(x: x0, y: y0, width: max(1, x1 - x0), height: max(1, y1 - y0))
    }
}
