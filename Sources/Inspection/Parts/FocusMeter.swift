import Capture
import Imaging

/// How sharp a frame is, to judge the sharpest of a burst (a part passing the camera, a
/// lens breathing): the variance of the 4-neighbour Laplacian over the region judged, read
/// in gray at 160x120 through the same decode and resize as a model's input. Higher is
/// sharper; only comparisons between frames of one camera mean anything.
final class FocusMeter {
    static let (width, height) = (160, 120)
    private var thumbnail: GrayThumbnail

    init(roi: Rect?) throws {
        thumbnail = try GrayThumbnail(width: Self.width, height: Self.height, roi: roi)
    }

    /// The frame's focus score, or nil when it cannot be read (it is then never chosen).
    func score(_ frame: Frame) -> Double? {
        guard thumbnail.read(frame) else { return nil }
        return Self.laplacianVariance(thumbnail.pixels, width: Self.width, height: Self.height)
    }

    /// Variance of 4*p - up - down - left - right over the interior pixels.
    static func laplacianVariance(_ p: [Float], width w: Int, height h: Int) -> Double {
        var sum = 0.0, sq = 0.0
        for y in 1..<(h - 1) {
            for x in 1..<(w - 1) {
                let i = y * w + x
                let l = Double(4 * p[i] - p[i - 1] - p[i + 1] - p[i - w] - p[i + w])
                sum += l
                sq += l * l
            }
        }
        let n = Double((w - 2) * (h - 2))
        return sq / n - (sum / n) * (sum / n)
    }
}
