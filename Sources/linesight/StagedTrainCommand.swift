import ArgumentParser
import Foundation
import Inspection
import Logging
import Neural
import Training

/// `linesight train --data DIR`: both inspection stages, their thresholds and a report.
struct StagedTrainCommand {
    var data: String
    var passClass: String
    /// Nil: fitted to the images (or the --init model's).
    var inputSize: InputSize?
    var targetRecall: Double
    var epochs: Int?
    var width: Int?
    var batchSize: Int?
    var learningRate: Float?
    var seed: UInt64
    var out: String
    var config: String?
    var initFrom: String?
    var fineTune: StagedOptions.FineTune
    var stemPool = true
    var globalPool: Zoo.GlobalPool = .avgmax
    var flipAverage = true

    func run(_ compute: ComputeOptions) throws {
        let logger = Logger(label: "linesight.train")
        try compute.apply(logger)
        var o = StagedOptions()
        o.passClass = passClass
        o.inputSize = inputSize
        o.targetRecall = targetRecall
        if let epochs { (o.stage1Epochs, o.stage2Epochs) = (epochs, epochs) }
        if let width { o.width = width }
        if let batchSize { o.batchSize = batchSize }
        if let learningRate { o.learningRate = learningRate }
        o.stemPool = stemPool
        o.globalPool = globalPool
        o.flipAverage = flipAverage
        o.seed = seed
        o.initFrom = initFrom
        o.fineTune = fineTune
        let trainer = StagedTrainer(directory: data, options: o)
        let bar = ProgressBar()
        let loadBar = LoadProgress()
        trainer.onLoad = { done, total in loadBar.update(done, total) }
        trainer.onStage = { name, train, val in print(train == 0 && val == 0 ? name : "\(name): \(train) training images, \(val) validation images") }
        trainer.onBatch = bar.update
        trainer.onEpoch = { bar.finishEpoch($0, validationName: "val") }
        let started = Date()
        var registry: ModelRegistry?
        var out = self.out
        if let config {
            let (_, reg) = try RegistryOptions.open(config)
            registry = reg
            out = (reg.paths.stage1 as NSString).deletingLastPathComponent + "/trained-" + Self.stamp()
        }
        let r = try trainer.run()
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let s1 = out + "/stage1.safetensors", s2 = out + "/stage2.safetensors"
        try ModelFile.save(r.stage1.network, r.stage1.metadata, to: s1)
        if let stage2 = r.stage2 { try ModelFile.save(stage2.network, stage2.metadata, to: s2) }
        try report(r, seconds: Date().timeIntervalSince(started)).write(toFile: out + "/report.json", atomically: true, encoding: .utf8)
        try testScores(r).write(toFile: out + "/test-scores.csv", atomically: true, encoding: .utf8)
        printSummary(r)
        print("models written to \(s1)" + (r.stage2 == nil ? "" : " and \(s2)") + "; report in \(out)/report.json, every test part's stage-1 score in test-scores.csv")
        if let registry { try promoteFirst(registry, s1, r.stage2 == nil ? nil : s2, r) }
    }

    /// Registers and promotes the new models, and freezes the golden set (first training only).
    private func promoteFirst(_ registry: ModelRegistry, _ s1: String, _ s2: String?, _ r: StagedResult) throws {
        let m1 = try registry.register(file: s1, stage: .one, parent: try registry.store.champion(stage: 1)?.version)
        try registry.promote(m1.version, by: "linesight train (\(whoAmI()))")
        var line = "registered and promoted stage 1 \(m1.version)"
        if let s2 {
            let m2 = try registry.register(file: s2, stage: .two, parent: try registry.store.champion(stage: 2)?.version)
            try registry.promote(m2.version, by: "linesight train (\(whoAmI()))")
            line += ", stage 2 \(m2.version)"
        }
        print(line + " -> \(registry.paths.stage1)")
        let golden = GoldenSet(directory: (registry.paths.stage1 as NSString).deletingLastPathComponent)
        if try golden.freezeIfAbsent(dataDirectory: data, items: r.testItems) {
            print("golden set frozen: \(r.testItems.count) test images (\(golden.path)); retraining is judged on them and never trains on them")
        }
    }

    /// Every test image with its calibrated stage-1 P(defect), what stage 1 decides, the
    /// kinds stage 2 finds (with its strongest score relative to that kind's threshold) and
    /// the line's call: the escapes and false rejects behind the figures, by name.
    private func testScores(_ r: StagedResult) -> String {
        let kinds = r.stage2?.metadata.classes ?? []
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

    static func stamp() -> String {
        let f = DateFormatter()
        f.dateFormat = "yyyyMMdd-HHmmss"
        f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: Date())
    }

