import Imaging
import Neural

extension InputReference {
    /// The reference of a stage-1 model trained on `images`: each statistic's mean and
    /// spread over them, and the calibrated P(defect) and embeddings of the good validation
    /// parts (`goodEmbeddings`).
    public static func measure(_ images: ImageDataset, goodScores: [Double], goodEmbeddings: [[Float]] = []) -> InputReference {
        let s = images.shape, per = s.count
        var columns = [[Double]](repeating: [], count: InputStatistics.names.count)
        images.pixels.withUnsafeBufferPointer { px in
            for i in 0..<images.count {
                let one = UnsafeBufferPointer(rebasing: px[(i * per)..<((i + 1) * per)])
                for (k, v) in InputStatistics.measure(bytes: one, channels: s.channels, height: s.height, width: s.width).values.enumerated() {
                    columns[k].append(v)
                }
            }
        }
        var stats: [String: Moments] = [:]
        for (name, c) in zip(InputStatistics.names, columns) {
            let mean = c.isEmpty ? 0 : c.reduce(0, +) / Double(c.count)
            let variance = c.isEmpty ? 0 : c.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(c.count)
            stats[name] = Moments(mean: mean, std: variance.squareRoot())
        }
        let finite = goodScores.filter(\.isFinite)
        return InputReference(statistics: stats, goodScores: histogram(finite), images: images.count, goodParts: finite.count,
                              embedding: EmbeddingReference.measure(goodEmbeddings))
    }
}

/// The embeddings of the parts of `data` labelled `passIndex`, as the daemon computes them
/// for a model with or without flip averaging.
func goodEmbeddings(_ network: Network, _ data: ImageDataset, _ passIndex: Int, _ normalization: Normalization, _ flipAverage: Bool) -> [[Float]] {
    let good = data.labels.indices.filter { Int(data.labels[$0]) == passIndex }
    guard !good.isEmpty else { return [] }
    return embeddings(network, on: data.subset(good), normalization: normalization, flipAverage: flipAverage)
}
