import Capture
import LinesightCore
import Store

/// A pipeline's running totals, read by metrics, the status line and the watchdog.
public struct PipelineStats: Sendable {
    /// Frames the source delivered; each gets exactly one verdict row.
    public var received: UInt64 = 0
    public var passes: UInt64 = 0
    public var fails: UInt64 = 0
    public var noVerdicts: UInt64 = 0
    /// Frames refused by the full queue (recorded as no-verdicts "dropped").
    public var dropped: UInt64 = 0
    /// Frames that waited too long in the queue (recorded as no-verdicts "timeout").
    public var timedOut: UInt64 = 0
    public var defects: [String: UInt64] = [:]
    public var flags: [FlagReason: UInt64] = [:]
    public var flagsCapped: UInt64 = 0
    public var framesSaved: UInt64 = 0
    public var saveErrors: UInt64 = 0
    public var modelSwaps: UInt64 = 0
    /// The drift watch's last reading (nil: off, or the stage-1 model has no reference).
    public var drift: DriftReading?
    /// Times the drift alarm rose.
    public var driftAlarms: UInt64 = 0
    public var queueDepth = 0
    /// Monotonic seconds of the last verdict, for the watchdog.
    public var lastVerdictAt: Double?
    /// Monotonic seconds of the last frame the camera delivered (a station's camera judges
    /// only triggered frames: between parts, frames arriving is what shows it alive).
    public var lastFrameAt: Double?
    /// True for a station's camera (frames judged only when a trigger asks).
    public var gated = false
    public var lastDecision: Decision?
    /// With presence gating: the last frame's part-present score (0 the empty scene, 1 all different).
    public var presenceScore: Double?
    /// End-to-end latency (capture to verdict) histogram, milliseconds.
    public var latency = Histogram(bounds: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000])
    /// Model time per stage (preprocessing included), milliseconds.
    public var stage1Latency = Histogram(bounds: [0.5, 1, 2, 5, 10, 20, 50, 100, 500])
    public var stage2Latency = Histogram(bounds: [0.5, 1, 2, 5, 10, 20, 50, 100, 500])
    public var capture = CaptureCounters()
    /// Against the ground truth of a source that knows it (the synthetic camera): judged
    /// frames that were defective and good, the defective ones passed (escapes) and the good
    /// ones failed (false rejects). Zero for a real camera.
    public var truth = TruthCounters()
    public var sourceState: SourceState = .idle

    public var verdicts: UInt64 { passes + fails + noVerdicts }
}

/// The line's real escapes and false rejects, where the frames carry their truth.
public struct TruthCounters: Sendable, Equatable {
    public var defective: UInt64 = 0
    public var good: UInt64 = 0
    public var escapes: UInt64 = 0
    public var falseRejects: UInt64 = 0
    public init() {}

    /// Counts one judged frame (a no-verdict is not judged: it is neither).
    public mutating func record(defective: Bool, decision: Decision) {
        guard decision != .noVerdict else { return }
        if defective {
            self.defective += 1
            if decision == .pass { escapes += 1 }
        } else {
            good += 1
            if decision == .fail { falseRejects += 1 }
        }
    }
}
