/// Layers run one after another; children are named "0", "1", ...
public final class Sequential: Layer {
    public let layers: [Layer]
    public let inputShape: Shape
    public var outputShape: Shape { layers.last?.outputShape ?? inputShape }

    public init(_ layers: [Layer], inputShape: Shape) {
        self.layers = layers
        self.inputShape = inputShape
    }

    /// Passed down the leading layers without parameters (fixed input filters) to the first
    /// layer with some: when the network's input needs no gradient, none of them does.
    public var needsInputGradient: Bool {
        get { layers.first?.needsInputGradient ?? true }
        set {
            for layer in layers {
                layer.needsInputGradient = newValue
                if Self.learns(layer) { break }
            }
        }
    }

    /// Whether `layer` or a layer inside it has parameters.
    static func learns(_ layer: Layer) -> Bool { !layer.parameters.isEmpty || layer.children.contains { learns($0.1) } }

    public var children: [(String, Layer)] { layers.enumerated().map { (String($0.offset), $0.element) } }

    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        var h = x
        for layer in layers { h = layer.forward(h, mode: mode) }
        return h
    }

    public func backward(_ dy: Tensor) -> Tensor {
        var g = dy
        for layer in layers.reversed() { g = layer.backward(g) }
        return g
    }
}

/// y = body(x) + shortcut(x), the residual connection of a ResNet block; an empty
/// shortcut is the identity. Children are "body" and "shortcut".
public final class Residual: Layer {
    public let body: Sequential
    public let shortcut: Sequential
    public var needsInputGradient = true
    public var outputShape: Shape { body.outputShape }
    private var output: Tensor?
    private var gradInput: Tensor?
    private var input: Tensor?

    public init(body: Sequential, shortcut: Sequential) {
        precondition(body.outputShape == shortcut.outputShape, "residual branches disagree")
        self.body = body
        self.shortcut = shortcut
    }

    public var children: [(String, Layer)] {
        shortcut.layers.isEmpty ? [("body", body)] : [("body", body), ("shortcut", shortcut)]
    }

    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        input = x
        let a = body.forward(x, mode: mode)
        let b = shortcut.forward(x, mode: mode)
        let y = ensure(&output, outputShape, batch: x.batch)
        let pa = a.data, pb = b.data, py = y.data
        Parallel.forEachChunk(y.count, minimumPerChunk: 1 << 16) { r in
            for i in r { py[i] = pa[i] + pb[i] }
        }
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        guard let x = input else { preconditionFailure("backward before forward") }
        body.needsInputGradient = needsInputGradient
        shortcut.needsInputGradient = needsInputGradient
        let ga = body.backward(dy)
        let gb = shortcut.backward(dy)
        guard needsInputGradient else { return x }
        let dx = ensure(&gradInput, x.shape, batch: x.batch)
        let pa = ga.data, pb = gb.data, pd = dx.data
        Parallel.forEachChunk(dx.count, minimumPerChunk: 1 << 16) { r in
            for i in r { pd[i] = pa[i] + pb[i] }
        }
        return dx
    }
}
