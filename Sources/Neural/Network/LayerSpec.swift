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
    case flatten
    case linear(out: Int, bias: Bool = true)
    case dropout(Double)
    /// y = body(x) + shortcut(x); an empty shortcut is the identity.
    case residual(body: [LayerSpec], shortcut: [LayerSpec])

    public static let relu = LayerSpec.activation(.relu)
    public static let relu6 = LayerSpec.activation(.relu6)
    public static let silu = LayerSpec.activation(.silu)
}

extension LayerSpec: Codable {
    private enum Key: String, CodingKey, CaseIterable {
        case type, out, kernel, stride, padding, groups, bias, p, body, shortcut
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
        case .flatten: "flatten"
        case .linear: "linear"
        case .dropout: "dropout"
        case .residual: "residual"
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
        case .batchNorm, .activation, .globalAvgPool, .globalAvgMaxPool, .flatten:
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
        case "batchnorm": try only([]); self = .batchNorm
        case "globalavgpool": try only([]); self = .globalAvgPool
        case "globalavgmaxpool": try only([]); self = .globalAvgMaxPool
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
