import Foundation
import Imaging
import Store

/// Where a pipeline's models come from, and what overrides their own thresholds.
public struct ModelPaths: Equatable, Sendable {
    public var stage1: String
    public var stage2: String?
    /// Config thresholds; fields left nil come from the stage-1 model file, then the defaults.
    public var fail: Double?
    public var pass: Double?
    public var defect: Double?
    public var stage2Confident: Double?
    public var unsure: Thresholds.UnsureRule = .stage2

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
    private let pre1: Preprocessor
    private let pre2: Preprocessor?
    private var input1: [Float]
    private var input2: [Float]

    public init(_ paths: ModelPaths, roi: Rect?) throws {
        stage1 = try StageModel(path: paths.stage1, stage: .one, roi: roi)
        stage2 = try paths.stage2.map { try StageModel(path: $0, stage: .two, roi: roi) }
        let own = stage1.metadata.thresholds
        var t = Thresholds(fail: paths.fail ?? own["fail"] ?? 0.7, pass: paths.pass ?? own["pass"] ?? 0.3,
                           defect: paths.defect ?? stage2?.metadata.thresholds["defect"] ?? 0.5,
                           stage2Confident: paths.stage2Confident ?? 0.6, unsure: paths.unsure)
        // Per-kind thresholds from the stage-2 model, unless the config sets one for all.
        if paths.defect == nil, let s2 = stage2 {
            t.defectPerKind = s2.metadata.perKindDefectThresholds
        }
        try t.validate()
        thresholds = t
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

    /// Judges one frame; throws when the frame cannot be read (the caller records a no-verdict).
    public func judge(_ frame: FrameView) throws -> Judgement {
        let t0 = monotonicSeconds()
        try input1.withUnsafeMutableBufferPointer { try pre1.process(frame, into: $0.baseAddress!) }
        let s1 = input1.withUnsafeBufferPointer { stage1.defectProbability($0.baseAddress!) }
        let t1 = monotonicSeconds()
        var scores: [String: Double]?
        var stage2Ms: Double?
        if let stage2, Judgement.needsStage2(s1, thresholds) {
            if let pre2 {
                try input2.withUnsafeMutableBufferPointer { try pre2.process(frame, into: $0.baseAddress!) }
                scores = input2.withUnsafeBufferPointer { stage2.defectScores($0.baseAddress!) }
            } else {
                scores = input1.withUnsafeBufferPointer { stage2.defectScores($0.baseAddress!) }
            }
            stage2Ms = (monotonicSeconds() - t1) * 1000
        }
        var j = Judgement.decide(stage1: s1, stage2: scores, thresholds)
        j.stage1Ms = (t1 - t0) * 1000
        j.stage2Ms = stage2Ms
        return j
    }
}

/// CLOCK_MONOTONIC in seconds.
public func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}
