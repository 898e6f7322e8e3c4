/// Everything that can go wrong turning bytes into pixels. A bad frame is an error
/// value for the caller to count and skip, never a crash or an exit.
public enum ImagingError: Error, Equatable, CustomStringConvertible {
    /// The input has no bytes at all.
    case empty
    /// The bytes are not a JPEG this decoder can read (bad header, truncated, corrupt).
    case corruptJPEG(String)
    /// The header claims a size beyond the configured pixel budget.
    case tooLarge(width: Int, height: Int, limit: Int)
    /// A raw frame is shorter than its format and size require.
    case shortFrame(format: PixelFormat, expected: Int, got: Int)
    /// Sizes, strides or regions that cannot describe an image.
    case invalidGeometry(String)
    /// TurboJPEG could not be set up or could not encode.
    case codec(String)

    public var description: String {
        switch self {
        case .empty: return "empty image data"
        case .corruptJPEG(let why): return "corrupt or truncated JPEG: \(why)"
        case .tooLarge(let w, let h, let limit):
            return "image \(w)x\(h) exceeds the limit of \(limit) pixels"
        case .shortFrame(let f, let e, let g):
            return "\(f) frame has \(g) bytes, needs \(e)"
        case .invalidGeometry(let why): return "invalid image geometry: \(why)"
        case .codec(let why): return "JPEG codec error: \(why)"
        }
    }
}
