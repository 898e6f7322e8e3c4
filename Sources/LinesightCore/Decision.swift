/// How a frame was judged. Stored as its raw value in `verdicts.decision`.
public enum Decision: String, Codable, Sendable, CaseIterable {
    case pass, fail
    /// The frame could not be judged (decode error, model error, timeout): the line
    /// treats it as a fail.
    case noVerdict = "no_verdict"
}

/// Why a frame went to the review queue. Stored as its raw value in `flags.reason`.
public enum FlagReason: String, Codable, Sendable, CaseIterable {
    /// Stage-1 probability inside the uncertainty band, and stage 2 did not settle the part
    /// beyond doubt (`FlagPolicy.settledClearly`).
    case uncertain
    /// The part failed but stage 2's top defect score was low: which defect is unclear.
    case lowStage2Confidence = "low_stage2_confidence"
    /// A random share of confident passes, to estimate escapes.
    case audit
    /// The frame got no verdict.
    case noVerdict = "no_verdict"
    /// `linesight audit-labels`: the frame's label confidently disagrees with the model.
    case suspectLabel = "suspect_label"
    /// The camera's recent frames no longer look like the model's training data (input
    /// drift): a sample for someone to look at.
    case drift
}
