import Foundation

/// Sigmoid binary cross-entropy for multi-label outputs `[N, C]` with targets in [0, 1],
/// mean over all N*C elements, as PyTorch's `BCEWithLogitsLoss(pos_weight=pw)`:
///
///     l = -( pw[c] * y * log sigmoid(x) + (1 - y) * log(1 - sigmoid(x)) )
public struct SigmoidBinaryCrossEntropy: Sendable {
    public var positiveWeights: [Float]?

    public init(positiveWeights: [Float]? = nil) { self.positiveWeights = positiveWeights }

    public func callAsFunction(_ logits: Tensor, _ targets: [Float], grad: Tensor?) -> Float {
        let n = logits.batch, c = logits.sampleCount, count = n * c
        precondition(targets.count == count, "one target per output")
        var total = 0.0
        for i in 0..<count {
            let x = Double(logits.data[i]), y = Double(targets[i])
            let pw = Double(positiveWeights?[i % c] ?? 1)
            // log sigmoid(x) = -softplus(-x), log(1 - sigmoid(x)) = -softplus(x)
            let spNeg = softplus(-x), spPos = softplus(x)
            total += pw * y * spNeg + (1 - y) * spPos
            if let grad {
                let s = 1 / (1 + exp(-x))
                // d/dx = -pw*y*(1-s) + (1-y)*s
                grad.data[i] = Float((-pw * y * (1 - s) + (1 - y) * s) / Double(count))
            }
        }
        return Float(total / Double(count))
    }
}

/// log(1 + e^x), without overflow for large x.
@inline(__always) public func softplus(_ x: Double) -> Double { x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)) }

/// Softmax focal loss (Lin et al.), mean over the batch:
///
///     l_i = -alpha[y_i] * (1 - p_y)^gamma * log p_y
///
/// It down-weights easy examples so rare, hard defects dominate the gradient.
public struct FocalLoss: Sendable {
    public var gamma: Float
    public var alpha: [Float]?

    public init(gamma: Float = 2, alpha: [Float]? = nil) {
        self.gamma = gamma
        self.alpha = alpha
    }

    public func callAsFunction(_ logits: Tensor, _ labels: [Int32], grad: Tensor?) -> Float {
        let n = logits.batch, c = logits.sampleCount, g = Double(gamma)
        var lp = [Double](repeating: 0, count: c)
        var total = 0.0
        for i in 0..<n {
            let y = Int(labels[i]), a = Double(alpha?[y] ?? 1)
            logSoftmax(logits.data + i * c, c, &lp)
            let logpy = lp[y], py = exp(logpy), q = 1 - py
            let qg = pow(q, g)
            total += -a * qg * logpy
            guard let grad else { continue }
            // dl/dlog(p_y) = a * (g * q^(g-1) * p_y * log p_y - q^g); dlog p_y/dz_k = [k=y] - p_k
            let dldlogp = a * ((g > 0 && q > 0 ? g * pow(q, g - 1) * py * logpy : 0) - qg)
            let row = grad.data + i * c
            for k in 0..<c {
                row[k] = Float(dldlogp * ((k == y ? 1 : 0) - exp(lp[k])) / Double(n))
            }
        }
        return Float(total / Double(n))
    }
}
