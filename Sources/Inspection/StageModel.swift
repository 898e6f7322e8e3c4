import Foundation
import Imaging
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

    public static let passClassNames = ["good", "ok", "pass"]

    public init(path: String, stage: Stage, roi: Rect? = nil) throws {
        let loaded: (network: Network, metadata: ModelMetadata)
        do { loaded = try ModelFile.load(path: path) } catch let e as NeuralError {
            throw InspectionError.model(path: path, reason: "\(e)")
        }
        let meta = loaded.metadata
        switch stage {
        case .one:
            guard meta.task == .multiclass else { throw InspectionError.model(path: path, reason: "a stage-1 model must be multiclass (pass/fail)") }
            guard let p = meta.classes.firstIndex(where: { Self.passClassNames.contains($0.lowercased()) }) else {
                throw InspectionError.model(path: path, reason: "no pass class (one of \(Self.passClassNames.joined(separator: ", "))) among \(meta.classes)")
            }
            guard meta.classes.count >= 2 else { throw InspectionError.model(path: path, reason: "a stage-1 model needs at least two classes") }
            passIndex = p
        case .two:
            if meta.task == .multilabel, meta.classes.contains(where: { Self.passClassNames.contains($0.lowercased()) }) {
                throw InspectionError.model(path: path, reason: "a stage-2 multilabel model names defect kinds only, not a pass class")
            }
            passIndex = nil
        }
        let input = meta.spec.input
        guard input.channels == 1 || input.channels == 3 else {
            throw InspectionError.model(path: path, reason: "input has \(input.channels) channels; frames give 1 (gray) or 3 (RGB)")
        }
        self.stage = stage
        self.path = path
        self.metadata = meta
        self.sha256 = try SHA256.hex(file: path)
        self.version = String(sha256.prefix(12))
        self.geometry = InputGeometry(width: input.width, height: input.height, layout: input.channels == 1 ? .gray : .rgb,
                                      roi: roi, method: .auto,
                                      normalization: PixelNormalization(mean: meta.normalization.mean, std: meta.normalization.std))
        self.network = InferenceNetwork(loaded.network)
    }

    public var classes: [String] { metadata.classes }

    /// Raw network output for one preprocessed input (averaged over its flips when the
    /// model was calibrated that way).
    func logits(_ input: UnsafePointer<Float>) -> [Float] {
        metadata.flipAverage == true ? network.predictFlipAveraged(sample: input) : network.predict(sample: input)
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
