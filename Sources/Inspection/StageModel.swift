import Foundation
import Imaging
import LinesightCore
import Neural
import Store

/// Which job a model does in the staged classifier.
public enum Stage: Int, Sendable, CustomStringConvertible {
    /// Pass/fail: a multiclass model with a pass class ("good" or "ok"); P(defect) = 1 - P(pass).
    case one = 1
    /// Which defects: a multilabel (sigmoid) or multiclass (softmax) model over defect kinds.
    case two = 2

    public var description: String { "stage \(rawValue)" }
}

/// A model file loaded, checked for its stage and compiled for inference. Not thread-safe:
/// each pipeline loads its own copy (they are small).
public final class StageModel {
    public let stage: Stage
    public let path: String
    public let sha256: String
    /// Short version for records and logs: the first 12 hex digits of the file's hash.
    public let version: String
    public let metadata: ModelMetadata
    public let geometry: InputGeometry
    /// Index of the pass class (stage 1 only).
    let passIndex: Int?
    private let network: InferenceNetwork
    /// The model in int8 (its metadata holds calibrated ranges): it gives the verdicts; the
    /// fp32 network still draws the class maps.
    private let int8: QuantizedNetwork?

    public static let passClassNames = ["good", "ok", "pass"]

    /// Reads the file once, then checks and compiles those bytes (`init(data:path:stage:roi:compute:)`).
    public convenience init(path: String, stage: Stage, roi: Rect? = nil, compute: Compute = .current()) throws {
        let data: Data
        do { data = try ModelFile.read(path: path) } catch let e as NeuralError {
            throw InspectionError.model(path: path, reason: "\(e)")
        }
        try self.init(data: data, path: path, stage: stage, roi: roi, compute: compute)
    }

    /// A model from the bytes of its file: the hash and the network come from the same
    /// bytes, so a file replaced between two reads cannot pair one file's version with
    /// another's weights. `path` names the file in errors and records. Predictions run
    /// with `compute`.
    public init(data: Data, path: String, stage: Stage, roi: Rect? = nil, compute: Compute = .current()) throws {
        let loaded: (network: Network, metadata: ModelMetadata)
        do { loaded = try ModelFile.decode(data, path: path) } catch let e as NeuralError {
            throw InspectionError.model(path: path, reason: "\(e)")
        }
        let meta = loaded.metadata
        passIndex = try Self.check(meta, for: stage, path: path)
        let input = meta.spec.input
        self.stage = stage
        self.path = path
        self.metadata = meta
        self.sha256 = Hashing.sha256(data)
        self.version = String(sha256.prefix(12))
        self.geometry = InputGeometry(width: input.width, height: input.height, layout: input.channels == 1 ? .gray : .rgb,
                                      roi: roi, method: .auto,
                                      normalization: PixelNormalization(mean: meta.normalization.mean, std: meta.normalization.std))
        self.network = InferenceNetwork(loaded.network, compute: compute)
        do {
            int8 = try meta.quantization.map { try QuantizedNetwork(loaded.network, quantization: $0, compute: compute) }
        } catch let e as NeuralError {
            throw InspectionError.model(path: path, reason: "its int8 form cannot be built: \(e)")
        }
    }

    /// What a stage needs beyond `ModelMetadata.validate()` (which `ModelFile.decode` ran):
    /// frames of 1 or 3 channels; stage 1 a multiclass model of two or more classes with
    /// exactly one pass class; stage 2 at least one defect kind, and no pass class when
    /// multilabel. Returns the pass class's index for stage 1.
    static func check(_ meta: ModelMetadata, for stage: Stage, path: String) throws -> Int? {
        func bad(_ why: String) -> InspectionError { .model(path: path, reason: why) }
        let channels = meta.spec.input.channels
        guard channels == 1 || channels == 3 else { throw bad("input has \(channels) channels; frames give 1 (gray) or 3 (RGB)") }
        let passes = meta.classes.indices.filter { Self.passClassNames.contains(meta.classes[$0].lowercased()) }
        switch stage {
        case .one:
            guard meta.task == .multiclass else { throw bad("a stage-1 model must be multiclass (pass/fail)") }
            guard meta.classes.count >= 2 else { throw bad("a stage-1 model needs at least two classes") }
            guard passes.count == 1 else {
                throw bad("a stage-1 model needs exactly one pass class (one of \(Self.passClassNames.joined(separator: ", "))); "
                          + "it has \(passes.count) among \(meta.classes)")
            }
            return passes[0]
        case .two:
            if meta.task == .multilabel, !passes.isEmpty {
                throw bad("a stage-2 multilabel model names defect kinds only, not a pass class")
            }
            guard passes.count < meta.classes.count else { throw bad("a stage-2 model needs at least one defect kind") }
            return nil
        }
    }

    public var classes: [String] { metadata.classes }

