/// Stochastic gradient descent with momentum, Nesterov and L2 weight decay, as
/// PyTorch's `torch.optim.SGD`:
///
///     g = grad + wd * w
///     b = momentum * b + g           (b = g on the first step)
///     g = nesterov ? g + momentum * b : b
///     w = w - lr * g
public final class SGD: Optimizer {
    public var learningRate: Float
    public var momentum: Float
    public var nesterov: Bool
    public var weightDecay: WeightDecay
    private let store = SlotStore()

    public init(learningRate: Float, momentum: Float = 0.9, nesterov: Bool = false, weightDecay: WeightDecay = .init()) {
        self.learningRate = learningRate
        self.momentum = momentum
        self.nesterov = nesterov
        self.weightDecay = weightDecay
    }

    public func step(_ params: [(String, Parameter)]) {
        store.step += 1
        for (name, p) in params {
            let w = p.value.data, g = p.grad.data, count = p.value.count
            let wd = weightDecay.rate(for: p), lr = learningRate, mu = momentum
            if mu == 0 {
                for i in 0..<count { w[i] -= lr * (g[i] + wd * w[i]) }
                continue
            }
            let (buf, fresh) = store.slot(name, "momentum_buffer", like: p)
            let b = buf.data
            for i in 0..<count {
                let d = g[i] + wd * w[i]
                b[i] = fresh ? d : mu * b[i] + d
                w[i] -= lr * (nesterov ? d + mu * b[i] : b[i])
            }
        }
    }

    public func stateTensors() -> [(String, Tensor)] { store.exported() }
    public func load(state: [String: Tensor]) throws { try store.load(state) }
}
