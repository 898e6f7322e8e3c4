import Imaging

/// A pixel format a V4L2 camera sends, by its fourcc: the five the pipeline reads as they
/// come (`PixelFormat`, raw ioctls and mmap, no copy beyond the frame's), or one that
/// libv4lconvert turns into RGB24 as each frame is taken (`V4L2Converter`), so that any UVC
/// or industrial V4L2 camera works: BGR24, other 4:2:2 and 4:2:0 layouts, RGB565, 16-bit
/// mono and the four Bayer mosaics.
public enum CameraFormat: String, Sendable, CaseIterable, CustomStringConvertible {
    case mjpeg = "MJPG", yuyv = "YUYV", grey = "GREY", rgb24 = "RGB3", nv12 = "NV12"
    /// Packed B G R.
    case bgr24 = "BGR3"
    /// Packed 4:2:2 in other orders: U Y0 V Y1, and Y0 V Y1 U.
    case uyvy = "UYVY", yvyu = "YVYU"
    /// 16-bit RGB, 5-6-5, little-endian.
    case rgb565 = "RGBP"
    /// Planar 4:2:0: Y, then U, then V at half resolution both ways.
    case yuv420 = "YU12"
    /// 16-bit luminance, little-endian (machine-vision mono cameras).
    case y16 = "Y16 "
    /// 8-bit Bayer mosaics, named by their first 2x2 block (BGGR, GBRG, GRBG, RGGB).
    case bayerBGGR = "BA81", bayerGBRG = "GBRG", bayerGRBG = "GRBG", bayerRGGB = "RGGB"

    /// The name in configs and listings: the fourcc without trailing spaces ("Y16").
    public var description: String { rawValue.trimmingCharacters(in: .whitespaces) }

    /// A format by its name as configs give it ("Y16" or "Y16 ", any case for letters).
    public init?(name: String) {
        let padded = name.uppercased().padding(toLength: 4, withPad: " ", startingAt: 0)
        guard name.count <= 4, let f = CameraFormat(rawValue: padded) else { return nil }
        self = f
    }

    public init?(fourcc: UInt32) {
        let chars = (0..<4).map { Character(UnicodeScalar(UInt8((fourcc >> (8 * UInt32($0))) & 0xFF))) }
        self.init(rawValue: String(chars))
    }

    public var fourcc: UInt32 {
        let b = Array(rawValue.utf8)
        return UInt32(b[0]) | UInt32(b[1]) << 8 | UInt32(b[2]) << 16 | UInt32(b[3]) << 24
    }

    /// The pipeline's own format when it reads this one as it comes; nil when libv4lconvert
    /// converts it (to `PixelFormat.rgb24`).
    public var native: PixelFormat? { PixelFormat(rawValue: rawValue) }

    /// The minimum row stride for a frame of this width (of the first plane).
    public func minimumBytesPerLine(width: Int) -> Int {
        if let native { return native.minimumBytesPerLine(width: width) }
        switch self {
        case .bgr24: return width * 3
        case .uyvy, .yvyu, .rgb565, .y16: return width * 2
        default: return width  // 4:2:0 luma plane, Bayer
        }
    }

    /// Bytes a whole frame needs at this size and stride (nil for MJPEG).
    public func frameBytes(width: Int, height: Int, bytesPerLine: Int) -> Int? {
        if let native { return native.frameBytes(width: width, height: height, bytesPerLine: bytesPerLine) }
        switch self {
        case .yuv420: return bytesPerLine * height + 2 * ((bytesPerLine + 1) / 2) * ((height + 1) / 2)
        default: return bytesPerLine * height
        }
    }
}
