/// One conv compiled for inference (weights and bias already folded with its batch norm):
/// the NCHW forms that pack their weights once (the direct kernel, Winograd), each made
/// only if `ConvKernelChoice` picks it for some batch size, and the conv itself for the
/// rest (im2col + GEMM, a pointwise GEMM, the blocked runner). Every call runs the kernel
/// chosen for its batch; a ReLU after the conv runs in the direct kernel's output write,
/// in place after the others. Inference only.
final class CompiledConv: Layer {
    let conv: Conv2d
    let direct: DirectConvLayer?
    let winograd: WinogradConv?
    let options: ConvKernelOptions
    /// A ReLU fused after the conv (set by the inference compiler).
    var relu = false
    var needsInputGradient = false
    var outputShape: Shape { conv.outputShape }

    init(_ conv: Conv2d, options: ConvKernelOptions) {
        let g = conv.geometry
        self.conv = conv
        self.options = options
        // the direct kernel runs the small batches if any, Winograd the large ones if any
        func chosen(_ batch: Int) -> ConvKernel {
            ConvKernelChoice.choose(g, batch: batch, setting: .inference, workers: 1, options: options)
        }
        let bias = (0..<g.outChannels).map { conv.bias?.value[$0] ?? 0 }
        direct = chosen(1) == .direct ? DirectConvLayer(g, weight: conv.weight.value.data, bias: bias) : nil
        winograd = chosen(1 << 20) == .winograd ? WinogradConv(g, weight: conv.weight.value.data, bias: bias) : nil
    }

    /// The kernel a batch of `batch` runs on, with the `Compute` in force.
    func kernel(batch: Int) -> ConvKernel {
        ConvKernelChoice.choose(conv.geometry, batch: batch, setting: .inference, workers: Compute.current().threads,
                                options: options)
    }

    func forward(_ x: Tensor, mode: Mode) -> Tensor {
        let y: Tensor
        switch kernel(batch: x.batch) {
        case .direct: return direct!.forward(x, adding: nil, relu: relu)
        case .winograd: y = winograd!.forward(x, mode: .eval)
        default: y = conv.forward(x, mode: .eval)
        }
        if relu { activate(.relu, y.data, y.data, y.count) }
        return y
    }

    func backward(_ dy: Tensor) -> Tensor { preconditionFailure("inference networks do not train") }
}
