import Foundation

/// The receiver operating characteristic of a score that should be higher for defective
/// parts than for good ones.
public enum ROC {
    /// The area under the ROC curve: the chance that a random defective part scores above a
    /// random good one (ties count half). 0.5 is chance, 1 a perfect ranking; nil when either
    /// class is empty. Scores that are NaN rank below every other score.
    public static func auc(defect: [Double], good: [Double]) -> Double? {
        guard !defect.isEmpty, !good.isEmpty else { return nil }
        // Mann-Whitney U over the merged ranks, ties sharing their mean rank.
        let all = ranked(defect, good).sorted { $0.0 < $1.0 }
        var rankSum = 0.0, i = 0
        while i < all.count {
            var j = i
            while j + 1 < all.count && all[j + 1].0 == all[i].0 { j += 1 }
            let mean = Double(i + j) / 2 + 1
            for k in i...j where all[k].1 { rankSum += mean }
            i = j + 1
        }
        let n1 = Double(defect.count), n0 = Double(good.count)
        return (rankSum - n1 * (n1 + 1) / 2) / (n1 * n0)
    }

    /// The curve's points (false-positive rate, true-positive rate) from (0, 0) to (1, 1),
    /// one per distinct score, highest score first.
    public static func curve(defect: [Double], good: [Double]) -> [(fpr: Double, tpr: Double)] {
        guard !defect.isEmpty, !good.isEmpty else { return [] }
        let all = ranked(defect, good).sorted { $0.0 > $1.0 }
        var points: [(Double, Double)] = [(0, 0)]
        var tp = 0, fp = 0, i = 0
        while i < all.count {
            var j = i
            while j < all.count && all[j].0 == all[i].0 {
                if all[j].1 { tp += 1 } else { fp += 1 }
                j += 1
            }
            points.append((Double(fp) / Double(good.count), Double(tp) / Double(defect.count)))
            i = j
        }
        return points
    }

    /// Every score with whether it is a defect's, NaN ranked below every other score.
    private static func ranked(_ defect: [Double], _ good: [Double]) -> [(Double, Bool)] {
        let key = { (v: Double) in v.isNaN ? -Double.infinity : v }
        return defect.map { (key($0), true) } + good.map { (key($0), false) }
    }
}
