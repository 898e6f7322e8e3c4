/// A network's embedding of an image: the output of its global pooling (the vector its
/// linear head reads), for networks that end in a global pooling then one linear layer
/// (flatten and dropout aside; every network of the zoo). The drift watch compares the
/// line's embeddings with the training data's, and the review queue spreads its first
/// frames over them. With flip averaging, the embedding is the mean over the four flips,
/// as the logits are.
public enum Embedding {
    /// The index of the global pooling layer whose output is the embedding, or nil when
    /// the layers do not end in a global pooling and a linear head.
    public static func poolIndex(_ layers: [Layer]) -> Int? {
        guard let pool = layers.lastIndex(where: { $0 is GlobalAvgPool || $0 is GlobalAvgMaxPool || $0 is GlobalAvgPeakPool }) else { return nil }
        let after = layers[(pool + 1)...]
        guard after.contains(where: { $0 is Linear }), after.allSatisfy({ $0 is Linear || $0 is Flatten || $0 is Dropout }) else { return nil }
        return pool
    }

    /// Runs `layers` on `x`, keeping the output of layer `capture` (when in range) as the
    /// per-sample mean over groups of `group` consecutive samples (1: each sample its own).
    static func run(_ layers: ArraySlice<Layer>, _ x: Tensor, capture: Int?, group: Int, into out: inout [[Float]]) -> Tensor {
        var h = x
        for (i, layer) in zip(layers.indices, layers) {
            h = layer.forward(h, mode: .eval)
            if i == capture { out = mean(h, group: group) }
        }
        return h
    }

    /// Each group of `group` consecutive samples' mean.
    static func mean(_ t: Tensor, group: Int) -> [[Float]] {
        let c = t.sampleCount, n = t.batch / max(1, group)
        return (0..<n).map { g in
            var row = [Float](repeating: 0, count: c)
            for s in 0..<group {
                let base = t.data + (g * group + s) * c
                for k in 0..<c { row[k] += base[k] }
            }
            if group > 1 { for k in 0..<c { row[k] /= Float(group) } }
            return row
        }
    }
}

extension InferenceNetwork {
    /// Logits for one sample (`C*H*W` floats), with or without flip averaging as
    /// `predict(sample:)` and `predictFlipAveraged(sample:)`, and its embedding (nil when the
    /// network has none, `Embedding.poolIndex`).
    public func predictWithEmbedding(sample: UnsafePointer<Float>, flipAveraged: Bool) -> (logits: [Float], embedding: [Float]?) {
        let layers = root.layers
        let pool = Embedding.poolIndex(layers)
        var rows: [[Float]] = []
        if flipAveraged {
            let fixed = layers.prefix { $0.commutesWithMirroring }
            let x1 = single ?? Tensor(spec.input, batch: 1)
            single = x1
            x1.data.update(from: sample, count: x1.count)
            let z = compute.run { () -> Tensor in
                let y = Flip.mirrorImages(after: fixed, of: x1, buffer: &flips)
                return Embedding.run(layers.dropFirst(fixed.count), y, capture: pool, group: Flip.allCases.count, into: &rows)
            }
            return (Flip.mean(of: z.data, outputs: z.sampleCount), rows.first)
        }
        let x = single ?? Tensor(spec.input, batch: 1)
        single = x
        x.data.update(from: sample, count: x.count)
        let z = compute.run { Embedding.run(layers[...], x, capture: pool, group: 1, into: &rows) }
        return (z.array, rows.first)
    }
}

extension QuantizedNetwork {
    /// Logits for one sample as `predict(sample:)` or `predictFlipAveraged(sample:)`, and its
    /// embedding from the fp32 tail (nil when the tail holds no global pooling and head).
    public func predictWithEmbedding(sample: UnsafePointer<Float>, flipAveraged: Bool) -> (logits: [Float], embedding: [Float]?) {
        let x1 = headInput?.batch == 1 ? headInput! : Tensor(spec.input, batch: 1)
        headInput = x1
        x1.data.update(from: sample, count: x1.count)
        var rows: [[Float]] = []
        if flipAveraged {
            let fixed = head.prefix { $0.commutesWithMirroring }
            let z = compute.run {
                run(Flip.mirrorImages(after: fixed, of: x1, buffer: &mirrored), fromHead: fixed.count, capture: true,
                    group: Flip.allCases.count, into: &rows)
            }
            let logits = z.withUnsafeBufferPointer { Flip.mean(of: $0.baseAddress!, outputs: z.count / Flip.allCases.count) }
            return (logits, rows.first)
        }
        let z = compute.run { run(x1, fromHead: 0, capture: true, group: 1, into: &rows) }
        return (z, rows.first)
    }
}
