import Foundation
import Neural

/// Turns the per-pixel masks `assembleBatch` writes into the per-cell targets of a defect
/// map (`DefectMapLoss`), and reads an image's score off its map.
public enum DefectMapTargets {
    /// Per image: nil when its cells are unknown (a real defect: its mask is -1), else one
    /// target per cell of `map` ([1, h, w]): the largest mask value in the cell's block of
    /// pixels (1 where a synthetic defect covers any of it, 0 on a good surface).
    public static func cells(_ masks: [Float], count: Int, image: Shape, map: Shape) -> [[Float]?] {
        let (H, W, h, w) = (image.height, image.width, map.height, map.width)
        let plane = H * W
        return (0..<count).map { i in
            let m = i * plane
            guard masks[m] >= 0 else { return nil }
            var t = [Float](repeating: 0, count: h * w)
            for y in 0..<H {
                let cy = min(h - 1, y * h / H)
                for x in 0..<W where masks[m + y * W + x] > t[cy * w + min(w - 1, x * w / W)] {
                    t[cy * w + min(w - 1, x * w / W)] = masks[m + y * W + x]
                }
            }
            return t
        }
    }

    /// Image `i`'s score: the logit of its strongest cell.
    public static func score(_ logits: Tensor, _ i: Int) -> Float {
        let m = logits.sampleCount, z = logits.data + i * m
        var best = z[0]
        for j in 1..<max(m, 1) where z[j] > best { best = z[j] }
        return best
    }
}
