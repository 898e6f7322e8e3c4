/// Raw camera formats to 8-bit gray or RGB, converting only a region of interest.
///
/// YUV is BT.601 limited range (what UVC cameras send); gray from YUV is the Y plane
/// itself, gray from RGB uses the BT.601 luma weights (0.299, 0.587, 0.114).

/// A frame as a camera hands it over: bytes plus the format that explains them.
public struct FrameView {
    public var bytes: UnsafeRawBufferPointer
    public var format: PixelFormat
    public var width: Int
    public var height: Int
    /// Row stride of the (first) plane; 0 means tightly packed.
    public var bytesPerLine: Int

    public init(bytes: UnsafeRawBufferPointer, format: PixelFormat, width: Int, height: Int, bytesPerLine: Int = 0) {
        self.bytes = bytes
        self.format = format
        self.width = width
        self.height = height
        self.bytesPerLine = bytesPerLine == 0 ? format.minimumBytesPerLine(width: width) : bytesPerLine
    }

    /// Checks that sizes, stride and byte count describe a whole frame.
    public func validate() throws {
        guard bytes.count > 0 else { throw ImagingError.empty }
        guard format != .mjpeg else { return }
        guard width > 0, height > 0, width <= 1 << 15, height <= 1 << 15 else {
            throw ImagingError.invalidGeometry("frame size \(width)x\(height)")
        }
        guard bytesPerLine >= format.minimumBytesPerLine(width: width) else {
            throw ImagingError.invalidGeometry("stride \(bytesPerLine) is below the row size for width \(width)")
        }
        let need = format.frameBytes(width: width, height: height, bytesPerLine: bytesPerLine)!
        guard bytes.count >= need else { throw ImagingError.shortFrame(format: format, expected: need, got: bytes.count) }
    }
}

/// Converts the `roi` of an uncompressed frame into `image` (reusing its storage).
public func convert(_ frame: FrameView, roi: Rect, to layout: PixelLayout, into image: inout Image) throws {
    try frame.validate()
    guard frame.format != .mjpeg else { throw ImagingError.invalidGeometry("MJPEG frames are decoded, not converted") }
    guard roi.fits(width: frame.width, height: frame.height) else {
        throw ImagingError.invalidGeometry("region \(roi) is outside the \(frame.width)x\(frame.height) frame")
    }
    image.reshape(width: roi.width, height: roi.height, layout: layout)
    let src = frame.bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
    image.pixels.withUnsafeMutableBufferPointer { out in
        let dst = out.baseAddress!
        switch (frame.format, layout) {
        case (.grey, .gray): copyGray(src, frame.bytesPerLine, roi, dst)
        case (.grey, .rgb): grayToRGB(src, frame.bytesPerLine, roi, dst)
        case (.rgb24, .rgb): copyRGB(src, frame.bytesPerLine, roi, dst)
        case (.rgb24, .gray): rgbToGray(src, frame.bytesPerLine, roi, dst)
        case (.yuyv, .gray): yuyvToGray(src, frame.bytesPerLine, roi, dst)
        case (.yuyv, .rgb): yuyvToRGB(src, frame.bytesPerLine, roi, dst)
        case (.nv12, .gray): copyGray(src, frame.bytesPerLine, roi, dst)
        case (.nv12, .rgb): nv12ToRGB(src, frame.bytesPerLine, frame.height, roi, dst)
        case (.mjpeg, _): break
        }
    }
}

@inline(__always) func clampByte(_ v: Int32) -> UInt8 { UInt8(truncatingIfNeeded: min(max(v, 0), 255)) }

/// BT.601 limited-range YUV to RGB, 8-bit fixed point.
@inline(__always)
func yuvToRGB(_ y: UInt8, _ u: UInt8, _ v: UInt8, _ dst: UnsafeMutablePointer<UInt8>) {
    let c = 298 * (Int32(y) - 16) + 128
    let d = Int32(u) - 128, e = Int32(v) - 128
    dst[0] = clampByte((c + 409 * e) >> 8)
    dst[1] = clampByte((c - 100 * d - 208 * e) >> 8)
    dst[2] = clampByte((c + 516 * d) >> 8)
}

