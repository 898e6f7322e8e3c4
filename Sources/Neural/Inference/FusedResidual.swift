/// A ResNet block whose sum and ReLU run inside its body's last conv: the shortcut runs
/// first, then that conv (the direct kernel) writes act(conv + bias + shortcut) in one
/// pass, instead of a sum pass and an activation pass over the block's output. Batches for
/// which `ConvKernelChoice` picks another kernel for that conv run the block as compiled.
/// Inference only.
final class FusedResidual: Layer {
    /// The compiled block, with its activation if any: for the batches that are not fused.
    let plain: Layer
    let block: Residual
    /// The body's layers before its last conv.
    let lead: [Layer]
    let last: CompiledConv
    let relu: Bool
    var needsInputGradient = false
    var outputShape: Shape { block.outputShape }

    /// Fuses a compiled block (a `Residual`, or one with a ReLU fused after it) whose body
    /// ends in a direct conv without an activation of its own; nil for anything else.
    init?(_ plain: Layer) {
        let relu: Bool
        let block: Residual
        if let r = plain as? Residual {
            (block, relu) = (r, false)
        } else if let f = plain as? FusedActivation, f.kind == .relu, let r = f.inner as? Residual {
            (block, relu) = (r, true)
        } else {
            return nil
        }
        guard let end = block.body.layers.last as? CompiledConv, end.direct != nil, !end.relu else { return nil }
        last = end
        self.plain = plain
        self.block = block
        self.relu = relu
        lead = Array(block.body.layers.dropLast())
    }

    func forward(_ x: Tensor, mode: Mode) -> Tensor {
        guard last.kernel(batch: x.batch) == .direct else { return plain.forward(x, mode: mode) }
        var h = x
        for layer in lead { h = layer.forward(h, mode: mode) }
        let shortcut = block.shortcut.layers.isEmpty ? x : block.shortcut.forward(x, mode: mode)
        return last.direct!.forward(h, adding: shortcut, relu: relu)
    }

    func backward(_ dy: Tensor) -> Tensor { preconditionFailure("inference networks do not train") }
}
