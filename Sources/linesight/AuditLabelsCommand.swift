import ArgumentParser
import Foundation
import Lifecycle
import Logging

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
        --report. Cleaning a few percent of wrong labels is often worth more than any model change. \
        On a line of several products each product's labels are audited apart (--product), \
        with its own stage-1 champion's architecture.
          linesight audit-labels --config /etc/linesight/linesight.toml
          linesight audit-labels --data /var/lib/linesight/dataset --report suspects.csv --dry-run
        """)

    @OptionGroup var registryOptions: RegistryOptions
    @OptionGroup var product: ProductOption
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
        let (cfg, registry) = try registryOptions.open(product: product.product)
        let audit = LabelAuditRun(config: cfg, store: registry.store, product: registry.product)
        let bar = ProgressBar()
        audit.onBatch = bar.update
        audit.onEpoch = { bar.finishEpoch($0, validationName: "") }
        audit.onStep = { print($0) }
        let whose = cfg.otherProducts.isEmpty ? "" : " of \(registry.productName)"
        audit.onStart = { [data, folds, epochs] labels, skippedFraming, champion in
            if skippedFraming > 0 { print("\(skippedFraming) frames judged with another ROI than the camera's current one left out") }
            print("auditing \(labels) labeled frames\(whose) from the database\(data.map { " and the images of \($0)" } ?? "") with \(folds) folds, \(epochs) epochs each (architecture of stage 1 \(champion.version))")
        }
        var settings = LabelAuditRun.Settings()
        (settings.data, settings.folds, settings.epochs, settings.confidence, settings.dryRun) = (data, folds, epochs, confidence, dryRun)
        let r = try audit.run(settings)
        if let report { try LabelAuditRun.reportCSV(r).write(toFile: report, atomically: true, encoding: .utf8) }
        printSummary(r)
        logger.notice("label audit finished", metadata: ["audited": "\(r.findings.count)", "suspects": "\(r.suspects.count)", "flagged": "\(r.flagged)"])
    }

    private func printSummary(_ r: LabelAuditRun.Summary) {
        let share = r.findings.isEmpty ? 0 : 100 * Double(r.suspects.count) / Double(r.findings.count)
        print(String(format: "%d of %d labels are suspect (%.1f%%)", r.suspects.count, r.findings.count, share))
        for s in r.suspects.prefix(20) {
            print("  " + (r.frameOf[s.item.file].map { "frame \($0)" } ?? s.item.file) + ": " + s.reason)
        }
        if r.suspects.count > 20 { print("  ... and \(r.suspects.count - 20) more\(report == nil ? " (--report FILE lists every one)" : "")") }
        if !r.skipped.isEmpty { print("skipped \(r.skipped.count) unreadable images, e.g. \(r.skipped[0])") }
        if dryRun {
            print("dry run: nothing flagged")
        } else {
            print("sent \(r.flagged) suspect frame\(r.flagged == 1 ? "" : "s") to the review queue (reason: suspect label); `linesight review` shows them early")
        }
        if let report { print("every score: \(report)") }
    }
}
