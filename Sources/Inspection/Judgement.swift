import LinesightCore
import Store

/// What the staged classifier concluded about one frame.
public struct Judgement: Equatable, Sendable {
    public var decision: Decision
    public var stage1Score: Double
    /// Per defect kind; nil when stage 2 did not run.
    public var stage2Scores: [String: Double]?
    /// Kinds at or over the defect threshold, highest score first.
    public var defects: [String]
    /// The stage-1 score fell inside the uncertainty band.
    public var unsure: Bool
    public var stage1Ms: Double = 0
    public var stage2Ms: Double?

    /// Stage 2 runs for fails and unsure frames.
    public static func needsStage2(_ stage1: Double, _ t: Thresholds) -> Bool { stage1 > t.pass }

    /// The decision rule, as a pure function of the scores.
    public static func decide(stage1: Double, stage2: [String: Double]?, _ t: Thresholds) -> Judgement {
        let defects = (stage2 ?? [:]).filter { $0.value >= t.defect($0.key) }.sorted { $0.value > $1.value || ($0.value == $1.value && $0.key < $1.key) }.map(\.key)
        let unsure = stage1 > t.pass && stage1 < t.fail
        let decision: Decision
        if !stage1.isFinite || stage2?.values.contains(where: { !$0.isFinite }) == true {
            decision = .fail  // the classifier throws first (a no-verdict); a NaN must never compare its way to a pass
        } else if stage1 >= t.fail {
            decision = .fail
        } else if stage1 <= t.pass {
            decision = .pass
        } else if t.unsure == .stage2, stage2 != nil {
            decision = defects.isEmpty ? .pass : .fail
        } else {
            decision = .fail  // unsure and nothing can settle it: fail-safe
        }
        return Judgement(decision: decision, stage1Score: stage1, stage2Scores: stage2,
                         defects: decision == .fail ? defects : [], unsure: unsure)
    }
}
