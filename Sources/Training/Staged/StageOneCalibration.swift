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

    /// A fitted calibration: the temperature, the thresholds picked on the calibrated
    /// scores, those scores, and the expected calibration error (fraction) before and after.
    public struct Fit {
        public var temperature: Double
        public var thresholds: PickedThresholds
        public var scores: (defect: [Double], good: [Double])
        public var ece: (before: Double, after: Double)
        /// The fitted temperature made the ECE worse, so the raw scores (T = 1) are kept.
        public var fellBack: Bool
    }

    /// Fits the temperature on `logits` and picks the thresholds on the calibrated scores:
    /// the pass threshold keeps `targetRecall` of the defects, the fail threshold spends at
    /// most `failBudget` of the good parts (`PickedThresholds.pick`). A temperature that
    /// would make the expected calibration error on these logits worse is not used: the fit
    /// minimizes the log-likelihood, which a few confident mistakes can pull away from
    /// calibration, and a calibration step must not decalibrate.
    public static func fit(_ logits: [[Float]], _ labels: [Int32], passIndex: Int32 = 0, targetRecall: Double,
                           failBudget: Double) -> Fit {
        let fitted = TemperatureScaling.fit(logits, labels)
        let before = TemperatureScaling.expectedCalibrationError(logits, labels, temperature: 1)
        let after = TemperatureScaling.expectedCalibrationError(logits, labels, temperature: fitted)
        let fellBack = after > before
        let temperature = fellBack ? 1 : fitted
        let scores = split(logits, labels, temperature: temperature, passIndex: passIndex)
        let t = PickedThresholds.pick(defectScores: scores.defect, goodScores: scores.good,
                                      targetRecall: targetRecall, failBudget: failBudget)
        return Fit(temperature: temperature, thresholds: t, scores: scores, ece: (before, fellBack ? before : after), fellBack: fellBack)
    }
}
