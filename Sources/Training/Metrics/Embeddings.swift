import Neural

/// Each sample's embedding (`Embedding`: the global pooling's output the linear head
/// reads), in dataset order, eval mode; with `flipAverage`, the mean over its four flips,
/// as the daemon computes it for a flip-averaged model. Empty when the network has no
/// embedding.
public func embeddings(_ network: Network, on data: ImageDataset, normalization: Normalization, batchSize: Int = 128,
                       flipAverage: Bool) -> [[Float]] {
    let layers = network.root.layers
    guard let pool = Embedding.poolIndex(layers), data.count > 0 else { return [] }
    let fixed = flipAverage ? layers.prefix { $0.commutesWithMirroring }.count : 0
    let upTo = layers[fixed...pool]
    let all = Array(0..<data.count)
    let input = Tensor(data.shape, batch: min(batchSize, data.count))
    var out: [[Float]] = []
    out.reserveCapacity(data.count)
    var start = 0
    while start < data.count {
        let end = min(data.count, start + batchSize), n = end - start
        input.resize(batch: n)
        assembleBatch(data, all[start..<end], into: input, augmentation: .none, normalization: normalization, seed: 0)
        var h = input
        for layer in layers.prefix(fixed) { h = layer.forward(h, mode: .eval) }
        let flips: [Flip] = flipAverage ? Flip.allCases : [Flip.allCases[0]]
        var sum: [[Float]] = []
        let s = h.shape
        let mirrored = flipAverage ? Tensor(s, batch: n) : h
        for f in flips {
            if flipAverage {
                for i in 0..<n { f.copy(h.data + i * s.count, to: mirrored.data + i * s.count, channels: s.channels, height: s.height, width: s.width) }
            }
            var z = mirrored
            for layer in upTo { z = layer.forward(z, mode: .eval) }
            let c = z.sampleCount
            let rows = (0..<n).map { Array(UnsafeBufferPointer(start: z.data + $0 * c, count: c)) }
            sum = sum.isEmpty ? rows : zip(sum, rows).map { zip($0, $1).map(+) }
        }
        let k = Float(flips.count)
        out += k == 1 ? sum : sum.map { $0.map { $0 / k } }
        start = end
    }
    return out
}
