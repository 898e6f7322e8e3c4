import Foundation

/// Stage 1's calibration, the one place for it: the first training (`StagedTrainer.calibrate`),
/// the retrainer (`Retrainer.recalibrate` and its gate figures) and the label audit all turn
/// two-class logits into a calibrated P(defect) and pick the pass/fail thresholds here.
public enum StageOneCalibration {
    /// Calibrated P(defect) of one image: the softmax of logits / T over the two classes,
    /// written as the logistic of the logit difference (`passIndex`: the good class).
    @inline(__always)
    public static func defectProbability(_ z: [Float], temperature t: Double, passIndex: Int32 = 0) -> Double {
        let good = Double(z[Int(passIndex)]), defect = Double(z[1 - Int(passIndex)])
        return 1 / (1 + exp((good - defect) / t))
    }

    /// P(defect) of the defective and of the good images (`labels`: `passIndex` is good).
    public static func split(_ logits: [[Float]], _ labels: [Int32], temperature t: Double,
                             passIndex: Int32 = 0) -> (defect: [Double], good: [Double]) {
        var defect: [Double] = [], good: [Double] = []
        for (z, l) in zip(logits, labels) {
            let p = defectProbability(z, temperature: t, passIndex: passIndex)
            if l == passIndex { good.append(p) } else { defect.append(p) }
        }
        return (defect, good)
    }

    /// Fits the temperature on `logits` and picks the thresholds on the calibrated scores:
    /// the pass threshold keeps `targetRecall` of the defects, the fail threshold spends at
    /// most `failBudget` of the good parts (`PickedThresholds.pick`).
    public static func fit(_ logits: [[Float]], _ labels: [Int32], passIndex: Int32 = 0, targetRecall: Double,
                           failBudget: Double) -> (temperature: Double, thresholds: PickedThresholds, scores: (defect: [Double], good: [Double])) {
        let temperature = TemperatureScaling.fit(logits, labels)
        let scores = split(logits, labels, temperature: temperature, passIndex: passIndex)
        let t = PickedThresholds.pick(defectScores: scores.defect, goodScores: scores.good,
                                      targetRecall: targetRecall, failBudget: failBudget)
        return (temperature, t, scores)
    }
}
