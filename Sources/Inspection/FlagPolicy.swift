import LinesightCore
import Store

/// Which frames go to human review, and how many per hour at most.
public struct FlagSettings: Equatable, Sendable {
    /// Share (0...1) of confident passes sampled for audit, so escapes can be estimated.
    public var auditShare: Double = 0.01
    /// Most flags per camera and clock hour, by reason; a bad hour cannot flood the queue.
    public var hourlyCaps: [FlagReason: Int] = [.uncertain: 120, .lowStage2Confidence: 120, .audit: 30, .noVerdict: 60, .drift: 10]
    /// Most failed frames saved per camera and hour (flagged ones count under their flag).
    public var failedFramesPerHour = 600
    public var seed: UInt64 = 0x5EED
    /// The order of the frames the model doubted in the review queue (`ReviewOrder`).
    public var reviewOrder: ReviewOrder = .diverse

    public init() {}
}

/// Decides flags for each judged frame; one per pipeline, used from its worker thread.
public final class FlagPolicy {
    public let settings: FlagSettings
    private var hour = -1
    private var used: [FlagReason: Int] = [:]
    private var failedSaved = 0
    private var rng: UInt64
    /// Flags withheld because a cap was reached.
    public private(set) var capped: UInt64 = 0

    public init(_ settings: FlagSettings) {
        self.settings = settings
        rng = settings.seed | 1
    }

    public struct Outcome: Equatable, Sendable {
        public var flags: [FlagReason]
        /// Why the frame's JPEG is kept, or nil to keep none.
        public var keep: FrameRecord.KeptBecause?
    }

    /// `judgement` nil means no verdict; `drift`: the drift watch asks for this frame as a sample.
    public func evaluate(_ judgement: Judgement?, thresholds t: Thresholds, at time: Double, drift: Bool = false) -> Outcome {
        roll(time)
        var wanted: [FlagReason] = drift ? [.drift] : []
        if let j = judgement {
            let settled = j.unsure && Self.settledClearly(j, t)
            if j.unsure, !settled { wanted.append(.uncertain) }
            if j.decision == .fail, j.stage2Scores != nil, !Self.namesAKindConfidently(j, t) { wanted.append(.lowStage2Confidence) }
            // passes nobody reviews are sampled for audit: the confident ones and those stage 2 settled
            if j.decision == .pass, !j.unsure || settled, next() < settings.auditShare { wanted.append(.audit) }
        } else {
            wanted.append(.noVerdict)
        }
        var flags: [FlagReason] = []
        for reason in wanted {
            if used[reason, default: 0] < settings.hourlyCaps[reason, default: .max] {
                used[reason, default: 0] += 1
                flags.append(reason)
            } else {
                capped += 1
            }
        }
        var keep: FrameRecord.KeptBecause?
        if flags.contains(where: { $0 != .audit }) {
            keep = .flagged
        } else if flags.contains(.audit) {
            keep = .audit
        } else if judgement?.decision == .fail, failedSaved < settings.failedFramesPerHour {
            failedSaved += 1
            keep = .failed
        }
        return Outcome(flags: flags, keep: keep)
    }

    /// Stage 2 settled a part stage 1 was unsure of beyond doubt: a pass with every kind's
    /// score at most half its threshold, or a fail that names a kind at or above
    /// `stage2Confident`. Such parts are not flagged `uncertain`: a reviewer's time goes to
    /// the parts both stages doubt (the daemon's own decision is the same either way), and
    /// the settled passes enter the audit sample with the confident ones. Without stage 2
    /// settling (the `fail` rule, or no stage 2) every unsure part is flagged.
    static func settledClearly(_ j: Judgement, _ t: Thresholds) -> Bool {
        guard t.unsure == .stage2, let s2 = j.stage2Scores, !s2.isEmpty else { return false }
        if j.decision == .pass { return s2.allSatisfy { $0.value <= t.defect($0.key) / 2 } }
        return namesAKindConfidently(j, t)
    }

    /// A failed part's named kinds include one scored at or above `stage2Confident`.
    static func namesAKindConfidently(_ j: Judgement, _ t: Thresholds) -> Bool {
        guard let s2 = j.stage2Scores else { return false }
        return j.defects.contains { (s2[$0] ?? 0) >= t.stage2Confident }
    }

    private func roll(_ time: Double) {
        let h = Int((time / 3600).rounded(.down))
        guard h != hour else { return }
        hour = h
        used = [:]
        failedSaved = 0
    }

    /// splitmix64 in 0..<1: deterministic for a seed, cheap per frame.
    private func next() -> Double {
        rng &+= 0x9E37_79B9_7F4A_7C15
        var z = rng
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return Double((z ^ (z >> 31)) >> 11) / Double(1 << 53)
    }
}
