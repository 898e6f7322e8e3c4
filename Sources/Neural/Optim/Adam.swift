import Foundation

/// Adam (Kingma & Ba) and AdamW (decoupled weight decay), as PyTorch's
/// `torch.optim.Adam` / `AdamW`. The seed's defaults: lr 1e-3, betas 0.9/0.999.
///
///     Adam:  g = grad + wd * w            AdamW: w = w * (1 - lr * wd), g = grad
///     m = b1 m + (1 - b1) g,   v = b2 v + (1 - b2) g^2
///     w = w - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
public final class Adam: Optimizer {
    public var learningRate: Float
    public var beta1: Float
    public var beta2: Float
    public var epsilon: Float
    public var weightDecay: WeightDecay
    /// True for AdamW.
    public let decoupled: Bool
    private let store = SlotStore()

    public init(learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8,
                weightDecay: WeightDecay = .init(), decoupled: Bool = false) {
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        self.decoupled = decoupled
    }

    /// AdamW with PyTorch's default decay of 0.01.
    public static func adamW(learningRate: Float = 1e-3, weightDecay: WeightDecay = .init(0.01)) -> Adam {
        Adam(learningRate: learningRate, weightDecay: weightDecay, decoupled: true)
    }

    public func step(_ params: [(String, Parameter)]) {
        store.step += 1
        let t = Double(store.step)
        let bc1 = Float(1 - pow(Double(beta1), t)), bc2 = Float(1 - pow(Double(beta2), t))
        let stepSize = learningRate / bc1, bc2Root = bc2.squareRoot()
        let b1 = beta1, b2 = beta2, eps = epsilon
        for (name, p) in params {
            let w = p.value.data, g = p.grad.data, count = p.value.count
            let wd = weightDecay.rate(for: p)
            let m = store.slot(name, "exp_avg", like: p).0.data
            let v = store.slot(name, "exp_avg_sq", like: p).0.data
            let shrink = decoupled ? 1 - learningRate * wd : 1
            let l2 = decoupled ? 0 : wd
            for i in 0..<count {
                let gi = g[i] + l2 * w[i]
                m[i] = b1 * m[i] + (1 - b1) * gi
                v[i] = b2 * v[i] + (1 - b2) * gi * gi
                w[i] = w[i] * shrink - stepSize * m[i] / (v[i].squareRoot() / bc2Root + eps)
            }
        }
    }

    public func stateTensors() -> [(String, Tensor)] { store.exported() }
    public func load(state: [String: Tensor]) throws { try store.load(state) }
}
