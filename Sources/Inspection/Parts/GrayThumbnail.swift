import Capture
import Imaging

/// A frame's region judged, small and gray (pixels 0...1), through the same decode and resize
/// as a model's input: what the focus meter and presence gating read. Capture thread only.
struct GrayThumbnail {
    let width: Int
    let height: Int
    private let pre: Preprocessor
    /// The last frame read, row-major.
    private(set) var pixels: [Float]

    init(width: Int, height: Int, roi: Rect?) throws {
        (self.width, self.height) = (width, height)
        pre = try Preprocessor(geometry: InputGeometry(width: width, height: height, layout: .gray, roi: roi))
        pixels = [Float](repeating: 0, count: width * height)
    }

    /// Reads `frame`; false when it cannot be read (the pixels are then unchanged).
    mutating func read(_ frame: Frame) -> Bool {
        let pre = pre
        do {
            try pixels.withUnsafeMutableBufferPointer { out in try frame.withView { try pre.process($0, into: out.baseAddress!) } }
            return true
        } catch {
            return false
        }
    }
}
