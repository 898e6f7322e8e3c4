/// The cut-offs that turn scores into a verdict.
public struct Thresholds: Equatable, Sendable {
    /// What an unsure frame (stage-1 score inside the band) becomes.
    public enum UnsureRule: String, Sendable, CaseIterable {
        /// Stage 2 decides: a defect kind over `defect` fails the part, otherwise it passes.
        case stage2
        /// Always fail (the strictest line; more false rejects, fewer escapes).
        case fail
    }

    /// Stage-1 P(defect) at or above which a part fails.
    public var fail: Double
    /// Stage-1 P(defect) at or below which a part passes; between the two it is unsure.
    public var pass: Double
    /// Stage-2 score at or above which a defect kind is reported.
    public var defect: Double
    /// Per-kind stage-2 thresholds (picked on validation at training); `defect` for the rest.
    public var defectPerKind: [String: Double] = [:]
    /// Stage-2 top score below which a failed frame is flagged "low stage-2 confidence", and
    /// which a fail stage 2 settled must reach not to be flagged "uncertain" (`FlagPolicy`).
    public var stage2Confident: Double
    public var unsure: UnsureRule

    public init(fail: Double = 0.7, pass: Double = 0.3, defect: Double = 0.5, stage2Confident: Double = 0.6,
                unsure: UnsureRule = .stage2) {
        self.fail = fail
        self.pass = pass
        self.defect = defect
        self.stage2Confident = stage2Confident
        self.unsure = unsure
    }

    /// The stage-2 threshold of `kind`.
    public func defect(_ kind: String) -> Double { defectPerKind[kind] ?? defect }

    public func validate() throws {
        guard (0...1).contains(pass), (0...1).contains(fail), pass <= fail else {
            throw InspectionError.config("thresholds need 0 <= pass (\(pass)) <= fail (\(fail)) <= 1")
        }
        guard (0...1).contains(defect), (0...1).contains(stage2Confident), defectPerKind.values.allSatisfy({ (0...1).contains($0) }) else {
            throw InspectionError.config("stage-2 thresholds must lie in 0...1")
        }
    }
}
