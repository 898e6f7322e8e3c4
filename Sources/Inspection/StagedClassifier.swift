import Foundation
import Imaging
import LinesightCore
import Neural
import Store

/// Where a pipeline's models come from, and the config's thresholds.
public struct ModelPaths: Equatable, Sendable {
    public var stage1: String
    public var stage2: String?
    /// Config thresholds. The thresholds `train` and `retrain` fitted into the model files win
    /// over these (they were picked for the target recall on validation data); the config's
    /// apply where a model carries none, or everywhere with `overrideModel`.
    public var fail: Double?
    public var pass: Double?
    public var defect: Double?
    public var stage2Confident: Double?
    public var unsure: Thresholds.UnsureRule = .stage2
    /// The config's thresholds win over the model files' (`[thresholds] override_model`).
    public var overrideModel = false

    public init(stage1: String, stage2: String? = nil) {
        self.stage1 = stage1
        self.stage2 = stage2
    }
}

/// Stage 1 then, for fails and unsure frames, stage 2, on one frame at a time. Holds its
/// own preprocessors and input buffers: one per pipeline, used from its worker thread.
public final class StagedClassifier {
    public let stage1: StageModel
    public let stage2: StageModel?
    public let thresholds: Thresholds
    /// The region of each frame judged (nil: the whole frame).
    public let roi: Rect?
    /// The product whose model set this is (`[[products]]`; "" when none is named): each
    /// verdict it gives names it.
    public let product: String
    private let pre1: Preprocessor
    private let pre2: Preprocessor?
    private var input1: [Float]
    /// The luminance buffer of `lastInputStatistics` (one per classifier, reused).
    private var statisticsScratch: [Float] = []
    private var input2: [Float]

    public init(_ paths: ModelPaths, roi: Rect?, compute: Compute = .current(), product: String = "") throws {
        self.product = product
        stage1 = try StageModel(path: paths.stage1, stage: .one, roi: roi, compute: compute)
        stage2 = try paths.stage2.map { try StageModel(path: $0, stage: .two, roi: roi, compute: compute) }
        // the drift watch and the review queue's order read stage 1's embedding of each frame
        stage1.keepsEmbedding = true
        thresholds = try Self.thresholds(paths, stage1: stage1.metadata, stage2: stage2?.metadata)
        self.roi = roi
        do {
            pre1 = try Preprocessor(geometry: stage1.geometry)
            if let s2 = stage2, s2.geometry != stage1.geometry {
                pre2 = try Preprocessor(geometry: s2.geometry)
            } else {
                pre2 = nil
            }
        } catch {
            throw InspectionError.model(path: paths.stage1, reason: "input geometry: \(error)")
        }
        input1 = [Float](repeating: 0, count: stage1.geometry.floatCount)
        input2 = [Float](repeating: 0, count: stage2?.geometry.floatCount ?? 0)
    }

    /// The thresholds in force: the model files' fitted values first (unless the config says
    /// `override_model`), then the config's, then the defaults.
    static func thresholds(_ paths: ModelPaths, stage1: ModelMetadata, stage2: ModelMetadata?) throws -> Thresholds {
        func pick(_ config: Double?, _ model: Double?, _ fallback: Double) -> Double {
            (paths.overrideModel ? config ?? model : model ?? config) ?? fallback
        }
        let own = stage1.thresholds
        var t = Thresholds(fail: pick(paths.fail, own["fail"], 0.7), pass: pick(paths.pass, own["pass"], 0.3),
                           defect: pick(paths.defect, stage2?.thresholds["defect"], 0.5),
                           stage2Confident: paths.stage2Confident ?? 0.6, unsure: paths.unsure)
        // Per-kind thresholds from the stage-2 model, unless the config overrides them with one for all.
        if !(paths.overrideModel && paths.defect != nil), let s2 = stage2 {
            t.defectPerKind = s2.perKindDefectThresholds
        }
        try t.validate()
        return t
    }

