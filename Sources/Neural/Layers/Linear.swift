/// Fully connected layer, y = x W^T + b, over flattened samples.
/// Weight `[out, in]` (PyTorch's layout), bias `[out]`.
public final class Linear: Layer {
    public let inFeatures: Int
    public let outFeatures: Int
    public let weight: Parameter
    public let bias: Parameter?
    public var needsInputGradient = true
    public var outputShape: Shape { Shape(outFeatures) }
    private let inputShape: Shape
    private var input: Tensor?
    private var output: Tensor?
    private var gradInput: Tensor?

    public init(input: Shape, outFeatures: Int, bias hasBias: Bool) {
        inputShape = input
        inFeatures = input.count
        self.outFeatures = outFeatures
        weight = Parameter(name: "weight", Shape(inFeatures), count: outFeatures)
        weight.dims = [outFeatures, inFeatures]
        if hasBias {
            let b = Parameter(name: "bias", Shape(outFeatures), count: 1, isNormOrBias: true)
            b.dims = [outFeatures]
            bias = b
        } else {
            bias = nil
        }
    }

    public var parameters: [Parameter] { bias.map { [weight, $0] } ?? [weight] }

    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        input = x
        let n = x.batch, y = ensure(&output, outputShape, batch: n)
        if let bias {
            for i in 0..<n { (y.data + i * outFeatures).update(from: bias.value.data, count: outFeatures) }
        }
        sgemm(false, true, n, outFeatures, inFeatures, 1, x.data, inFeatures, weight.value.data, inFeatures,
              bias == nil ? 0 : 1, y.data, outFeatures)
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        guard let x = input else { preconditionFailure("backward before forward") }
        let n = x.batch
        sgemm(true, false, outFeatures, inFeatures, n, 1, dy.data, outFeatures, x.data, inFeatures,
              1, weight.grad.data, inFeatures)
        if let bias {
            for i in 0..<n {
                let row = dy.data + i * outFeatures
                for j in 0..<outFeatures { bias.grad.data[j] += row[j] }
            }
        }
        guard needsInputGradient else { return x }
        let dx = ensure(&gradInput, inputShape, batch: n)
        sgemm(false, false, n, inFeatures, outFeatures, 1, dy.data, outFeatures, weight.value.data, inFeatures,
              0, dx.data, inFeatures)
        return dx
    }
}
