/// Depthwise convolution (one kh x kw filter per channel), the building block of the
/// light real-time network. Weight `[C, 1, kh, kw]`, optional bias `[C]`.
public final class DepthwiseConv2d: Layer {
    public let geometry: ConvGeometry
    public let weight: Parameter
    public let bias: Parameter?
    public var needsInputGradient = true
    public var outputShape: Shape { Shape(geometry.outChannels, geometry.outHeight, geometry.outWidth) }

    private var input: Tensor?
    private var output: Tensor?
    private var gradInput: Tensor?

    public init(_ g: ConvGeometry, bias hasBias: Bool) {
        precondition(g.groups == g.inChannels && g.outChannels == g.inChannels, "not a depthwise geometry")
        geometry = g
        weight = Parameter(name: "weight", Shape(g.kernelH * g.kernelW), count: g.inChannels)
        weight.dims = [g.inChannels, 1, g.kernelH, g.kernelW]
        if hasBias {
            let b = Parameter(name: "bias", Shape(g.inChannels), count: 1, isNormOrBias: true)
            b.dims = [g.inChannels]
            bias = b
        } else {
            bias = nil
        }
    }

    public var parameters: [Parameter] { bias.map { [weight, $0] } ?? [weight] }

    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        input = x
        let y = ensure(&output, outputShape, batch: x.batch)
        depthwiseForward(x.data, weight.value.data, bias?.value.data, y.data, batch: x.batch, geometry)
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        guard let x = input else { preconditionFailure("backward before forward") }
        let dx = needsInputGradient ? ensure(&gradInput, x.shape, batch: x.batch) : nil
        depthwiseBackward(x.data, weight.value.data, dy.data, dx?.data, weight.grad.data, bias?.grad.data,
                          batch: x.batch, geometry)
        return dx ?? x
    }
}
