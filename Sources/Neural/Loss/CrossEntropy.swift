import Foundation

/// Softmax cross-entropy over logits `[N, C]`, mean over the batch, as PyTorch's
/// `F.cross_entropy(logits, y, weight=w, label_smoothing=eps)`:
///
///     l_i = (1 - eps) * w[y_i] * -log p[i, y_i]  +  eps / C * sum_c w[c] * -log p[i, c]
///     L   = sum_i l_i / sum_i w[y_i]
///
/// Writes dL/dlogits into `grad` and returns L.
public struct SoftmaxCrossEntropy: Sendable {
    public var classWeights: [Float]?
    public var labelSmoothing: Float

    public init(classWeights: [Float]? = nil, labelSmoothing: Float = 0) {
        self.classWeights = classWeights
        self.labelSmoothing = labelSmoothing
    }

    public func callAsFunction(_ logits: Tensor, _ labels: [Int32], grad: Tensor?) -> Float {
        let n = logits.batch, c = logits.sampleCount
        precondition(labels.count == n, "one label per sample")
        let eps = Double(labelSmoothing)
        var total = 0.0, norm = 0.0
        var p = [Double](repeating: 0, count: c)
        for i in 0..<n { norm += Double(classWeights?[Int(labels[i])] ?? 1) }
        for i in 0..<n {
            let row = logits.data + i * c, y = Int(labels[i])
            logSoftmax(row, c, &p)
            let wy = Double(classWeights?[y] ?? 1)
            var smooth = 0.0
            for k in 0..<c { smooth += Double(classWeights?[k] ?? 1) * -p[k] }
            total += (1 - eps) * wy * -p[y] + eps / Double(c) * smooth
            guard let grad else { continue }
            // d l_i / d z_k = (1-eps) w_y (p_k - [k=y]) + eps/C (p_k sum_j w_j - w_k)
            var wsum = 0.0
            for k in 0..<c { wsum += Double(classWeights?[k] ?? 1) }
            let g = grad.data + i * c
            for k in 0..<c {
                let pk = exp(p[k]), wk = Double(classWeights?[k] ?? 1)
                let hard = (1 - eps) * wy * (pk - (k == y ? 1 : 0))
                let soft = eps / Double(c) * (pk * wsum - wk)
                g[k] = Float((hard + soft) / norm)
            }
        }
        return Float(total / norm)
    }
}

/// Log-softmax of one row into `out` (Double), stable against large logits.
@inline(__always)
func logSoftmax(_ row: UnsafePointer<Float>, _ c: Int, _ out: inout [Double]) {
    var m = -Double.infinity
    for k in 0..<c { m = max(m, Double(row[k])) }
    var s = 0.0
    for k in 0..<c { s += exp(Double(row[k]) - m) }
    let lse = m + log(s)
    for k in 0..<c { out[k] = Double(row[k]) - lse }
}

/// Softmax probabilities of logits `[N, C]`, row by row.
public func softmax(_ logits: Tensor) -> [[Float]] {
    let c = logits.sampleCount
    var lp = [Double](repeating: 0, count: c)
    return (0..<logits.batch).map { i in
        logSoftmax(logits.data + i * c, c, &lp)
        return lp.map { Float(exp($0)) }
    }
}
