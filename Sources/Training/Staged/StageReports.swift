import Foundation

/// Stage-1 thresholds picked on validation scores, and what they cost.
public struct PickedThresholds: Equatable, Sendable {
    /// At or below: pass. Keeps `targetRecall` of the defective validation parts above it.
    public var pass: Double
    /// At or above: fail. At most `failBudget` of good validation parts reach it.
    public var fail: Double

    /// Picks thresholds from P(defect) of defective and of good validation parts.
    public static func pick(defectScores: [Double], goodScores: [Double], targetRecall: Double, failBudget: Double) -> PickedThresholds {
        let d = defectScores.sorted(), g = goodScores.sorted(by: >)
        var pass = 0.5
        if !d.isEmpty {
            let misses = Int((Double(d.count) * (1 - targetRecall)).rounded(.down))
            pass = d[min(misses, d.count - 1)] - 1e-6  // everything from the misses-th lowest score up stays above
        }
        var fail = 0.5
        if !g.isEmpty {
            let allowed = Int((Double(g.count) * failBudget).rounded(.down))
            fail = g[min(allowed, g.count - 1)] + 1e-6  // at most `allowed` good parts at or above
        }
        pass = min(max(pass, 0.001), 0.9)
        fail = min(max(fail, pass), 0.999)
        return PickedThresholds(pass: pass, fail: fail)
    }
}

/// Stage-1 figures on a labeled split at given thresholds, with 95% Wilson intervals.
public struct StageOneReport: Codable, Equatable, Sendable {
    public var defective: Int
    public var good: Int
    /// Defective parts at or below the pass threshold (they would ship).
    public var escapes: Int
    /// Good parts at or above the fail threshold.
    public var falseRejects: Int
    /// Parts inside the band (stage 2 and a human settle them).
    public var unsure: Int
    /// Good parts above the pass threshold: the false-reject rate if every part not
    /// confidently passed were rejected (the one-threshold view of stage 1).
    public var notPassedGood: Int
    public var notPassedGoodRate: Double
    public var escapeRate: Double
    public var escapeRateCI: [Double]
    public var falseRejectRate: Double
    public var falseRejectRateCI: [Double]
    /// The area under the ROC curve of the scores (threshold-free: the chance a defective
    /// part scores above a good one); nil when either class is missing.
    public var auroc: Double?

    public init(defectScores: [Double], goodScores: [Double], thresholds t: PickedThresholds) {
        auroc = ROC.auc(defect: defectScores, good: goodScores)
        defective = defectScores.count
        good = goodScores.count
        escapes = defectScores.filter { $0 <= t.pass }.count
        falseRejects = goodScores.filter { $0 >= t.fail }.count
        unsure = (defectScores + goodScores).filter { $0 > t.pass && $0 < t.fail }.count
        notPassedGood = goodScores.filter { $0 > t.pass }.count
        notPassedGoodRate = good == 0 ? 0 : Double(notPassedGood) / Double(good)
        escapeRate = defective == 0 ? 0 : Double(escapes) / Double(defective)
        escapeRateCI = wilson(escapes, defective)
        falseRejectRate = good == 0 ? 0 : Double(falseRejects) / Double(good)
        falseRejectRateCI = wilson(falseRejects, good)
    }
}

/// The line's decision on a split, as the daemon makes it by default: stage 1 passes at or
/// below `pass` and fails at or above `fail`; between the two (unsure) stage 2 decides, and
/// any defect kind at or over its threshold fails the part.
public struct LineDecisionReport: Codable, Equatable, Sendable {
    public var defective: Int
    public var good: Int
    /// Defective parts the line passes (they would ship).
    public var escapes: Int
    /// Good parts the line fails.
    public var falseRejects: Int
    /// Unsure parts that stage 2 settled.
    public var settledByStage2: Int
    public var escapeRate: Double
    public var escapeRateCI: [Double]
    public var falseRejectRate: Double
    public var falseRejectRateCI: [Double]

    /// `stage1`: calibrated P(defect) per part; `stage2`: per part, the kinds' scores;
    /// `defective`: the truth.
    public init(stage1: [Double], stage2: [[Float]], kindThresholds: [Double], defective truth: [Bool], thresholds t: PickedThresholds) {
        var esc = 0, fr = 0, settled = 0
        for i in stage1.indices {
            if stage1[i] > t.pass && stage1[i] < t.fail { settled += 1 }
            let fails = Self.fails(stage1: stage1[i], stage2: stage2[i], kindThresholds: kindThresholds, t)
            if truth[i] && !fails { esc += 1 }
            if !truth[i] && fails { fr += 1 }
        }
        defective = truth.filter { $0 }.count
        good = truth.count - defective
        escapes = esc
        falseRejects = fr
        settledByStage2 = settled
        escapeRate = defective == 0 ? 0 : Double(esc) / Double(defective)
        escapeRateCI = wilson(esc, defective)
        falseRejectRate = good == 0 ? 0 : Double(fr) / Double(good)
        falseRejectRateCI = wilson(fr, good)
    }

    /// The line's call on one part: stage 1 decides outside its band, stage 2 inside it.
    public static func fails(stage1 p: Double, stage2 scores: [Float], kindThresholds: [Double], _ t: PickedThresholds) -> Bool {
        if p >= t.fail { return true }
        if p <= t.pass { return false }
        return zip(scores, kindThresholds).contains { Double($0) >= $1 }
    }
}

/// The 95% Wilson score interval of k successes in n trials.
public func wilson(_ k: Int, _ n: Int, z: Double = 1.96) -> [Double] {
    guard n > 0 else { return [0, 1] }
    let p = Double(k) / Double(n), nn = Double(n)
    let center = (p + z * z / (2 * nn)) / (1 + z * z / nn)
    let half = z * ((p * (1 - p) / nn + z * z / (4 * nn * nn)).squareRoot()) / (1 + z * z / nn)
    return [max(0, center - half), min(1, center + half)]
}
