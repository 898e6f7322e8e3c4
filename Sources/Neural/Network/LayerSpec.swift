/// One layer of a network described as data. Stored as JSON inside every model file:
/// `{"type": "conv", "out": 64, "kernel": 3, "stride": 1, "padding": 1}`.
public indirect enum LayerSpec: Equatable, Sendable {
    case conv(out: Int, kernel: Int, stride: Int = 1, padding: Int = 0, groups: Int = 1, bias: Bool = false)
    /// Depthwise conv: one filter per channel (groups == channels).
    case depthwise(kernel: Int, stride: Int = 1, padding: Int = 0, bias: Bool = false)
    case batchNorm
    case activation(ActivationKind)
    case maxPool(kernel: Int, stride: Int, padding: Int = 0)
    case avgPool(kernel: Int, stride: Int, padding: Int = 0)
    case globalAvgPool
    /// Per channel, the mean and the maximum of the whole map, concatenated (2C outputs):
    /// the mean sees absences and large areas, the maximum a defect a few pixels wide.
    case globalAvgMaxPool
    /// Per channel, the mean of the map and how far its peak stands out of the rest, in
    /// standard deviations ((max - mean) / std), concatenated (2C outputs). The peak is
    /// measured against the image's own texture: a scratch on a busy surface and on a calm
    /// one score alike, where a plain maximum would score the busy surface itself.
    case globalAvgPeakPool
    case flatten
    case linear(out: Int, bias: Bool = true)
    case dropout(Double)
    /// y = body(x) + shortcut(x); an empty shortcut is the identity.
    case residual(body: [LayerSpec], shortcut: [LayerSpec])
    /// A fixed filter (`HighPass`): each channel minus its Gaussian blur of `sigma` pixels,
    /// divided by the image's root mean square over all channels; with `keepInput` the
    /// input follows (2C outputs).
    case highPass(sigma: Double, keepInput: Bool = false)
    /// A fixed filter (`AnomalyMap`), a network's first layer only: the input, then each
    /// pixel's distance from the image's own surface (C + 1 outputs).
    case anomalyMap

    public static let relu = LayerSpec.activation(.relu)
    public static let relu6 = LayerSpec.activation(.relu6)
    public static let silu = LayerSpec.activation(.silu)
}

extension LayerSpec: Codable {
    private enum Key: String, CodingKey, CaseIterable {
        case type, out, kernel, stride, padding, groups, bias, p, body, shortcut, sigma
        case keepInput = "keep_input"
    }

    private var typeName: String {
        switch self {
        case .conv: "conv"
        case .depthwise: "depthwise"
        case .batchNorm: "batchnorm"
        case .activation(let kind): kind.rawValue
        case .maxPool: "maxpool"
        case .avgPool: "avgpool"
        case .globalAvgPool: "globalavgpool"
        case .globalAvgMaxPool: "globalavgmaxpool"
        case .globalAvgPeakPool: "globalavgpeakpool"
        case .flatten: "flatten"
        case .linear: "linear"
        case .dropout: "dropout"
        case .residual: "residual"
        case .highPass: "highpass"
        case .anomalyMap: "anomalymap"
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: Key.self)
        try c.encode(typeName, forKey: .type)
        switch self {
        case let .conv(out, kernel, stride, padding, groups, bias):
            try c.encode(out, forKey: .out); try c.encode(kernel, forKey: .kernel)
            try c.encode(stride, forKey: .stride); try c.encode(padding, forKey: .padding)
            if groups != 1 { try c.encode(groups, forKey: .groups) }
            if bias { try c.encode(bias, forKey: .bias) }
        case let .depthwise(kernel, stride, padding, bias):
            try c.encode(kernel, forKey: .kernel); try c.encode(stride, forKey: .stride)
            try c.encode(padding, forKey: .padding)
            if bias { try c.encode(bias, forKey: .bias) }
        case let .maxPool(kernel, stride, padding), let .avgPool(kernel, stride, padding):
            try c.encode(kernel, forKey: .kernel); try c.encode(stride, forKey: .stride)
            try c.encode(padding, forKey: .padding)
        case let .linear(out, bias):
            try c.encode(out, forKey: .out)
            if !bias { try c.encode(bias, forKey: .bias) }
        case let .dropout(p):
            try c.encode(p, forKey: .p)
        case let .residual(body, shortcut):
            try c.encode(body, forKey: .body); try c.encode(shortcut, forKey: .shortcut)
        case let .highPass(sigma, keepInput):
            try c.encode(sigma, forKey: .sigma)
            if keepInput { try c.encode(keepInput, forKey: .keepInput) }
        case .batchNorm, .activation, .globalAvgPool, .globalAvgMaxPool, .globalAvgPeakPool, .flatten, .anomalyMap:
            break
        }
    }

