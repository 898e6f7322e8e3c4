/// Inverted dropout: in training, zeroes each element with probability p and scales the
/// rest by 1/(1-p); identity in evaluation. Seeded, so runs repeat.
public final class Dropout: Layer {
    public let probability: Float
    public let outputShape: Shape
    public var needsInputGradient = true
    public var generator: SeededGenerator
    private var output: Tensor?
    private var gradInput: Tensor?
    private var mask: [Float] = []
    private var active = false

    public init(probability: Float, shape: Shape, seed: UInt64) {
        self.probability = probability
        outputShape = shape
        generator = SeededGenerator(seed: seed)
    }

    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        active = mode == .train && probability > 0
        guard active else { return x }
        let y = ensure(&output, outputShape, batch: x.batch)
        if mask.count < x.count { mask = Array(repeating: 0, count: x.count) }
        let keep = 1 / (1 - probability)
        for i in 0..<x.count {
            mask[i] = generator.uniform() < probability ? 0 : keep
            y.data[i] = x.data[i] * mask[i]
        }
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        guard active else { return dy }
        let dx = ensure(&gradInput, outputShape, batch: dy.batch)
        for i in 0..<dy.count { dx.data[i] = dy.data[i] * mask[i] }
        return dx
    }
}

/// `[N, C, H, W]` -> `[N, C*H*W, 1, 1]`. NCHW memory is already in that order: the
/// values are copied unchanged (one memcpy), and passed through when H = W = 1.
public final class Flatten: Layer {
    public let inputShape: Shape
    public var needsInputGradient = true
    public var outputShape: Shape { Shape(inputShape.count) }
    private var output: Tensor?
    private var gradInput: Tensor?

    public init(_ shape: Shape) { inputShape = shape }

    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        if inputShape.height == 1 && inputShape.width == 1 { return x }
        let y = ensure(&output, outputShape, batch: x.batch)
        y.copy(from: x)
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        if inputShape.height == 1 && inputShape.width == 1 { return dy }
        let dx = ensure(&gradInput, inputShape, batch: dy.batch)
        dx.copy(from: dy)
        return dx
    }
}
