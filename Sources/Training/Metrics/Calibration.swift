import Foundation
import Neural

/// Temperature scaling (Guo et al. 2017): one scalar T that makes softmax(z / T) honest on
/// held-out data, fitted by minimizing the negative log-likelihood. It changes confidence,
/// never the predicted class.
public enum TemperatureScaling {
    /// Mean negative log-likelihood of `labels` under softmax(logits / t).
    public static func nll(_ logits: [[Float]], _ labels: [Int32], temperature t: Double) -> Double {
        var total = 0.0
        for (z, y) in zip(logits, labels) {
            let scaled = z.map { Double($0) / t }
            let m = scaled.max() ?? 0
            let logSum = log(scaled.reduce(0) { $0 + exp($1 - m) }) + m
            total += logSum - scaled[Int(y)]
        }
        return total / Double(max(1, logits.count))
    }

    /// The temperature in [0.05, 20] with the lowest NLL (golden-section search on log T).
    public static func fit(_ logits: [[Float]], _ labels: [Int32]) -> Double {
        guard !logits.isEmpty else { return 1 }
        var a = log(0.05), b = log(20.0)
        let g = (sqrt(5.0) - 1) / 2
        var c = b - g * (b - a), d = a + g * (b - a)
        for _ in 0..<60 {
            if nll(logits, labels, temperature: exp(c)) < nll(logits, labels, temperature: exp(d)) { b = d } else { a = c }
            c = b - g * (b - a)
            d = a + g * (b - a)
        }
        return exp((a + b) / 2)
    }

    /// Expected calibration error with equal-width confidence bins, as a fraction (0...1; x100
    /// for percentage points): the mean over images of |accuracy - confidence| of their bin,
    /// each bin weighted by its share of the images.
    public static func expectedCalibrationError(_ logits: [[Float]], _ labels: [Int32], temperature t: Double, bins: Int = 10) -> Double {
        var conf = [Double](repeating: 0, count: bins), acc = [Double](repeating: 0, count: bins), n = [Int](repeating: 0, count: bins)
        for (z, y) in zip(logits, labels) where z.allSatisfy(\.isFinite) {
            let scaled = z.map { Double($0) / t }
            let m = scaled.max()!
            let e = scaled.map { exp($0 - m) }
            let s = e.reduce(0, +)
            let best = scaled.firstIndex(of: m)!
            let p = e[best] / s
            let b = min(bins - 1, Int(p * Double(bins)))
            conf[b] += p
            acc[b] += best == Int(y) ? 1 : 0
            n[b] += 1
        }
        let total = Double(max(1, logits.count))
        // acc and conf hold per-bin sums: |mean acc - mean conf| x (n_b / total) = |acc - conf| / total
        return (0..<bins).reduce(0) { $0 + abs(acc[$1] - conf[$1]) / total }
    }
}

/// Raw network outputs for every sample, in dataset order (eval mode); with `flipAverage`,
/// the mean over each sample's four flips (as `InferenceNetwork.predictFlipAveraged`).
public func logits(_ network: Network, on data: ImageDataset, normalization: Normalization, batchSize: Int = 256, flipAverage: Bool) -> [[Float]] {
    guard flipAverage else { return logits(network, on: data, normalization: normalization, batchSize: batchSize) }
    // the leading filters that commute with mirroring (anomaly map, high-pass) run once per image
    let layers = network.root.layers
    let fixed = layers.prefix { $0.commutesWithMirroring }
    let s = fixed.last?.outputShape ?? data.shape
    let all = Array(0..<data.count), n = Float(Flip.allCases.count)
    let input = Tensor(data.shape, batch: min(batchSize, max(1, data.count)))
    let mirrored = Tensor(s, batch: input.batch)
    var out: [[Float]] = []
    var start = 0
    while start < data.count {
        let end = min(data.count, start + batchSize)
        input.resize(batch: end - start)
        mirrored.resize(batch: end - start)
        assembleBatch(data, all[start..<end], into: input, augmentation: .none, normalization: normalization, seed: 0)
        var h = input
        for layer in fixed { h = layer.forward(h, mode: .eval) }
        var sum: [[Float]] = []
        for f in Flip.allCases {
            for i in 0..<(end - start) {
                f.copy(h.data + i * s.count, to: mirrored.data + i * s.count, channels: s.channels, height: s.height, width: s.width)
            }
            var z = mirrored
            for layer in layers.dropFirst(fixed.count) { z = layer.forward(z, mode: .eval) }
            let c = z.sampleCount
            let rows = (0..<(end - start)).map { Array(UnsafeBufferPointer(start: z.data + $0 * c, count: c)) }
            sum = sum.isEmpty ? rows : zip(sum, rows).map { zip($0, $1).map(+) }
        }
        out += sum.map { $0.map { $0 / n } }
        start = end
    }
    return out
}

/// Raw network outputs for every sample, in dataset order (eval mode).
public func logits(_ network: Network, on data: ImageDataset, normalization: Normalization, batchSize: Int = 256) -> [[Float]] {
    var out: [[Float]] = []
    forEachBatch(network, data, normalization, batchSize) { start, end, z, _ in
        let c = z.sampleCount
        for i in 0..<(end - start) { out.append(Array(UnsafeBufferPointer(start: z.data + i * c, count: c))) }
    }
    return out
}
