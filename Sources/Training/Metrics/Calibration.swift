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
    var sum = [[Float]]()
    for f in Flip.allCases {
        let z = logits(network, on: data.flipped(f), normalization: normalization, batchSize: batchSize)
        sum = sum.isEmpty ? z : zip(sum, z).map { zip($0, $1).map(+) }
    }
    let n = Float(Flip.allCases.count)
    return sum.map { $0.map { $0 / n } }
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