    /// Where stage 1 saw the defect in the frame `judge` last read, over the region judged
    /// (`roi`, or the whole frame), as `StageModel.defectMap`. Call it right after `judge`,
    /// on the same thread.
    public func lastDefectMap() -> ClassMap? {
        input1.withUnsafeBufferPointer { stage1.defectMap($0.baseAddress!) }
    }

    /// Where the models saw a defect in `frame`, a raw frame (not MJPEG: its size must be
    /// known) over the region this classifier judges: stage 1's map when `kind` is nil, else
    /// stage 2's map of that kind. Nil when the model's head has no class map. Throws for an
    /// unreadable frame or a kind stage 2 does not know.
    public func locate(_ frame: FrameView, kind: String? = nil) throws -> DefectLocation? {
        guard frame.format != .mjpeg else { throw InspectionError.config("locate needs a decoded frame, not MJPEG bytes") }
        let region = roi ?? Rect(x: 0, y: 0, width: frame.width, height: frame.height)
        guard let kind else {
            try input1.withUnsafeMutableBufferPointer { try pre1.process(frame, into: $0.baseAddress!) }
            return input1.withUnsafeBufferPointer { stage1.defectMap($0.baseAddress!) }.map { DefectLocation(what: "defect", map: $0, region: region) }
        }
        guard let stage2, stage2.defectKinds.contains(kind) else { throw InspectionError.unknownKind(kind, known: stage2?.defectKinds ?? []) }
        let map: ClassMap?
        if let pre2 {
            try input2.withUnsafeMutableBufferPointer { try pre2.process(frame, into: $0.baseAddress!) }
            map = try input2.withUnsafeBufferPointer { try stage2.kindMap($0.baseAddress!, kind: kind) }
        } else {
            try input1.withUnsafeMutableBufferPointer { try pre1.process(frame, into: $0.baseAddress!) }
            map = try input1.withUnsafeBufferPointer { try stage2.kindMap($0.baseAddress!, kind: kind) }
        }
        return map.map { DefectLocation(what: kind, map: $0, region: region) }
    }

    /// The last judged frame's input statistics as stage 1 saw it (its model input, after the
    /// ROI and resize): what the drift watch compares with the model's training images.
    public func lastInputStatistics() -> InputStatistics {
        let shape = stage1.metadata.spec.input, n = stage1.metadata.normalization
        return input1.withUnsafeBufferPointer {
            InputStatistics.measure(normalized: UnsafeBufferPointer(rebasing: $0.prefix(shape.count)), channels: shape.channels,
                                    height: shape.height, width: shape.width, mean: n.mean, std: n.std, scratch: &statisticsScratch)
        }
    }

    /// Judges one frame; throws when the frame cannot be read (the caller records a no-verdict).
    /// `everyStage2`: stage 2 scores passes too (for evaluation; the verdict is the same,
    /// since a confident pass never reaches stage 2's rule).
    public func judge(_ frame: FrameView, everyStage2: Bool = false) throws -> Judgement {
        let t0 = monotonicSeconds()
        try input1.withUnsafeMutableBufferPointer { try pre1.process(frame, into: $0.baseAddress!) }
        let s1 = try input1.withUnsafeBufferPointer { try stage1.defectProbability($0.baseAddress!) }
        let t1 = monotonicSeconds()
        var scores: [String: Double]?
        var stage2Ms: Double?
        if let stage2, everyStage2 || Judgement.needsStage2(s1, thresholds) {
            if let pre2 {
                try input2.withUnsafeMutableBufferPointer { try pre2.process(frame, into: $0.baseAddress!) }
                scores = try input2.withUnsafeBufferPointer { try stage2.defectScores($0.baseAddress!) }
            } else {
                scores = try input1.withUnsafeBufferPointer { try stage2.defectScores($0.baseAddress!) }
            }
            stage2Ms = (monotonicSeconds() - t1) * 1000
        }
        var j = Judgement.decide(stage1: s1, stage2: scores, thresholds)
        j.stage1Ms = (t1 - t0) * 1000
        j.stage2Ms = stage2Ms
        return j
    }
}
