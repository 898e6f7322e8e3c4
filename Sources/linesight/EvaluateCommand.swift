import ArgumentParser
import Foundation
import Logging
import Neural
import Training

struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Evaluate a Fashion-MNIST model on its test set: accuracy, per-class precision/recall/F1, confusion matrix.",
        discussion: """
        Judges a model written by `linesight fashion-mnist` on the Fashion-MNIST test split. \
        Inspection models are measured by `linesight train` (report.json, test-scores.csv) \
        and judged against the champion by `linesight retrain --dry-run`.
          linesight evaluate --model runs/fashion-mnist/model.safetensors
          linesight evaluate --model runs/fashion-mnist/model.safetensors --flip-average
        """)

    @Option(help: "The model file (safetensors) to evaluate.") var model: String
    @Option(help: "Folder with the dataset's IDX files.") var dataDir: String = FashionMNIST.defaultDirectory
    @Option(help: "Evaluate on the first N test images only (quick checks).") var testLimit: Int?
    @Flag(help: "Also judge every image mirrored left-right and average the two (test-time augmentation).")
    var flipAverage = false
    @OptionGroup var compute: ComputeOptions

    func run() throws {
        let logger = Logger(label: "linesight.evaluate")
        try compute.apply(logger)
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
}