/// BT.601 luma with OpenCV's 14-bit weights.
@inline(__always)
func luma(_ r: UInt8, _ g: UInt8, _ b: UInt8) -> UInt8 {
    UInt8(truncatingIfNeeded: (Int32(r) * 4899 + Int32(g) * 9617 + Int32(b) * 1868 + 8192) >> 14)
}

// Each kernel: src rows of `stride` bytes; dst is roi.width x roi.height, packed.

func copyGray(_ src: UnsafePointer<UInt8>, _ stride: Int, _ roi: Rect, _ dst: UnsafeMutablePointer<UInt8>) {
    for y in 0..<roi.height {
        (dst + y * roi.width).update(from: src + (roi.y + y) * stride + roi.x, count: roi.width)
    }
}

func copyRGB(_ src: UnsafePointer<UInt8>, _ stride: Int, _ roi: Rect, _ dst: UnsafeMutablePointer<UInt8>) {
    for y in 0..<roi.height {
        (dst + y * roi.width * 3).update(from: src + (roi.y + y) * stride + roi.x * 3, count: roi.width * 3)
    }
}

func grayToRGB(_ src: UnsafePointer<UInt8>, _ stride: Int, _ roi: Rect, _ dst: UnsafeMutablePointer<UInt8>) {
    for y in 0..<roi.height {
        let s = src + (roi.y + y) * stride + roi.x
        let d = dst + y * roi.width * 3
        for x in 0..<roi.width { d[3 * x] = s[x]; d[3 * x + 1] = s[x]; d[3 * x + 2] = s[x] }
    }
}

func rgbToGray(_ src: UnsafePointer<UInt8>, _ stride: Int, _ roi: Rect, _ dst: UnsafeMutablePointer<UInt8>) {
    for y in 0..<roi.height {
        let s = src + (roi.y + y) * stride + roi.x * 3
        let d = dst + y * roi.width
        for x in 0..<roi.width { d[x] = luma(s[3 * x], s[3 * x + 1], s[3 * x + 2]) }
    }
}

func yuyvToGray(_ src: UnsafePointer<UInt8>, _ stride: Int, _ roi: Rect, _ dst: UnsafeMutablePointer<UInt8>) {
    for y in 0..<roi.height {
        let s = src + (roi.y + y) * stride
        let d = dst + y * roi.width
        for x in 0..<roi.width { d[x] = s[2 * (roi.x + x)] }
    }
}

func yuyvToRGB(_ src: UnsafePointer<UInt8>, _ stride: Int, _ roi: Rect, _ dst: UnsafeMutablePointer<UInt8>) {
    for y in 0..<roi.height {
        let s = src + (roi.y + y) * stride
        let d = dst + y * roi.width * 3
        for x in 0..<roi.width {
            let px = roi.x + x
            let pair = s + 4 * (px >> 1)
            yuvToRGB(s[2 * px], pair[1], pair[3], d + 3 * x)
        }
    }
}

func nv12ToRGB(_ src: UnsafePointer<UInt8>, _ stride: Int, _ height: Int, _ roi: Rect, _ dst: UnsafeMutablePointer<UInt8>) {
    let uv = src + stride * height
    for y in 0..<roi.height {
        let sy = roi.y + y
        let s = src + sy * stride
        let c = uv + (sy >> 1) * stride
        let d = dst + y * roi.width * 3
        for x in 0..<roi.width {
            let px = roi.x + x
            yuvToRGB(s[px], c[px & ~1], c[(px & ~1) + 1], d + 3 * x)
        }
    }
}

extension Image {
    /// The pixels inside `roi` (which must fit the image), in the same layout.
    public func cropped(to roi: Rect) throws -> Image {
        var cut = Image()
        try pixels.withUnsafeBytes { raw in
            try convert(FrameView(bytes: raw, format: layout == .gray ? .grey : .rgb24, width: width, height: height), roi: roi, to: layout, into: &cut)
        }
        return cut
    }
}
