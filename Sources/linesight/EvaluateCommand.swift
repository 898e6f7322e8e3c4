import ArgumentParser
import Foundation
import Lifecycle
import Logging
import Neural
import Reports
import Training

struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Judge staged inspection models on a labelled folder as the daemon would, or a Fashion-MNIST model on its test set.",
        discussion: """
        Staged models (--models DIR, the folder `linesight train` wrote) on any labelled \
        ImageFolder tree (--data DIR: DIR/<class>/*.jpg, good parts in good/, ok/, pass/ or \
        normal/; a tree split into train/, val/, test/ is judged on test/ unless --split says \
        otherwise). Every image goes through the daemon's own classifier at the models' own \
        thresholds (the whole image, stage 2 settling the parts stage 1 is unsure of: the \
        default rule), and the figures are the line's: escapes and false rejects with 95% Wilson \
        intervals, per-kind precision/recall/F1 of the kinds it names, the confusion of truth \
        against its call, stage 1's ROC AUC, the operating points stage 1 could run at, and \
        its calibration (ECE in percentage points). --plots DIR writes the ROC and \
        precision-recall curves and the reliability diagram as SVG and PNG; --json prints \
        everything as JSON.
          linesight evaluate --models linesight-data/models --data ../surface-dev
          linesight evaluate --models linesight-data/models --data parts --json --plots eval
        A Fashion-MNIST model (`linesight fashion-mnist`) on that test split: accuracy, \
        per-class precision/recall/F1, confusion matrix.
          linesight evaluate --model runs/fashion-mnist/model.safetensors --flip-average
        """)

    @Option(help: "A folder with stage1.safetensors (and stage2.safetensors) to judge on --data.") var models: String?
    @Option(help: "The labelled ImageFolder tree --models is judged on.") var data: String?
    @Option(help: "With a tree split into train/, val/, test/: the split to judge (default: test, else val).") var split: String?
    @Option(help: "The good parts' folder name in --data (default: whichever of good, ok, pass, normal is there).") var passClass: String?
    @Flag(help: "With --models: print the evaluation as JSON.") var json = false
    @Option(help: "With --models: a folder for roc, pr and reliability charts (.svg and .png).") var plots: String?
    @Option(help: "A Fashion-MNIST model file (safetensors) to evaluate on its test set.") var model: String?
    @Option(help: "Folder with the dataset's IDX files.") var dataDir: String = FashionMNIST.defaultDirectory
    @Option(help: "Evaluate on the first N test images only (quick checks).") var testLimit: Int?
    @Flag(help: "Also judge every image mirrored left-right and average the two (test-time augmentation).")
    var flipAverage = false
    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        guard (model != nil) != (models != nil) else { throw ValidationError("give either --models DIR with --data DIR (staged models) or --model FILE (Fashion-MNIST)") }
        if models != nil, data == nil { throw ValidationError("--models needs --data DIR: the labelled folder to judge the models on") }
        if model != nil {
            let staged = [("--data", data != nil), ("--split", split != nil), ("--pass-class", passClass != nil), ("--json", json), ("--plots", plots != nil)].filter(\.1).map(\.0)
            if !staged.isEmpty { throw ValidationError("\(staged.joined(separator: ", ")) judge staged models: use them with --models") }
        } else if flipAverage || testLimit != nil {
            throw ValidationError("--flip-average and --test-limit apply to --model (Fashion-MNIST); staged models judge as their stage-1 file says")
        }
    }

    func run() throws {
        let logger = Logger(label: "linesight.evaluate")
        try compute.apply(logger)
        if let models, let data { return try staged(models, data) }
        guard let model else { return }
        let (network, meta) = try ModelFile.load(path: model)
        var testSet = try FashionMNIST.load(directory: dataDir, test: true)
        if let testLimit, testLimit < testSet.count { testSet = testSet.subset(Array(0..<max(1, testLimit))) }
        guard network.inputShape == testSet.shape, meta.classes.count == testSet.classNames.count else {
            throw ValidationError("model takes \(network.inputShape) with \(meta.classes.count) classes; the test set is \(testSet.shape) with \(testSet.classNames.count)")
        }
        let norm = Normalization(mean: meta.normalization.mean, std: meta.normalization.std)
        let ev = evaluate(network, on: testSet, normalization: norm, flipAverage: flipAverage)
        if flipAverage { print("test-time augmentation: each image also judged mirrored, softmax outputs averaged") }
        print(String(format: "accuracy %.2f%%  top-5 %.2f%%  macro-F1 %.4f  (%d images)", ev.accuracy * 100, ev.top5 * 100,
                     ev.confusion.macroF1, ev.confusion.total))
        print("\nclass          precision  recall     F1")
        for (c, name) in meta.classes.enumerated() {
            let label = name.padding(toLength: max(14, name.count), withPad: " ", startingAt: 0)
            print(label + String(format: " %9.4f %7.4f %7.4f", ev.confusion.precision(c), ev.confusion.recall(c), ev.confusion.f1(c)))
        }
        print("\n" + ev.confusion.table(names: meta.classes))
    }

    func staged(_ models: String, _ data: String) throws {
        let bar = LoadProgress()
        let e = try StagedEvaluation.run(models: models, data: data, split: split, passClass: passClass, compute: Compute.current()) { bar.update($0, $1) }
        if let plots { try writePlots(e, plots) }
        if json { return print(try e.json()) }
        print("judged \(e.images) images of \(e.data) (\(e.split))" + (e.skipped.isEmpty ? "" : "; \(e.skipped.count) unreadable skipped: \(e.skipped.prefix(3).joined(separator: ", "))"))
        print(String(format: "thresholds: stage 1 passes at or below %.4f, fails at or above %.4f; stage 2 settles the unsure", e.thresholds.pass, e.thresholds.fail))
        let l = e.line
        print(String(format: "the line: escapes %d/%d = %.2f%% [95%%: %.2f-%.2f%%], false rejects %d/%d = %.2f%% [95%%: %.2f-%.2f%%], %d unsure",
                     l.escapes, l.defective, l.escapeRate * 100, l.escapeRateCI[0] * 100, l.escapeRateCI[1] * 100,
                     l.falseRejects, l.good, l.falseRejectRate * 100, l.falseRejectRateCI[0] * 100, l.falseRejectRateCI[1] * 100, l.unsure))
        print(String(format: "stage 1: ROC AUC %@, ECE of P(defect) %.2f percentage points (10 bins)", e.auroc.map { String(format: "%.4f", $0) } ?? "n/a", e.ece * 100))
        print("  operating points of stage 1 alone (pass at or below the threshold, reject the rest):")
        print("  false rejects <=   threshold   escapes   false rejects")
        for p in e.operatingPoints {
            print(String(format: "  %14.1f%%   %9.4f   %6.2f%%   %12.2f%%", p.falseRejectBudget * 100, p.threshold, p.escapeRate * 100, p.falseRejectRate * 100))
        }
        if !e.kinds.isEmpty {
            print(String(format: "kinds the line names (macro-F1 %.3f):", e.macroF1))
            print("  kind           support  precision  recall     F1")
            for k in e.perKind {
                print("  " + k.kind.padding(toLength: max(14, k.kind.count), withPad: " ", startingAt: 0)
                      + String(format: " %7d %10.3f %7.3f %7.3f", k.support, k.precision, k.recall, k.f1))
            }
        }
        print("confusion (rows: truth; columns: the line's call):")
        let rows = ["good"] + e.kinds
        let first = (rows.map(\.count).max() ?? 4) + 1, widths = e.confusionColumns.map { max(5, $0.count) + 2 }
        print("  " + "".padding(toLength: first, withPad: " ", startingAt: 0) + zip(e.confusionColumns, widths).map { $0.leftPad($1) }.joined())
        for (r, name) in rows.enumerated() {
            print("  " + name.padding(toLength: first, withPad: " ", startingAt: 0) + zip(e.confusion[r], widths).map { String($0).leftPad($1) }.joined())
        }
        if let loc = e.localization {
            print(String(format: "where the maps point (%d detected defects with boxes; a hit: the map's strongest cell, one of %dx%d, touches a defect box):",
                         loc.detected, loc.cells.first ?? 0, loc.cells.last ?? 0))
            print(String(format: "  stage 1        %d/%d = %.1f%% hit (%d maps with no cell toward a defect)", loc.stage1.hits, loc.stage1.checked, loc.stage1.share * 100, loc.stage1.blank))
            for (kind, f) in loc.perKind.sorted(by: { $0.key < $1.key }) {
                print("  stage 2 " + kind.padding(toLength: max(6, kind.count), withPad: " ", startingAt: 0)
                      + String(format: " %d/%d = %.1f%% hit (%d blank)", f.hits, f.checked, f.share * 100, f.blank))
            }
        }
        if let plots { print("charts written to \(plots)/roc, pr and reliability (.svg and .png)") }
    }

    func writePlots(_ e: StagedEvaluation, _ dir: String) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let charts: [(String, CurveChart)] = [
            ("roc", CurveChart(title: "Stage 1 ROC" + (e.auroc.map { String(format: " (AUC %.4f)", $0) } ?? ""), xLabel: "false-positive rate (good parts scored above)",
                               yLabel: "defect recall", series: [.init(name: "stage 1", points: e.roc.map { (x: $0.fpr, y: $0.tpr) })], diagonal: true)),
            ("pr", CurveChart(title: "Stage 1 precision-recall", xLabel: "defect recall", yLabel: "precision",
                              series: [.init(name: "stage 1", points: e.precisionRecall.map { (x: $0.recall, y: $0.precision) })], diagonal: false)),
            ("reliability", CurveChart(title: String(format: "Stage 1 reliability (ECE %.2f percentage points)", e.ece * 100), xLabel: "mean predicted P(defect)",
                                       yLabel: "share defective", series: [.init(name: "stage 1", points: e.reliability.map { (x: $0.meanScore, y: $0.defectiveShare) }, markers: true)],
                                       diagonal: true)),
        ]
        for (name, chart) in charts {
            let svg = SVGCanvas(width: 720, height: 600)
            chart.draw(on: svg)
            try svg.document.write(toFile: "\(dir)/\(name).svg", atomically: true, encoding: .utf8)
            let png = RasterCanvas(width: 720, height: 600)
            chart.draw(on: png)
            try png.png.write(to: URL(fileURLWithPath: "\(dir)/\(name).png"))
        }
    }
}

private extension String {
    func leftPad(_ n: Int) -> String { count >= n ? " " + self : String(repeating: " ", count: n - count) + self }
}
