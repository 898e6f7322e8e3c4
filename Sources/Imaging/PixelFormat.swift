/// The frame formats cameras deliver and Linesight reads, named by their V4L2 fourcc.
public enum PixelFormat: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
    /// Motion JPEG: every frame a complete JPEG (UVC cameras may omit Huffman tables).
    case mjpeg = "MJPG"
    /// Packed 4:2:2, Y0 U Y1 V per two pixels.
    case yuyv = "YUYV"
    /// 8-bit luminance.
    case grey = "GREY"
    /// Packed R G B.
    case rgb24 = "RGB3"
    /// Planar Y then interleaved UV at half resolution both ways.
    case nv12 = "NV12"

    public var description: String { rawValue }

    /// The V4L2 fourcc code (little-endian packing of the four characters).
    public var fourcc: UInt32 {
        let b = Array(rawValue.utf8)
        return UInt32(b[0]) | UInt32(b[1]) << 8 | UInt32(b[2]) << 16 | UInt32(b[3]) << 24
    }

    public init?(fourcc: UInt32) {
        let chars = (0..<4).map { Character(UnicodeScalar(UInt8((fourcc >> (8 * UInt32($0))) & 0xFF))) }
        self.init(rawValue: String(chars))
    }

    /// Bytes a whole uncompressed frame needs at the given size and row stride
    /// (nil for compressed formats).
    public func frameBytes(width: Int, height: Int, bytesPerLine: Int) -> Int? {
        switch self {
        case .mjpeg: return nil
        case .yuyv, .grey, .rgb24: return bytesPerLine * height
        case .nv12: return bytesPerLine * height + bytesPerLine * ((height + 1) / 2)
        }
    }

    /// The minimum row stride for a frame of this width.
    public func minimumBytesPerLine(width: Int) -> Int {
        switch self {
        case .mjpeg: return 0
        case .yuyv: return width * 2
        case .grey, .nv12: return width
        case .rgb24: return width * 3
        }
    }
}