    /// Any key at all, to see the keys a layer object really has.
    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        let present = try decoder.container(keyedBy: AnyKey.self).allKeys.map(\.stringValue)
        let type = try c.decode(String.self, forKey: .type)
        func only(_ allowed: Set<Key>) throws {
            for key in present where key != "type" && !allowed.contains(where: { $0.rawValue == key }) {
                throw DecodingError.dataCorruptedError(forKey: .type, in: c,
                    debugDescription: "key '\(key)' is not allowed in a '\(type)' layer")
            }
        }
        func int(_ k: Key, _ d: Int? = nil) throws -> Int {
            if let d { return try c.decodeIfPresent(Int.self, forKey: k) ?? d }
            return try c.decode(Int.self, forKey: k)
        }
        let bias = try c.decodeIfPresent(Bool.self, forKey: .bias)
        switch type {
        case "conv":
            try only([.out, .kernel, .stride, .padding, .groups, .bias])
            self = .conv(out: try int(.out), kernel: try int(.kernel), stride: try int(.stride, 1),
                         padding: try int(.padding, 0), groups: try int(.groups, 1), bias: bias ?? false)
        case "depthwise":
            try only([.kernel, .stride, .padding, .bias])
            self = .depthwise(kernel: try int(.kernel), stride: try int(.stride, 1),
                              padding: try int(.padding, 0), bias: bias ?? false)
        case "maxpool", "avgpool":
            try only([.kernel, .stride, .padding])
            let k = try int(.kernel), s = try int(.stride, k), p = try int(.padding, 0)
            self = type == "maxpool" ? .maxPool(kernel: k, stride: s, padding: p) : .avgPool(kernel: k, stride: s, padding: p)
        case "linear":
            try only([.out, .bias])
            self = .linear(out: try int(.out), bias: bias ?? true)
        case "dropout":
            try only([.p])
            self = .dropout(try c.decode(Double.self, forKey: .p))
        case "residual":
            try only([.body, .shortcut])
            self = .residual(body: try c.decode([LayerSpec].self, forKey: .body),
                             shortcut: try c.decodeIfPresent([LayerSpec].self, forKey: .shortcut) ?? [])
        case "highpass":
            try only([.sigma, .keepInput])
            self = .highPass(sigma: try c.decode(Double.self, forKey: .sigma),
                             keepInput: try c.decodeIfPresent(Bool.self, forKey: .keepInput) ?? false)
        case "batchnorm": try only([]); self = .batchNorm
        case "anomalymap": try only([]); self = .anomalyMap
        case "globalavgpool": try only([]); self = .globalAvgPool
        case "globalavgmaxpool": try only([]); self = .globalAvgMaxPool
        case "globalavgpeakpool": try only([]); self = .globalAvgPeakPool
        case "flatten": try only([]); self = .flatten
        default:
            guard let kind = ActivationKind(rawValue: type) else {
                throw DecodingError.dataCorruptedError(forKey: .type, in: c,
                    debugDescription: "unknown layer type '\(type)'")
            }
            try only([])
            self = .activation(kind)
        }
    }
}

/// A whole network as data: what goes in, the layers, and what comes out.
public struct NetworkSpec: Codable, Equatable, Sendable {
    public var name: String
    public var input: Shape
    public var layers: [LayerSpec]

    public init(name: String, input: Shape, layers: [LayerSpec]) {
        self.name = name
        self.input = input
        self.layers = layers
    }
}

// MARK: Limits and the plan

/// What a network spec may ask for. A spec comes from a model file, which anyone can
/// write: these bounds, and overflow-checked arithmetic on every size, make a hostile spec
/// a refusal instead of a trap or a request for terabytes. The largest network we ship
/// (ResNet-18 at 224x224, 1000 classes) needs 11.7 M parameters and 0.8 M floats per
/// activation, far inside them.
public enum SpecLimits {
    /// Input channels, height and width.
    public static let inputSide = 1...4096
    /// Output channels of a conv, outputs of a linear layer.
    public static let width = 1...4096
    public static let convKernel = 1...15
    public static let convStride = 1...8
    /// Kernel and stride of a pooling window (a whole feature map, for a global max pool).
    public static let poolWindow = 1...65536
    /// Floats in all weights and running statistics together (a 512 MiB file).
    public static let parameters = 1 << 27
    /// Floats in one layer's output, or in one conv's im2col matrix, for one image (256 MiB).
    public static let activation = 1 << 26
    /// Layers in the whole network, residual bodies and shortcuts included.
    public static let layers = 1024
    /// Residual blocks inside residual blocks.
    public static let nesting = 16
    /// Input channels an `anomalyMap` layer describes (gray, RGB, RGBA): its descriptors,
    /// their covariance and its working planes grow with them.
    public static let anomalyMapChannels = 1...4
    /// The blur of a `highPass` layer, in pixels.
    public static let highPassSigma = 0.5...32.0
}

