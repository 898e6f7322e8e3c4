import Foundation
import Training

/// How `train` shows what a first training measured: split, calibration, thresholds and
/// the escape and false-reject rates of stage 1, the line and stage 2.
enum TrainSummary {
    static func print(_ r: StagedResult, targetRecall: Double) {
        Swift.print("split (\(r.splitSource)): \(r.counts.train) train, \(r.counts.validation) validation, \(r.counts.test) test")
        if !r.skipped.isEmpty { Swift.print("skipped \(r.skipped.count) unreadable images: \(r.skipped.prefix(5).joined(separator: ", "))") }
        Swift.print("class imbalance: \(r.imbalance)")
        if let st = r.selfTraining {
            func side(_ n: Int, _ name: String, _ t: Double?, _ op: String) -> String {
                t.map { String(format: "%d pseudo-labelled %@ (score %@ %.4f)", n, name, op, $0) } ?? "none \(name) (validation held no run of parts that pure)"
            }
            Swift.print("stage-1 self-training: \(st.frames) unlabeled frames" + (st.skipped > 0 ? " (\(st.skipped) unreadable skipped)" : "")
                        + (st.labelledAlready > 0 ? " (\(st.labelledAlready) left out: the very pixels of a labelled image)" : "")
                        + ", " + side(st.good, "good", st.thresholds.good, "<=") + ", " + side(st.defective, "defective", st.thresholds.defect, ">=")
                        + (st.capped > 0 ? "; the surest \(st.good + st.defective) kept, as many as there are labels (\(st.capped) more left out)" : "")
                        + (st.good + st.defective == 0 ? "; no frame was sure enough, stage 1 is the one learnt from labels alone" : "; stage 1 is the student that learnt from both (each frame in self-training.csv)"))
        }
        Swift.print(r.calibrationFellBack
            ? String(format: "stage-1 calibration%@: the fitted temperature would have raised the expected calibration error (ECE) on validation above %.2f percentage points; raw scores kept (temperature 1)",
                     r.stage1.metadata.flipAverage == true ? " (scores averaged over four flips)" : "", r.calibrationError.before * 100)
            : String(format: "stage-1 calibration%@: temperature %.3f, expected calibration error (ECE) on validation %.2f -> %.2f percentage points",
                     r.stage1.metadata.flipAverage == true ? " (scores averaged over four flips)" : "",
                     r.temperature, r.calibrationError.before * 100, r.calibrationError.after * 100))
        if let op = r.operatingPoint {
            Swift.print(String(format: "the line's operating point (picked on validation for the fewest false rejects within the escapes a %.1f%% defect recall allows): pass <= %.4f, fail >= %.4f, stage 2 names a kind at or above its threshold%@; validation: %d escapes, %d false rejects",
                         targetRecall * 100, r.thresholds.pass, r.thresholds.fail, op.floor > 0 ? String(format: " and at least %.2f", op.floor) : "", op.escapes, op.falseRejects))
        } else {
            Swift.print(String(format: "stage-1 thresholds (target defect recall %.1f%% on validation): pass <= %.4f, fail >= %.4f",
                         targetRecall * 100, r.thresholds.pass, r.thresholds.fail))
        }
        for (name, s) in [("validation", r.validation), ("test", r.test)] {
            Swift.print(String(format: "  %@: escapes %d/%d = %.2f%% [95%%: %.2f-%.2f%%], false rejects %d/%d = %.2f%% [95%%: %.2f-%.2f%%], unsure %d",
                         name, s.escapes, s.defective, s.escapeRate * 100, s.escapeRateCI[0] * 100, s.escapeRateCI[1] * 100,
                         s.falseRejects, s.good, s.falseRejectRate * 100, s.falseRejectRateCI[0] * 100, s.falseRejectRateCI[1] * 100, s.unsure)
                         + (s.auroc.map { String(format: ", ROC AUC %.4f", $0) } ?? ""))
        }
        Swift.print(String(format: "  one threshold (pass <= %.4f, everything else rejected): test escapes %.2f%%, false rejects %.2f%% (%d/%d good parts)",
                     r.thresholds.pass, r.test.escapeRate * 100, r.test.notPassedGoodRate * 100, r.test.notPassedGood, r.test.good))
        if let l = r.lineTest {
            Swift.print(String(format: "the line on test (stage 1, stage 2 settles the unsure): escapes %d/%d = %.2f%% [95%%: %.2f-%.2f%%], false rejects %d/%d = %.2f%% [95%%: %.2f-%.2f%%], %d settled by stage 2",
                         l.escapes, l.defective, l.escapeRate * 100, l.escapeRateCI[0] * 100, l.escapeRateCI[1] * 100,
                         l.falseRejects, l.good, l.falseRejectRate * 100, l.falseRejectRateCI[0] * 100, l.falseRejectRateCI[1] * 100, l.settledByStage2))
        }
        if let ev = r.stage2Test, let tuned = r.stage2Tuned {
            Swift.print(String(format: "stage 2 on test: exact match %.2f%%, macro-F1 %.3f at 0.5, %.3f at the per-kind thresholds picked on validation",
                         ev.exactMatch * 100, ev.macroF1, tuned.macroF1))
            Swift.print("  kind           threshold  precision  recall     F1   (F1 at 0.5)  the line's threshold")
            for (k, name) in ev.classNames.enumerated() {
                let padded = name.padding(toLength: max(14, name.count), withPad: " ", startingAt: 0)
                Swift.print("  " + padded + String(format: " %9.2f %10.3f %8.3f %8.3f   (%.3f)  %18.2f", tuned.thresholds[k], tuned.precision[k], tuned.recall[k], tuned.f1[k], ev.f1(k),
                                                   k < r.kindThresholds.count ? r.kindThresholds[k] : tuned.thresholds[k]))
            }
        }
    }

}

/// "loading images 1234/3000" on stderr, redrawn in place on a terminal.
final class LoadProgress: @unchecked Sendable {
    private let isTerminal = isatty(STDERR_FILENO) == 1
    private var lastTenth = -1

    func update(_ done: Int, _ total: Int) {
        let tenth = done * 10 / max(total, 1)
        if isTerminal {
            if done % 50 == 0 || done == total {
                FileHandle.standardError.write(Data("\rloading images \(done)/\(total)\u{1B}[K\(done == total ? "\n" : "")".utf8))
            }
        } else if tenth != lastTenth {
            lastTenth = tenth
            FileHandle.standardError.write(Data("loading images \(done)/\(total)\n".utf8))
        }
    }
}
