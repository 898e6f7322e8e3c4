/// A network built from its spec: the layers, their parameters and buffers by
/// PyTorch-style dotted names ("3.body.0.weight"), forward and backward over batches.
public final class Network {
    public let spec: NetworkSpec
    public let root: Sequential
    /// Every learnable tensor, in a fixed order, with its full name.
    public let namedParameters: [(String, Parameter)]
    /// Running statistics and other saved state, with full names.
    public let namedBuffers: [(String, Tensor)]
    /// The sizes the spec asked for, checked before anything was allocated.
    public let plan: NetworkPlan

    public init(_ spec: NetworkSpec, seed: UInt64 = 0) throws {
        plan = try spec.plan()
        var builder = NetworkBuilder(generator: SeededGenerator(seed: seed))
        self.spec = spec
        root = builder.build(spec.layers, input: spec.input)
        root.needsInputGradient = false
        var params: [(String, Parameter)] = []
        var bufs: [(String, Tensor)] = []
        Network.walk(root, prefix: "", &params, &bufs)
        namedParameters = params
        namedBuffers = bufs
    }

    private static func walk(_ layer: Layer, prefix: String, _ params: inout [(String, Parameter)],
                             _ bufs: inout [(String, Tensor)]) {
        for p in layer.parameters { params.append((prefix + p.name, p)) }
        for (name, t) in layer.buffers { bufs.append((prefix + name, t)) }
        for (name, child) in layer.children { walk(child, prefix: prefix + name + ".", &params, &bufs) }
    }

    public var parameters: [Parameter] { namedParameters.map(\.1) }
    public var inputShape: Shape { spec.input }
    public var outputShape: Shape { root.outputShape }
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.value.count } }

    /// Runs the network on `x` `[N, C, H, W]`; the result belongs to the network.
    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        precondition(x.shape == spec.input, "input \(x.shape) does not match the network's \(spec.input)")
        return root.forward(x, mode: mode)
    }

    /// Back-propagates dL/d(output) of the last forward, accumulating parameter gradients.
    /// Returns dL/d(input) when `inputGradient` is true (tests, saliency), else nil.
    @discardableResult
    public func backward(_ gradOutput: Tensor, inputGradient: Bool = false) -> Tensor? {
        root.needsInputGradient = inputGradient
        let g = root.backward(gradOutput)
        return inputGradient ? g : nil
    }

    /// The dotted path of the layer that owns a parameter or buffer, with its trailing
    /// dot: "3.body.0." for "3.body.0.weight"; "" for a top-level name.
    public static func layerPrefix(of name: String) -> String {
        guard let dot = name.lastIndex(of: ".") else { return "" }
        return String(name[...dot])
    }

    /// A network of the same spec holding copies of these weights and statistics.
    public func copy() throws -> Network {
        let other = try Network(spec)
        for ((_, a), (_, b)) in zip(namedParameters, other.namedParameters) { b.value.data.update(from: a.value.data, count: a.value.count) }
        for ((_, a), (_, b)) in zip(namedBuffers, other.namedBuffers) { b.data.update(from: a.data, count: a.count) }
        return other
    }

    public func zeroGradients() {
        for p in parameters { p.grad.zero() }
    }

    /// All layers, depth first (containers included).
    public var allLayers: [Layer] {
        var out: [Layer] = []
        func visit(_ l: Layer) {
            out.append(l)
            for (_, c) in l.children { visit(c) }
        }
        visit(root)
        return out
    }
}