    /// Raw network output for one preprocessed input (averaged over its flips when the
    /// model was calibrated that way).
    /// With `keepsEmbedding`, each call also keeps the input's embedding (`Embedding`) in
    /// `lastEmbedding`, at no extra pass.
    func logits(_ input: UnsafePointer<Float>) -> [Float] {
        let flips = metadata.flipAverage == true
        if keepsEmbedding {
            let r = int8?.predictWithEmbedding(sample: input, flipAveraged: flips) ?? network.predictWithEmbedding(sample: input, flipAveraged: flips)
            lastEmbedding = r.embedding
            return r.logits
        }
        if let int8 {
            return flips ? int8.predictFlipAveraged(sample: input) : int8.predict(sample: input)
        }
        return flips ? network.predictFlipAveraged(sample: input) : network.predict(sample: input)
    }

    /// Whether predictions keep the input's embedding (the drift watch and the review
    /// queue's order use it).
    public var keepsEmbedding = false
    /// The embedding of the last input predicted with `keepsEmbedding` (nil: none yet, or
    /// the network has no embedding).
    public private(set) var lastEmbedding: [Float]?

    /// "int8 (AVX512-VNNI ...)" or "fp32": how the verdicts are computed.
    public var precision: String { int8.map { "int8 (\($0.isa))" } ?? "fp32" }

    /// Stage 1: where the network saw a defect in `input` (one pass, no flips): the class map
    /// of the likeliest defect class against the pass class, its negative cells set to 0 and
    /// scaled so the strongest is 1 (all 0 when no cell pushed toward a defect). Nil when the
    /// network's head has no class map, or for a stage-2 model.
    public func defectMap(_ input: UnsafePointer<Float>) -> ClassMap? {
        guard let pass = passIndex else { return nil }
        let (logits, activations) = network.classActivations(sample: input)
        guard let activations, let defect = logits.indices.filter({ $0 != pass }).max(by: { logits[$0] < logits[$1] }) else { return nil }
        return activations.map(toward: defect, against: pass).map(Self.scaled)
    }

    /// Stage 2: where the network saw defect kind `kind` in `input` (one pass, no flips): the
    /// class map of that kind's own logit, scaled as `defectMap`. Nil when the head has no
    /// class map; throws for a kind the model does not know.
    public func kindMap(_ input: UnsafePointer<Float>, kind: String) throws -> ClassMap? {
        guard stage == .two, let k = classes.firstIndex(of: kind), !Self.passClassNames.contains(kind.lowercased()) else {
            throw InspectionError.unknownKind(kind, known: stage == .two ? defectKinds : [])
        }
        return network.classActivations(sample: input).activations?.map(toward: k, against: nil).map(Self.scaled)
    }

    /// The defect kinds of a stage-2 model (its classes but a pass class).
    public var defectKinds: [String] { classes.filter { !Self.passClassNames.contains($0.lowercased()) } }

    /// Negative cells to 0, the strongest to 1 (all 0 when no cell is positive or finite).
    static func scaled(_ map: ClassMap) -> ClassMap {
        var map = map
        let top = map.values.filter(\.isFinite).max() ?? 0
        map.values = map.values.map { top > 0 && top.isFinite && $0.isFinite ? max(0, $0) / top : 0 }
        return map
    }

    /// Stage 1: the probability that the part is defective. Throws `nonFiniteScore` when the
    /// network's output is NaN or infinite: `max(0, NaN)` is 0, so such a score would pass.
    public func defectProbability(_ input: UnsafePointer<Float>) throws -> Double {
        let t = Float(metadata.temperature ?? 1)
        let z = logits(input)
        guard z.allSatisfy(\.isFinite) else { throw InspectionError.nonFiniteScore(stage: 1, model: version) }
        let p = 1 - Double(Self.softmax(z.map { $0 / t })[passIndex!])
        guard p.isFinite else { throw InspectionError.nonFiniteScore(stage: 1, model: version) }
        return min(1, max(0, p))
    }

    /// Stage 2: a score per defect kind (sigmoid for multilabel models, softmax otherwise).
    /// The metadata's temperature is not applied here (it is fitted for stage 1's softmax);
    /// it is still validated, as every field.
    /// Throws `nonFiniteScore` for a NaN or infinite output, which would otherwise report no defect.
    public func defectScores(_ input: UnsafePointer<Float>) throws -> [String: Double] {
        let z = logits(input)
        guard z.allSatisfy(\.isFinite) else { throw InspectionError.nonFiniteScore(stage: 2, model: version) }
        let p = metadata.task == .multilabel ? z.map { 1 / (1 + exp(-$0)) } : Self.softmax(z)
        var out: [String: Double] = [:]
        for (name, v) in zip(classes, p) where !Self.passClassNames.contains(name.lowercased()) {
            guard v.isFinite else { throw InspectionError.nonFiniteScore(stage: 2, model: version) }
            out[name] = Double(v)
        }
        return out
    }

    static func softmax(_ z: [Float]) -> [Float] {
        let m = z.max() ?? 0
        let e = z.map { exp($0 - m) }
        let s = e.reduce(0, +)
        return e.map { $0 / s }
    }
}