/// What a spec will allocate, computed without allocating anything.
public struct NetworkPlan: Equatable, Sendable {
    public var output: Shape
    /// Floats in the learnable tensors.
    public var parameters = 0
    /// Floats in the saved running statistics.
    public var buffers = 0
    /// The most floats one layer's output or im2col matrix holds, per image.
    public var largestActivation = 0
    public var layers = 0
    /// Multiply-adds of one image through the convs and linear layers (what pruning cuts).
    public var multiplyAdds = 0
}

extension NetworkSpec {
    /// Checks every layer's shape against its input and the bounds in `SpecLimits`, naming
    /// the layer's path; `Network.init` runs it before it allocates anything.
    public func plan() throws -> NetworkPlan {
        guard [input.channels, input.height, input.width].allSatisfy(SpecLimits.inputSide.contains) else {
            throw NeuralError.invalidSpec("input \(input): channels, height and width must each lie in \(SpecLimits.inputSide)")
        }
        var walker = SpecWalker(plan: NetworkPlan(output: input))
        try walker.note(input, at: "input")
        walker.plan.output = try walker.walk(layers, input: input, path: "", depth: 0)
        let p = walker.plan
        guard try SpecWalker.sum(p.parameters, p.buffers, "parameters") <= SpecLimits.parameters else {
            throw NeuralError.invalidSpec("\(p.parameters) parameters and \(p.buffers) buffer values; at most \(SpecLimits.parameters) together")
        }
        return p
    }
}

/// Follows the shapes through a spec as `NetworkBuilder` will, adding up what it allocates.
/// Every product and sum is overflow-checked.
struct SpecWalker {
    var plan: NetworkPlan

    mutating func walk(_ specs: [LayerSpec], input: Shape, path: String, depth: Int) throws -> Shape {
        var shape = input
        for (i, spec) in specs.enumerated() {
            let at = path.isEmpty ? "\(i)" : "\(path).\(i)"
            plan.layers += 1
            guard plan.layers <= SpecLimits.layers else { throw NeuralError.invalidSpec("more than \(SpecLimits.layers) layers") }
            shape = try layer(spec, input: shape, at: at, depth: depth)
            try note(shape, at: at)
        }
        return shape
    }

    private mutating func layer(_ spec: LayerSpec, input: Shape, at path: String, depth: Int) throws -> Shape {
        let c = input.channels
        switch spec {
        case let .conv(out, kernel, stride, padding, groups, bias):
            return try conv(out: out, kernel: kernel, stride: stride, padding: padding, groups: groups, bias: bias, input, path)
        case let .depthwise(kernel, stride, padding, bias):
            return try conv(out: c, kernel: kernel, stride: stride, padding: padding, groups: c, bias: bias, input, path)
        case .batchNorm:
            plan.parameters = try Self.sum(plan.parameters, 2 * c, path)   // gamma, beta
            plan.buffers = try Self.sum(plan.buffers, 2 * c, path)         // running mean, variance
            return input
        case let .maxPool(kernel, stride, padding), let .avgPool(kernel, stride, padding):
            guard SpecLimits.poolWindow.contains(kernel), SpecLimits.poolWindow.contains(stride) else {
                throw NeuralError.invalidSpec("pool at \(path): kernel \(kernel) and stride \(stride) must lie in \(SpecLimits.poolWindow)")
            }
            guard padding >= 0, padding <= kernel / 2 else {
                throw NeuralError.invalidSpec("pool at \(path): padding \(padding) must be at most half the kernel \(kernel)")
            }
            try Self.window("pool", kernel: kernel, stride: stride, padding: padding, input: input, at: path)
            let g = ConvGeometry(input: input, outChannels: c, kernel: kernel, stride: stride, padding: padding)
            return Shape(c, g.outHeight, g.outWidth)
        case .globalAvgPool: return Shape(c)
        case .globalAvgMaxPool, .globalAvgPeakPool: return Shape(2 * c)
        case .flatten: return Shape(input.count)
        case .activation: return input
        case let .highPass(sigma, keepInput):
            guard SpecLimits.highPassSigma.contains(sigma) else {
                throw NeuralError.invalidSpec("highpass at \(path): sigma \(sigma) must lie in \(SpecLimits.highPassSigma)")
            }
            return Shape(keepInput ? try Self.product(2, c, path) : c, input.height, input.width)
        case .anomalyMap:
            guard path == "0" else { throw NeuralError.invalidSpec("anomalymap at \(path): it has no input gradient and may only be the network's first layer") }
            guard SpecLimits.anomalyMapChannels.contains(c) else {
                throw NeuralError.invalidSpec("anomalymap at \(path): \(c) input channels; it describes images of \(SpecLimits.anomalyMapChannels) channels")
            }
            // its working planes (input, descriptors and temporaries: 4C + 11) count as an activation
            try note(Shape(4 * c + 11, input.height, input.width), at: path)
            return Shape(try Self.sum(c, 1, path), input.height, input.width)
        case let .linear(out, bias):
            guard SpecLimits.width.contains(out) else { throw NeuralError.invalidSpec("linear at \(path): out \(out) must lie in \(SpecLimits.width)") }
            let weights = try Self.product(out, input.count, path)
            plan.parameters = try Self.sum(plan.parameters, try Self.sum(weights, bias ? out : 0, path), path)
            plan.multiplyAdds = try Self.sum(plan.multiplyAdds, weights, path)
            return Shape(out)
        case .dropout(let p):
            guard p >= 0 && p < 1 else { throw NeuralError.invalidSpec("dropout at \(path): p must be in [0, 1)") }
            return input
        case let .residual(body, shortcut):
            guard depth < SpecLimits.nesting else { throw NeuralError.invalidSpec("residual at \(path): nested more than \(SpecLimits.nesting) deep") }
            let b = try walk(body, input: input, path: "\(path).body", depth: depth + 1)
            let s = try walk(shortcut, input: input, path: "\(path).shortcut", depth: depth + 1)
            guard b == s else { throw NeuralError.invalidSpec("residual at \(path): body gives \(b), shortcut gives \(s)") }
            return b
        }
    }

