import ArgumentParser
import Foundation
import Inspection
import Logging
import Store
import Training

struct AuditLabelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit-labels",
        abstract: "Find labels that are probably wrong and send them back to review as 'suspect label'.",
        discussion: """
        Every labeled frame in the database (and every image of --data, if given) gets a \
        defect probability from a model that never saw it: the labeled data is cut into \
        --folds parts by file hash, and for each part a fresh network with the stage-1 \
        champion's architecture is trained on the others and scores it (out-of-fold, \
        calibrated). A frame labeled good that scores P(defect) >= --confidence, or labeled \
        defective that scores <= 1 - --confidence, is a suspect: it goes back to the review \
        queue with the reason "suspect label" and the figures (`linesight review` shows \
        them). Images from --data are not in the database; their suspects are listed in \
        --report. Cleaning a few percent of wrong labels is often worth more than any model change.
          linesight audit-labels --config /etc/linesight/linesight.toml
          linesight audit-labels --data /var/lib/linesight/dataset --report suspects.csv --dry-run
        """)

    @OptionGroup var registryOptions: RegistryOptions
    @Option(help: "Also audit (and learn from) this ImageFolder tree, e.g. the first training's data.") var data: String?
    @Option(help: "Parts the labeled data is cut into.") var folds: Int = 5
    @Option(help: "Training epochs per fold.") var epochs: Int = 12
    @Option(help: "How sure the out-of-fold model must be to call a label suspect (0.5-1).") var confidence: Double = 0.9
    @Option(help: "Write every audited image with its score to this CSV.") var report: String?
    @Flag(help: "Report only: flag nothing.") var dryRun = false
    @Option(help: "Nice level for this process (0 = normal; higher yields to the daemon).") var nice: Int32 = 10
    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        guard (2...20).contains(folds) else { throw ValidationError("--folds must be 2 to 20") }
        guard (1...500).contains(epochs) else { throw ValidationError("--epochs must be 1 to 500") }
        guard confidence > 0.5 && confidence < 1 else { throw ValidationError("--confidence must be above 0.5 and below 1") }
    }

    func run() throws {
        let logger = Logger(label: "linesight.audit")
        setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, nice)
        try compute.apply(logger)
        let (cfg, registry) = try registryOptions.open()
        guard let champion = try registry.store.champion(stage: 1) else {
            throw CommandFailure("no stage-1 champion in the registry: its architecture and input size are what the audit trains; run `linesight train` first")
        }
        let labels = try registry.store.currentLabels()
        // The regions the daemon judged (each frame's ROI), as retraining sees them.
        let exported = NSTemporaryDirectory() + "linesight-audit-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: exported, withIntermediateDirectories: false)  // fails if it exists
        defer { try? FileManager.default.removeItem(atPath: exported) }
        let framed = try LabelExport.writeImageFolder(labels, frames: cfg.framesDirectory, to: exported, framing: .current(cfg.currentFraming))
        if framed.skippedFraming > 0 {
            print("\(framed.skippedFraming) frames judged with another ROI than the camera's current one left out")
        }
        var frameOf: [String: Int64] = [:]
        var items: [LabeledImage] = labels.compactMap { l in
            let label = l.defects.first ?? "good"
            let file = exported + "/\(label)/\(l.frameId).jpg"
            guard FileManager.default.fileExists(atPath: file) else { return nil }
            frameOf[file] = l.frameId
            return LabeledImage(file: file, label: label, defects: l.defects)
        }
        if let data {
            let root = URL(fileURLWithPath: data).standardizedFileURL.path
            do {
                items += try ImageFolder.scan(root, passClass: "good").map { LabeledImage(file: root + "/" + $0.file, label: $0.label, defects: $0.defects) }
            } catch let e as TrainingError { throw CommandFailure("\(e)") }
        }
        print("auditing \(labels.count) labeled frames from the database\(data.map { " and the images of \($0)" } ?? "") with \(folds) folds, \(epochs) epochs each (architecture of stage 1 \(champion.version))")
        let auditor = LabelAuditor()
        let bar = ProgressBar()
        auditor.onBatch = bar.update
        auditor.onEpoch = { bar.finishEpoch($0, validationName: "") }
        auditor.onStep = { print($0) }
        var inputs = LabelAuditor.Inputs(championPath: champion.file, items: items)
        inputs.folds = folds
        inputs.epochs = epochs
        inputs.confidence = confidence
        let result: (findings: [LabelAuditor.Finding], skipped: [String])
        do { result = try auditor.run(inputs) } catch let e as TrainingError { throw CommandFailure("\(e)") }
        let suspects = result.findings.filter(\.suspect).sorted { abs($0.defectProbability - 0.5) > abs($1.defectProbability - 0.5) }
        if let report {
            var csv = "file,frame_id,label,defects,fold,p_defect,suspect\n"
            for f in result.findings {
                csv += "\(f.item.file),\(frameOf[f.item.file].map(String.init) ?? ""),\(f.item.label),\(f.item.defects.joined(separator: "+")),\(f.fold),"
                    + String(format: "%.4f", f.defectProbability) + ",\(f.suspect)\n"
            }
            try csv.write(toFile: report, atomically: true, encoding: .utf8)
        }
        var flagged = 0
        if !dryRun {
            for s in suspects {
                if let frame = frameOf[s.item.file], try registry.store.flagSuspectLabel(frame: frame, note: s.reason) { flagged += 1 }
            }
        }
        let share = result.findings.isEmpty ? 0 : 100 * Double(suspects.count) / Double(result.findings.count)
        print(String(format: "%d of %d labels are suspect (%.1f%%)", suspects.count, result.findings.count, share))
        for s in suspects.prefix(20) {
            print("  " + (frameOf[s.item.file].map { "frame \($0)" } ?? s.item.file) + ": " + s.reason)
        }
        if suspects.count > 20 { print("  ... and \(suspects.count - 20) more\(report == nil ? " (--report FILE lists every one)" : "")") }
        if !result.skipped.isEmpty { print("skipped \(result.skipped.count) unreadable images, e.g. \(result.skipped[0])") }
        if dryRun {
            print("dry run: nothing flagged")
        } else {
            print("sent \(flagged) suspect frame\(flagged == 1 ? "" : "s") to the review queue (reason: suspect label); `linesight review` shows them early")
        }
        if let report { print("every score: \(report)") }
        logger.notice("label audit finished", metadata: ["audited": "\(result.findings.count)", "suspects": "\(suspects.count)", "flagged": "\(flagged)"])
    }
}
