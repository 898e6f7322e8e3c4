import Foundation
import Store
import Training

/// What a first training writes beside its models: report.json (split, calibration,
/// thresholds, the figures of both stages and of the line) and test-scores.csv (every test
/// image by name with its scores and the line's call: the escapes and false rejects behind
/// the figures).
public struct TrainingReport {
    public var result: StagedResult
    public var data: String
    public var targetRecall: Double

    public init(result: StagedResult, data: String, targetRecall: Double) {
        (self.result, self.data, self.targetRecall) = (result, data, targetRecall)
    }

    /// report.json, pretty-printed with sorted keys.
    public func json(seconds: Double) throws -> String {
        let r = result
        var obj: [String: Any] = [
            "data": data, "seconds": seconds, "input_size": r.inputSize.description, "target_recall": targetRecall,
            "split": ["train": r.counts.train, "validation": r.counts.validation, "test": r.counts.test], "split_source": r.splitSource,
            "skipped": r.skipped, "imbalance": r.imbalance,
            "thresholds": ["pass": r.thresholds.pass, "fail": r.thresholds.fail],
            "calibration": ["temperature": r.temperature, "ece_before": r.calibrationError.before, "ece_after": r.calibrationError.after, "ece_unit": "fraction (x100: percentage points)", "fell_back_to_t1": r.calibrationFellBack,
                            "flip_average": r.stage1.metadata.flipAverage == true],
            "stage1": ["validation": try jsonObject(r.validation), "test": try jsonObject(r.test)],
        ]
        if let l = r.lineTest {
            var line: [String: Any] = ["test": try jsonObject(l)]
            if let op = r.operatingPoint {
                line["operating_point"] = ["pass": op.thresholds.pass, "fail": op.thresholds.fail, "kind_floor": op.floor, "kind_thresholds": op.kindThresholds,
                                           "validation_escapes": op.escapes, "validation_false_rejects": op.falseRejects]
            }
            obj["line"] = line
        }
        if let ev = r.stage2Test { obj["stage2"] = ["test": stageTwo(ev, r.stage2Tuned)] }
        if let st = r.selfTraining {
            obj["self_training"] = ["unlabeled_frames": st.frames, "skipped": st.skipped, "labelled_already": st.labelledAlready,
                                    "pseudo_good": st.good, "pseudo_defective": st.defective, "capped": st.capped,
                                    "good_at_or_under": st.thresholds.good ?? NSNull(), "defective_at_or_over": st.thresholds.defect ?? NSNull()] as [String: Any]
        }
        return String(decoding: try JSONSerialization.data(withJSONObject: obj, options: [.prettyPrinted, .sortedKeys]), as: UTF8.self)
    }

    private func stageTwo(_ ev: MultiLabelEvaluation, _ tuned: MultiLabelScores?) -> [String: Any] {
        ["exact_match": ev.exactMatch, "macro_f1": ev.macroF1, "macro_f1_tuned": tuned?.macroF1 ?? ev.macroF1,
         "per_kind": Dictionary(uniqueKeysWithValues: ev.classNames.enumerated().map { k, name in
             (name, ["precision": ev.precision(k), "recall": ev.recall(k), "f1": ev.f1(k),
                     "threshold": tuned?.thresholds[k] ?? 0.5, "f1_tuned": tuned?.f1[k] ?? ev.f1(k)])
         })]
    }

    /// With self-training: every pseudo-labelled frame (its path under the unlabeled folder,
    /// the teacher's uncalibrated P(defect), the pseudo-label), to see what the student learnt from.
    public func selfTrainingCSV() -> String? {
        guard let st = result.selfTraining else { return nil }
        return CSV.row(["file", "teacher_p_defect", "pseudo_label"])
            + st.pseudoLabels.map { CSV.row([$0.file, String(format: "%.6f", $0.score), $0.label == 0 ? "good" : "defect"]) }.joined()
    }

    /// Every test image with its calibrated stage-1 P(defect), what stage 1 decides, the
    /// kinds stage 2 finds (with its strongest score relative to that kind's threshold) and
    /// the line's call.
    public func testScoresCSV() -> String {
        let r = result
        let kinds = r.stageTwoKinds
        var csv = "file,label,defects,p_defect,stage1,stage2_kinds,stage2_margin,line\n"
        for (i, (item, p)) in zip(r.testItems, r.testDefectProbabilities).enumerated() {
            let call = p >= r.thresholds.fail ? "fail" : p <= r.thresholds.pass ? "pass" : "unsure"   // as the daemon: fail first
            var found = "", margin = "", line = call
            if i < r.testKindScores.count, !kinds.isEmpty {
                let s = r.testKindScores[i]
                found = kinds.indices.filter { Double(s[$0]) >= r.kindThresholds[$0] }.map { kinds[$0] }.joined(separator: "+")
                margin = String(format: "%.4f", kinds.indices.map { Double(s[$0]) / max(r.kindThresholds[$0], 1e-9) }.max() ?? 0)
                line = LineDecisionReport.fails(stage1: p, stage2: s, kindThresholds: r.kindThresholds, r.thresholds) ? "fail" : "pass"
            }
            csv += "\(item.file),\(item.label),\(item.defects.joined(separator: "+")),\(String(format: "%.6f", p)),\(call),\(found),\(margin),\(line)\n"
        }
        return csv
    }

    private func jsonObject<T: Encodable>(_ v: T) throws -> Any {
        try JSONSerialization.jsonObject(with: JSONEncoder().encode(v))
    }
}
