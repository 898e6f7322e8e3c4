import ArgumentParser
import Foundation
import Inspection
import Logging
import Neural
import Training

enum Architecture: String, ExpressibleByArgument, CaseIterable {
    case resnet8, resnet10, lightnet, resnet18

    func spec(input: Shape, classes: Int, width: Int?) -> NetworkSpec {
        switch self {
        case .resnet8: Zoo.smallResNet(input: input, classes: classes, depth: 8, width: width ?? 32)
        case .resnet10: Zoo.smallResNet(input: input, classes: classes, depth: 10, width: width ?? 32)
        case .lightnet: Zoo.lightNet(input: input, classes: classes, width: width ?? 16)
        case .resnet18: Zoo.resnet18(input: input, classes: classes)
        }
    }
}

extension TrainCommand {
    /// The current labels of the line's database as an ImageFolder tree next to its models.
    static func exportLabels(_ config: String) throws -> String {
        let (cfg, registry) = try RegistryOptions.open(config)
        let labels = try registry.store.currentLabels()
        guard !labels.isEmpty else {
            throw CommandFailure("the database \(cfg.database) has no labeled frames yet: label flagged frames with `linesight review`, or train with --data DIR")
        }
        // A new folder each time: the golden set and the replay of later retrains point into it.
        let dir = (cfg.models.stage1 as NSString).deletingLastPathComponent + "/train-labels-" + StagedTrainCommand.stamp()
        let n = try LabelExport.writeImageFolder(labels, frames: cfg.framesDirectory, to: dir, framing: .current(cfg.currentFraming))
        print("training on \(n.defective + n.good) labeled frames from \(cfg.database) (\(n.defective) defective, \(n.good) good), exported to \(dir)"
              + (n.skippedFraming > 0 ? "; \(n.skippedFraming) frames judged with another ROI than the camera's current one left out" : ""))
        return dir
    }
}

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train the staged inspection models from labeled images, or a classifier on Fashion-MNIST.",
        discussion: """
        With --data DIR it trains both inspection stages from an ImageFolder tree (DIR/good/*.jpg, \
        DIR/<defect>/*.jpg, and DIR/labels.csv for parts with several defects, as `linesight \
        synth` writes it): stage 1 pass/fail (small ResNet, AdamW, class-balanced sampling) and stage 2 \
        which defects (multi-label, positive class weights). The split is 7:2:1 by a hash of each \
        file's path (stable when data is added). The stage-1 thresholds are picked on the \
        validation split for --target-recall of defects; the escape and false-reject rates they \
        cost on the test split are printed with 95% intervals. Writes OUT/stage1.safetensors, \
        OUT/stage2.safetensors and OUT/report.json (OUT defaults to linesight-data/models).
          linesight synth --out data/parts --count 3000
          linesight train --data data/parts
        With --labels and --config it trains from the frames people labeled in the line's \
        database instead (the current label of every kept frame):
          linesight train --labels --config /etc/linesight/linesight.toml

        Without --data it trains on Fashion-MNIST (Debian package dataset-fashion-mnist), the \
        engine's proving ground (small ResNet, SGD + Nesterov, one-cycle, label smoothing 0.1, \
        random crop and flips); a checkpoint is written after every epoch and --resume \
        continues an interrupted run.
          linesight train --dataset fashion-mnist --epochs 10 --out runs/fmnist/model.safetensors
        """)

    @Option(help: "ImageFolder tree of inspection images: trains stage 1 and stage 2.") var data: String?
    @Flag(help: "Train both stages from the labeled frames in the database of --config (instead of --data).") var labels = false
    @Option(help: "With --data: the good parts' folder name.") var passClass: String = "good"
    @Option(help: "With --data: model input in pixels, N (square) or WxH (e.g. 256x192), or auto: the images' own aspect ratio with the long side at most \(InputSize.automaticLongSide) (with --init: that model's input). Smaller is faster (128 trains about three times as fast as 256x192) but loses faint, small defects.")
    var inputSize: String = "auto"
    @Option(help: "With --data: defect recall the stage-1 pass threshold keeps on the validation split.") var targetRecall: Double = 0.99
    @Option(name: .customLong("init"), help: "With --data: transfer learning from a models folder (stage1.safetensors, stage2.safetensors), e.g. another line's.")
    var initFrom: String?
    @Option(help: "With --init: fine-tune 'all' layers (at a low rate, \(StagedOptions().fineTuneLearningRate)) or only the 'head' (at \(StagedOptions().headLearningRate)).") var fineTune: String = "all"
    @Flag(inversion: .prefixedNo, help: "With --data: max pool after the stem on inputs >= 96 (--no-stem-pool: twice the resolution into the network for defects a few pixels wide, about twice the compute).")
    var stemPool = true
    @Flag(inversion: .prefixedNo, help: "With --data: stage 1 scores each image as the mean of its four flips (original, left-right, top-bottom, both), in calibration, thresholds and the daemon alike: steadier on faint defects at four times stage 1's compute (--no-flip-average: one pass).")
    var flipAverage = true
    @Option(help: "With --data: global pooling: avg, max (small defects are not averaged away; absences such as a missing hole are harder) or avgmax (both).")
    var globalPool: String = StagedOptions().globalPool.rawValue
    @Option(help: "With --data: a line config; the models are registered and promoted to its model paths, and the test split becomes the golden set that retraining is judged on.")
    var config: String?

    @Option(help: "The dataset: fashion-mnist.") var dataset: String = "fashion-mnist"
    @Option(help: "Folder with the dataset's IDX files.") var dataDir: String = FashionMNIST.defaultDirectory
    @Option(help: "Architecture: \(Architecture.allCases.map(\.rawValue).joined(separator: ", ")).")
    var arch: Architecture = .resnet10
    @Option(help: "Width (channels of the first stage) of the small ResNet or light net.") var width: Int?
    @Option(help: "Passes over the training set (default: 10 for Fashion-MNIST; \(StagedOptions().stage1Epochs) per stage with --data).") var epochs: Int?
    @Option(help: "Images per optimizer step (default: 128; 64 with --data).") var batchSize: Int?
    @Option(help: "Peak learning rate (default: the recipe's 0.2 for SGD, 1e-3 for Adam/AdamW; with --data \(StagedOptions().learningRate), AdamW).") var lr: Float?
    @Option(help: "Optimizer: sgd, adam or adamw.") var optimizer: String = "sgd"
    @Option(help: "Train on the first N training images only (quick checks).") var limit: Int?
    @Option(help: "Evaluate on the first N test images only (quick checks).") var testLimit: Int?
    @Option(help: "Seed for initialization, shuffling and augmentation.") var seed: UInt64 = 1
    @Option(help: "Where to write the model (with --data: the folder for both stages).") var out: String?
    @Option(help: "Checkpoint file (default: next to --out).") var checkpoint: String?
    @Flag(help: "Continue from the checkpoint of an interrupted run with the same settings.") var resume = false
    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        if labels {
            guard data == nil else { throw ValidationError("give either --data DIR or --labels, not both") }
            guard config != nil else { throw ValidationError("--labels reads the database of a line: give --config FILE") }
        }
        guard dataset == "fashion-mnist" else { throw ValidationError("unknown dataset '\(dataset)'; available: fashion-mnist") }
        if let epochs, epochs < 1 { throw ValidationError("--epochs must be at least 1") }
        guard StagedOptions.FineTune(rawValue: fineTune) != nil else { throw ValidationError("--fine-tune must be all or head") }
        guard Zoo.GlobalPool(rawValue: globalPool) != nil else { throw ValidationError("--global-pool must be avg, max or avgmax") }
        if inputSize != "auto" {
            guard let size = InputSize(parsing: inputSize), (16...512).contains(size.width), (16...512).contains(size.height) else {
                throw ValidationError("--input-size must be auto, N or WxH with sides of 16...512 pixels, e.g. 128 or 256x192")
            }
        }
        guard targetRecall > 0 && targetRecall <= 1 else { throw ValidationError("--target-recall must be in (0, 1]") }
        if let batchSize, batchSize < 1 { throw ValidationError("--batch-size must be at least 1") }
        guard ["sgd", "adam", "adamw"].contains(optimizer) else { throw ValidationError("--optimizer must be sgd, adam or adamw") }
        if let width, width < 1 { throw ValidationError("--width must be positive") }
    }

    func run() throws {
        var data = self.data
        if labels, let config { data = try Self.exportLabels(config) }
        if let data {
            return try StagedTrainCommand(data: data, passClass: passClass, inputSize: inputSize == "auto" ? nil : InputSize(parsing: inputSize), targetRecall: targetRecall,
                                          epochs: epochs, width: width, batchSize: batchSize, learningRate: lr, seed: seed,
                                          out: out ?? "linesight-data/models", config: config, initFrom: initFrom,
                                          fineTune: StagedOptions.FineTune(rawValue: fineTune) ?? .all,
                                          stemPool: stemPool, globalPool: Zoo.GlobalPool(rawValue: globalPool) ?? StagedOptions().globalPool,
                                          flipAverage: flipAverage).run(compute)
        }
        let epochs = self.epochs ?? 10
        let out = self.out ?? "runs/fashion-mnist/model.safetensors"
        let logger = Logger(label: "linesight.train")
        let interrupt = InterruptFlag()
        interrupt.install()
        try compute.apply(logger)
        var trainSet = try FashionMNIST.load(directory: dataDir, test: false)
        var testSet = try FashionMNIST.load(directory: dataDir, test: true)
        if let testLimit, testLimit < testSet.count { testSet = testSet.subset(Array(0..<max(1, testLimit))) }
        if let limit, limit < trainSet.count { trainSet = trainSet.subset(Array(0..<max(1, limit))) }
        var config = TrainingConfig.fashionMNIST(epochs: epochs, seed: seed)
        config.batchSize = batchSize ?? 128
        switch optimizer {
        case "adam": config.optimizer = .adam(learningRate: lr ?? 1e-3, weightDecay: 0)
        case "adamw": config.optimizer = .adamW(learningRate: lr ?? 1e-3, weightDecay: 0.05)
        default: if let lr { config.optimizer = .sgd(learningRate: lr, momentum: 0.9, nesterov: true, weightDecay: 5e-4) }
        }
        let spec = arch.spec(input: trainSet.shape, classes: trainSet.classNames.count, width: width)
        let network = try Network(spec, seed: seed)
        let outDir = URL(fileURLWithPath: out).deletingLastPathComponent().path
        try FileManager.default.createDirectory(atPath: outDir, withIntermediateDirectories: true)
        let checkpointPath = checkpoint ?? outDir + "/checkpoint.safetensors"
        if !resume { try? FileManager.default.removeItem(atPath: checkpointPath) }
        logger.info("training started", metadata: [
            "arch": "\(spec.name)", "parameters": "\(network.parameterCount)", "train.images": "\(trainSet.count)",
            "test.images": "\(testSet.count)", "epochs": "\(epochs)", "batch": "\(config.batchSize)", "optimizer": "\(optimizer)",
        ])
        let trainer = try Trainer(network: network, config: config, train: trainSet, validation: testSet)
        trainer.checkpointPath = checkpointPath
        trainer.shouldStop = { _ in interrupt.requested }
        let bar = ProgressBar()
        trainer.onBatch = bar.update
        trainer.onEpoch = { bar.finishEpoch($0, validationName: "test") }
        let summary = try trainer.run()
        if summary.resumedFromEpoch > 0 { print("resumed after epoch \(summary.resumedFromEpoch)") }
        if summary.interrupted {
            print("stopped after epoch \(summary.history.count) of \(epochs); continue with the same command plus --resume")
            print("checkpoint: \(checkpointPath)")
            return
        }
        let ev = evaluate(network, on: testSet, normalization: config.normalization)
        let meta = ModelMetadata(
            spec: spec, classes: trainSet.classNames,
            normalization: .init(mean: config.normalization.mean, std: config.normalization.std),
            provenance: .init(created: ISO8601DateFormatter().string(from: Date()),
                              dataHash: "fashion-mnist:\(trainSet.count)", metrics: [
                                "test.accuracy": ev.accuracy, "test.macro_f1": ev.confusion.macroF1, "test.top5": ev.top5,
                              ], notes: "linesight train --dataset fashion-mnist --epochs \(epochs) --arch \(arch.rawValue)"))
        try ModelFile.save(network, meta, to: out)
        print(String(format: "test accuracy %.2f%%, macro-F1 %.4f, top-5 %.2f%%", ev.accuracy * 100, ev.confusion.macroF1, ev.top5 * 100))
        print("model written to \(out)")
    }
}
