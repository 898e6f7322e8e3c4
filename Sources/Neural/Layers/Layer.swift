/// Whether a forward pass trains (batch statistics, dropout) or evaluates.
public enum Mode: Sendable { case train, eval }

/// A learnable tensor and its gradient, which `backward` accumulates (`+=`) and an
/// optimizer step consumes.
public final class Parameter: @unchecked Sendable {
    public let name: String
    public let value: Tensor
    public let grad: Tensor
    /// Batch-norm scales and all biases: often exempt from weight decay.
    public let isNormOrBias: Bool

    public init(name: String, _ shape: Shape, count: Int, isNormOrBias: Bool = false) {
        self.name = name
        value = Tensor(shape, batch: count)
        grad = Tensor(shape, batch: count)
        self.isNormOrBias = isNormOrBias
    }

    /// PyTorch's shape for this parameter, e.g. `[out, in, kh, kw]` for a conv weight.
    public var dims: [Int] = []
}

/// One layer of a network: a forward and a backward over NCHW batches.
///
/// Each layer owns its output and input-gradient tensors, sized on first use and
/// reused afterwards; `forward` keeps a reference to its input for `backward`.
public protocol Layer: AnyObject {
    /// The shape of one output sample, fixed when the layer is built.
    var outputShape: Shape { get }
    /// Runs the layer; the returned tensor is owned by the layer and valid until its next call.
    func forward(_ x: Tensor, mode: Mode) -> Tensor
    /// Given dL/dy for the last forward, accumulates parameter gradients and returns dL/dx
    /// (owned by the layer), or `dy` itself for layers that do not change the values.
    func backward(_ dy: Tensor) -> Tensor
    /// Learnable tensors, with local names ("weight", "bias").
    var parameters: [Parameter] { get }
    /// Non-learned state saved with the model (running mean and variance).
    var buffers: [(String, Tensor)] { get }
    /// Sub-layers, with local names, for containers.
    var children: [(String, Layer)] { get }
    /// False for the first layer of a network: its input gradient is never used.
    var needsInputGradient: Bool { get set }
    /// True for a fixed filter (no parameters, the same operation at every pixel, mirrored
    /// borders) whose output of a mirrored image is the mirror of its output: flip
    /// averaging runs it once per frame and mirrors the result.
    var commutesWithMirroring: Bool { get }
}

extension Layer {
    public var parameters: [Parameter] { [] }
    public var buffers: [(String, Tensor)] { [] }
    public var children: [(String, Layer)] { [] }
    public var commutesWithMirroring: Bool { false }
}

/// Makes `tensor` (created on first use) hold `batch` samples of `shape`.
@inline(__always)
func ensure(_ tensor: inout Tensor?, _ shape: Shape, batch: Int) -> Tensor {
    if let t = tensor {
        t.resize(batch: batch)
        return t
    }
    let t = Tensor(shape, batch: batch)
    tensor = t
    return t
}

/// A flat scratch buffer of at least `count` floats, grown (never shrunk) as needed.
@inline(__always)
func scratch(_ tensor: inout Tensor?, count: Int) -> UnsafeMutablePointer<Float> {
    if let t = tensor {
        t.resize(batch: count)
        return t.data
    }
    let t = Tensor(batch: count, channels: 1)
    tensor = t
    return t.data
}
