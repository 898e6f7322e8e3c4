import Foundation

/// The loss of a defect map: a network whose output is one logit per cell of a coarse grid
/// over the image (`[N, 1, h, w]`), trained from image labels and, where they are known,
/// cell labels (SegDec- and DRAEM-style):
///
/// - every image: sigmoid binary cross-entropy of its strongest cell against its label
///   (a defective image needs one cell that says so, a good one none);
/// - images whose cells are known (good parts: all zero; synthetic defects: the painted
///   area): the mean cross-entropy of their defective cells plus that of their good cells,
///   times `cellWeight`. Every cell of a good part is a negative example, and a painted
///   defect says where to look.
///
/// Real defective images carry no cell labels (nobody drew their outline): only their
/// strongest cell learns (multiple-instance learning).
public struct DefectMapLoss: Sendable {
    public var cellWeight: Float

    public init(cellWeight: Float = 1) { self.cellWeight = cellWeight }

    /// `labels`: 0 good, 1 defective, per image. `cells`: per image, nil (unknown) or one
    /// target in 0...1 per cell. Returns the mean loss over images; writes d(loss)/d(logit).
    public func callAsFunction(_ logits: Tensor, labels: [Int32], cells: [[Float]?], grad: Tensor?) -> Float {
        let n = logits.batch, m = logits.sampleCount
        precondition(labels.count == n && cells.count == n, "one label and one cell entry per image")
        var total = 0.0
        let perImage = 1 / Double(n)
        for i in 0..<n {
            let z = logits.data + i * m
            let g = grad.map { $0.data + i * m }
            if let g { for j in 0..<m { g[j] = 0 } }
            // the image's strongest cell against its label
            var top = 0
            for j in 1..<max(m, 1) where z[j] > z[top] { top = j }
            let y = Double(labels[i] == 0 ? 0 : 1), x = Double(z[top])
            total += (y * softplus(-x) + (1 - y) * softplus(x)) * perImage
            g?[top] += Float((1 / (1 + exp(-x)) - y) * perImage)
            // known cells: positives and negatives each averaged, so a small defect weighs
            // as much as the good surface around it
            guard let t = cells[i], cellWeight > 0 else { continue }
            precondition(t.count == m, "one target per cell")
            var positives = 0
            for j in 0..<m where t[j] >= 0.5 { positives += 1 }
            let negatives = m - positives
            for j in 0..<m {
                let positive = t[j] >= 0.5
                let count = positive ? positives : negatives
                let w = Double(cellWeight) * perImage / Double(max(count, 1))
                let xj = Double(z[j]), yj = positive ? 1.0 : 0.0
                total += w * (yj * softplus(-xj) + (1 - yj) * softplus(xj))
                g?[j] += Float(w * (1 / (1 + exp(-xj)) - yj))
            }
        }
        return Float(total)
    }
}
