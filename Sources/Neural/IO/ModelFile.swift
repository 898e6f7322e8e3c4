import Foundation

/// What a model file says about its network besides the weights.
public struct ModelMetadata: Codable, Equatable, Sendable {
    /// Per-channel input normalization: x' = (x - mean) / std, with x in [0, 1].
    public struct Normalization: Codable, Equatable, Sendable {
        public var mean: [Float]
        public var std: [Float]
        public init(mean: [Float], std: [Float]) { self.mean = mean; self.std = std }
    }

    /// Where the model came from.
    public struct Provenance: Codable, Equatable, Sendable {
        public var created: String
        public var dataHash: String?
        public var parent: String?
        public var metrics: [String: Double]
        public var notes: String?
        public init(created: String, dataHash: String? = nil, parent: String? = nil,
                    metrics: [String: Double] = [:], notes: String? = nil) {
            self.created = created; self.dataHash = dataHash; self.parent = parent
            self.metrics = metrics; self.notes = notes
        }
    }

    /// "multiclass" (softmax over classes) or "multilabel" (one sigmoid per class).
    public enum Task: String, Codable, Sendable { case multiclass, multilabel }

    public static let currentFormat = 1

    public var format: Int
    public var spec: NetworkSpec
    public var task: Task
    public var classes: [String]
    public var normalization: Normalization
    public var thresholds: [String: Double]

    /// Stage-2 thresholds per class, stored as "defect.<class>" in `thresholds`.
    public var perKindDefectThresholds: [String: Double] {
        var out: [String: Double] = [:]
        for (key, value) in thresholds where key.hasPrefix("defect.") { out[String(key.dropFirst(7))] = value }
        return out
    }
    /// Softmax temperature fitted on validation data (calibration): probabilities are
    /// softmax(logits / temperature). Nil means 1 (uncalibrated).
    public var temperature: Double?
    /// Test-time flip averaging: the model's logits are the mean over the input and its
    /// three mirror images (`Flip`), at four times the compute; the temperature and the
    /// thresholds were fitted on those averaged logits. Nil means false (one pass).
    public var flipAverage: Bool?
    public var provenance: Provenance

    public init(spec: NetworkSpec, task: Task = .multiclass, classes: [String], normalization: Normalization,
                thresholds: [String: Double] = [:], provenance: Provenance) {
        format = Self.currentFormat
        self.spec = spec; self.task = task; self.classes = classes
        self.normalization = normalization; self.thresholds = thresholds; self.provenance = provenance
    }
}

/// A network with its metadata, saved as one safetensors file: tensors by their
/// PyTorch-style names, the metadata as JSON under `__metadata__["linesight"]`.
public enum ModelFile {
    public static func encode(_ network: Network, _ meta: ModelMetadata) -> Data {
        var entries: [Safetensors.Entry] = []
        for (name, p) in network.namedParameters {
            entries.append(.init(name: name, shape: p.dims, values: p.value.array))
        }
        for (name, t) in network.namedBuffers {
            entries.append(.init(name: name, shape: [t.count], values: t.array))
        }
        let json = (try? JSONEncoder.sorted.encode(meta)).flatMap { String(data: $0, encoding: .utf8) } ?? "{}"
        return Safetensors.encode(entries, metadata: ["linesight": json, "format": "pt"])
    }

    public static func save(_ network: Network, _ meta: ModelMetadata, to path: String) throws {
        try writeAtomically(encode(network, meta), to: path)
    }

    /// Loads and checks a model file: the spec must build, and every tensor the
    /// architecture needs must be there with the right shape, and nothing else.
    public static func load(path: String) throws -> (network: Network, metadata: ModelMetadata) {
        let (entries, raw) = try Safetensors.read(path: path)
        guard let json = raw["linesight"] else {
            throw NeuralError.modelFile(path: path, reason: "no Linesight metadata (not a Linesight model?)")
        }
        let meta: ModelMetadata
        do {
            meta = try JSONDecoder().decode(ModelMetadata.self, from: Data(json.utf8))
        } catch {
            throw NeuralError.modelFile(path: path, reason: "metadata does not decode: \(error)")
        }
        guard meta.format <= ModelMetadata.currentFormat else {
            throw NeuralError.modelFile(path: path, reason: "format \(meta.format) is newer than this build understands")
        }
        let network = try Network(meta.spec)
        guard network.outputShape.count == meta.classes.count else {
            throw NeuralError.modelFile(path: path, reason: "\(meta.classes.count) class names for \(network.outputShape.count) outputs")
        }
        var byName = Dictionary(entries.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        func take(_ name: String, _ target: Tensor, _ dims: [Int]) throws {
            guard let e = byName.removeValue(forKey: name) else { throw NeuralError.missingTensor(path: path, name: name) }
            guard e.shape == dims, e.values.count == target.count else {
                throw NeuralError.shapeMismatch(path: path, name: name, expected: dims, found: e.shape)
            }
            guard e.values.allSatisfy(\.isFinite) else {
                throw NeuralError.modelFile(path: path, reason: "tensor '\(name)' holds NaN or infinite values")
            }
            e.values.withUnsafeBufferPointer { target.data.update(from: $0.baseAddress!, count: target.count) }
        }
        for (name, p) in network.namedParameters { try take(name, p.value, p.dims) }
        for (name, t) in network.namedBuffers { try take(name, t, [t.count]) }
        if let extra = byName.keys.sorted().first { throw NeuralError.unexpectedTensor(path: path, name: extra) }
        return (network, meta)
    }
}

extension JSONEncoder {
    static var sorted: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }
}
