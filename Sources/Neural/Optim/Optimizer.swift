/// An update rule over named parameters. Optimizers keep their state by parameter
/// name, so a checkpoint can save and restore it.
public protocol Optimizer: AnyObject {
    var learningRate: Float { get set }
    /// Applies one update from the gradients in `params`.
    func step(_ params: [(String, Parameter)])
    /// State tensors by "<param>/<slot>" (e.g. "3.weight/exp_avg"), plus "step".
    func stateTensors() -> [(String, Tensor)]
    /// Restores what `stateTensors` returned.
    func load(state: [String: Tensor]) throws
}

/// Which parameters weight decay touches.
public struct WeightDecay: Sendable {
    public var rate: Float
    /// Exempt batch-norm scales and biases (usually better; PyTorch's default is false).
    public var skipNormAndBias: Bool

    public init(_ rate: Float = 0, skipNormAndBias: Bool = false) {
        self.rate = rate
        self.skipNormAndBias = skipNormAndBias
    }

    func rate(for p: Parameter) -> Float { skipNormAndBias && p.isNormOrBias ? 0 : rate }
}

/// Slots of optimizer state, one tensor per parameter, created on first use.
final class SlotStore {
    private(set) var slots: [String: Tensor] = [:]
    var step = 0

    func slot(_ name: String, _ kind: String, like p: Parameter) -> (Tensor, Bool) {
        let key = name + "/" + kind
        if let t = slots[key] { return (t, false) }
        let t = Tensor(batch: p.value.batch, channels: p.value.channels, height: p.value.height, width: p.value.width)
        slots[key] = t
        return (t, true)
    }

    func exported() -> [(String, Tensor)] {
        let s = Tensor(batch: 1, channels: 1)
        s[0] = Float(step)
        return slots.sorted { $0.key < $1.key } + [("step", s)]
    }

    func load(_ state: [String: Tensor]) throws {
        guard let s = state["step"] else { throw NeuralError.invalidSpec("optimizer state without 'step'") }
        step = Int(s[0])
        slots = [:]
        for (key, t) in state where key != "step" {   // copies: the caller keeps its tensors
            let mine = Tensor(batch: t.batch, channels: t.channels, height: t.height, width: t.width)
            mine.copy(from: t)
            slots[key] = mine
        }
    }
}

/// Scales all gradients so their global L2 norm is at most `maxNorm`; returns the norm
/// before clipping (as `torch.nn.utils.clip_grad_norm_`).
@discardableResult
public func clipGradientNorm(_ params: [Parameter], maxNorm: Float) -> Float {
    var sq = 0.0
    for p in params {
        let g = p.grad.data
        for i in 0..<p.grad.count { sq += Double(g[i]) * Double(g[i]) }
    }
    let norm = Float(sq.squareRoot())
    if norm > maxNorm {
        let scale = maxNorm / (norm + 1e-6)
        for p in params {
            let g = p.grad.data
            for i in 0..<p.grad.count { g[i] *= scale }
        }
    }
    return norm
}