    private mutating func conv(out: Int, kernel: Int, stride: Int, padding: Int, groups: Int, bias: Bool,
                               _ input: Shape, _ path: String) throws -> Shape {
        guard SpecLimits.convKernel.contains(kernel), SpecLimits.convStride.contains(stride), (0..<kernel).contains(padding) else {
            throw NeuralError.invalidSpec("conv at \(path): kernel \(kernel) must lie in \(SpecLimits.convKernel), "
                                          + "stride \(stride) in \(SpecLimits.convStride), padding \(padding) in 0..<kernel")
        }
        try Self.window("conv", kernel: kernel, stride: stride, padding: padding, input: input, at: path)
        guard SpecLimits.width.contains(out), groups > 0, input.channels % groups == 0, out % groups == 0 else {
            throw NeuralError.invalidSpec("conv at \(path): \(input.channels) in and \(out) out channels must divide by groups \(groups)"
                                          + " and out must lie in \(SpecLimits.width)")
        }
        let g = ConvGeometry(input: input, outChannels: out, kernel: kernel, stride: stride, padding: padding, groups: groups)
        let weights = try Self.product(out, try Self.product(g.inPerGroup, kernel * kernel, path), path)
        plan.parameters = try Self.sum(plan.parameters, try Self.sum(weights, bias ? out : 0, path), path)
        let im2col = try Self.product(try Self.product(g.patch, g.outHeight, path), g.outWidth, path)
        guard im2col <= SpecLimits.activation else {
            throw NeuralError.invalidSpec("conv at \(path): its im2col matrix is \(im2col) floats per image; at most \(SpecLimits.activation)")
        }
        plan.largestActivation = max(plan.largestActivation, im2col)
        let macs = try Self.product(weights, try Self.product(g.outHeight, g.outWidth, path), path)
        plan.multiplyAdds = try Self.sum(plan.multiplyAdds, macs, path)
        return Shape(out, g.outHeight, g.outWidth)
    }

    /// A kernel window that fits the padded input. The callers have bounded kernel and
    /// padding, and `note` every side, so `side + 2 * padding` cannot overflow.
    static func window(_ what: String, kernel: Int, stride: Int, padding: Int, input: Shape, at path: String) throws {
        guard input.height + 2 * padding >= kernel, input.width + 2 * padding >= kernel else {
            throw NeuralError.invalidSpec("\(what) at \(path): kernel \(kernel) is larger than the padded input \(input)")
        }
    }

    /// Records a tensor of `shape` (per image), refusing one over `SpecLimits.activation`.
    mutating func note(_ shape: Shape, at path: String) throws {
        let n = try Self.product(try Self.product(shape.channels, shape.height, path), shape.width, path)
        guard n <= SpecLimits.activation else {
            throw NeuralError.invalidSpec("\(path): output \(shape) is \(n) floats per image; at most \(SpecLimits.activation)")
        }
        plan.largestActivation = max(plan.largestActivation, n)
    }

    static func product(_ a: Int, _ b: Int, _ path: String) throws -> Int {
        let (p, overflow) = a.multipliedReportingOverflow(by: b)
        guard !overflow else { throw NeuralError.invalidSpec("at \(path): sizes overflow") }
        return p
    }

    static func sum(_ a: Int, _ b: Int, _ path: String) throws -> Int {
        let (s, overflow) = a.addingReportingOverflow(b)
        guard !overflow else { throw NeuralError.invalidSpec("at \(path): sizes overflow") }
        return s
    }
}