    private func printSummary(_ r: StagedResult) {
        print("split (7:2:1 by file hash): \(r.counts.train) train, \(r.counts.validation) validation, \(r.counts.test) test")
        if !r.skipped.isEmpty { print("skipped \(r.skipped.count) unreadable images: \(r.skipped.prefix(5).joined(separator: ", "))") }
        print("class imbalance: \(r.imbalance)")
        print(String(format: "stage-1 calibration%@: temperature %.3f, expected calibration error %.3f -> %.3f (validation)",
                     r.stage1.metadata.flipAverage == true ? " (scores averaged over four flips)" : "",
                     r.temperature, r.calibrationError.before, r.calibrationError.after))
        print(String(format: "stage-1 thresholds (target defect recall %.1f%% on validation): pass <= %.4f, fail >= %.4f",
                     targetRecall * 100, r.thresholds.pass, r.thresholds.fail))
        for (name, s) in [("validation", r.validation), ("test", r.test)] {
            print(String(format: "  %@: escapes %d/%d = %.2f%% [95%%: %.2f-%.2f%%], false rejects %d/%d = %.2f%% [95%%: %.2f-%.2f%%], unsure %d",
                         name, s.escapes, s.defective, s.escapeRate * 100, s.escapeRateCI[0] * 100, s.escapeRateCI[1] * 100,
                         s.falseRejects, s.good, s.falseRejectRate * 100, s.falseRejectRateCI[0] * 100, s.falseRejectRateCI[1] * 100, s.unsure))
        }
        print(String(format: "  one threshold (pass <= %.4f, everything else rejected): test escapes %.2f%%, false rejects %.2f%% (%d/%d good parts)",
                     r.thresholds.pass, r.test.escapeRate * 100, r.test.notPassedGoodRate * 100, r.test.notPassedGood, r.test.good))
        if let l = r.lineTest {
            print(String(format: "the line on test (stage 1, stage 2 settles the unsure): escapes %d/%d = %.2f%% [95%%: %.2f-%.2f%%], false rejects %d/%d = %.2f%% [95%%: %.2f-%.2f%%], %d settled by stage 2",
                         l.escapes, l.defective, l.escapeRate * 100, l.escapeRateCI[0] * 100, l.escapeRateCI[1] * 100,
                         l.falseRejects, l.good, l.falseRejectRate * 100, l.falseRejectRateCI[0] * 100, l.falseRejectRateCI[1] * 100, l.settledByStage2))
        }
        if let ev = r.stage2Test, let tuned = r.stage2Tuned {
            print(String(format: "stage 2 on test: exact match %.2f%%, macro-F1 %.3f at 0.5, %.3f at the per-kind thresholds picked on validation",
                         ev.exactMatch * 100, ev.macroF1, tuned.macroF1))
            print("  kind           threshold  precision  recall     F1   (F1 at 0.5)")
            for (k, name) in ev.classNames.enumerated() {
                let padded = name.padding(toLength: max(14, name.count), withPad: " ", startingAt: 0)
                print("  " + padded + String(format: " %9.2f %10.3f %8.3f %8.3f   (%.3f)", tuned.thresholds[k], tuned.precision[k], tuned.recall[k], tuned.f1[k], ev.f1(k)))
            }
        }
    }

    private func report(_ r: StagedResult, seconds: Double) throws -> String {
        var obj: [String: Any] = [
            "data": data, "seconds": seconds, "input_size": r.inputSize.description, "target_recall": targetRecall,
            "split": ["train": r.counts.train, "validation": r.counts.validation, "test": r.counts.test],
            "skipped": r.skipped, "imbalance": r.imbalance,
            "thresholds": ["pass": r.thresholds.pass, "fail": r.thresholds.fail],
            "calibration": ["temperature": r.temperature, "ece_before": r.calibrationError.before, "ece_after": r.calibrationError.after,
                            "flip_average": r.stage1.metadata.flipAverage == true],
            "stage1": ["validation": try jsonObject(r.validation), "test": try jsonObject(r.test)],
        ]
        if let l = r.lineTest { obj["line"] = ["test": try jsonObject(l)] }
        if let ev = r.stage2Test {
            let tuned = r.stage2Tuned
            obj["stage2"] = ["test": ["exact_match": ev.exactMatch, "macro_f1": ev.macroF1, "macro_f1_tuned": tuned?.macroF1 ?? ev.macroF1,
                                      "per_kind": Dictionary(uniqueKeysWithValues: ev.classNames.enumerated().map { k, name in
                                          (name, ["precision": ev.precision(k), "recall": ev.recall(k), "f1": ev.f1(k),
                                                  "threshold": tuned?.thresholds[k] ?? 0.5, "f1_tuned": tuned?.f1[k] ?? ev.f1(k)])
                                      })]]
        }
        return String(decoding: try JSONSerialization.data(withJSONObject: obj, options: [.prettyPrinted, .sortedKeys]), as: UTF8.self)
    }

    private func jsonObject<T: Encodable>(_ v: T) throws -> Any {
        try JSONSerialization.jsonObject(with: JSONEncoder().encode(v))
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
