import ArgumentParser
import Foundation
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

struct FashionMNISTCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fashion-mnist",
        abstract: "Train a classifier on Fashion-MNIST: the engine's proving ground (not an inspection model).",
        discussion: """
        Trains on the Fashion-MNIST training set (Debian package dataset-fashion-mnist) and \
        reports accuracy, macro-F1 and top-5 on its test set: small ResNet, SGD + Nesterov, \
        one-cycle, label smoothing 0.1, random crop and flips. A checkpoint is written after \
        every epoch; Ctrl-C stops after the current epoch and --resume continues the run. \
        `linesight evaluate --model FILE` judges the model again later. Inspection models are \
        trained with `linesight train --data DIR`.
          # 10 epochs into runs/fashion-mnist/model.safetensors (--out to choose)
          linesight fashion-mnist --epochs 10
          # a quick check: 1 epoch on 512 images, a light network
          linesight fashion-mnist --epochs 1 --limit 512 --test-limit 500 --arch lightnet
        """)

    @Option(help: "Folder with the dataset's IDX files.") var dataDir: String = FashionMNIST.defaultDirectory
    @Option(help: "Architecture: \(Architecture.allCases.map(\.rawValue).joined(separator: ", ")).")
    var arch: Architecture = .resnet10
    @Option(help: "Width (channels of the first stage) of the small ResNet or light net.") var width: Int?
    @Option(help: "Passes over the training set.") var epochs: Int = 10
    @Option(help: "Images per optimizer step.") var batchSize: Int = 128
    @Option(help: "Peak learning rate (default: the recipe's 0.2 for SGD, 1e-3 for Adam/AdamW).") var lr: Float?
    @Option(help: "Optimizer: sgd, adam or adamw.") var optimizer: String = "sgd"
    @Option(help: "Train on the first N training images only (quick checks).") var limit: Int?
    @Option(help: "Evaluate on the first N test images only (quick checks).") var testLimit: Int?
    @Option(help: "Seed for initialization, shuffling and augmentation.") var seed: UInt64 = 1
    @Option(help: "Where to write the model.") var out: String = "runs/fashion-mnist/model.safetensors"
    @Option(help: "Checkpoint file (default: next to --out).") var checkpoint: String?
    @Flag(help: "Continue from the checkpoint of an interrupted run with the same settings.") var resume = false
    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        guard epochs >= 1 else { throw ValidationError("--epochs must be at least 1") }
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
        guard ["sgd", "adam", "adamw"].contains(optimizer) else { throw ValidationError("--optimizer must be sgd, adam or adamw") }
        if let width, width < 1 { throw ValidationError("--width must be positive") }
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
        if let testLimit, testLimit < 1 { throw ValidationError("--test-limit must be at least 1") }
    }

    /// The recipe with this command's batch size and optimizer.
    var trainingConfig: TrainingConfig {
        var config = TrainingConfig.fashionMNIST(epochs: epochs, seed: seed)
        config.batchSize = batchSize
        switch optimizer {
        case "adam": config.optimizer = .adam(learningRate: lr ?? 1e-3, weightDecay: 0)
        case "adamw": config.optimizer = .adamW(learningRate: lr ?? 1e-3, weightDecay: 0.05)
        default: if let lr { config.optimizer = .sgd(learningRate: lr, momentum: 0.9, nesterov: true, weightDecay: 5e-4) }
        }
        return config
    }

    func run() throws {
        let logger = Logger(label: "linesight.fashion-mnist")
        let interrupt = InterruptFlag()
        interrupt.install()
        try compute.apply(logger)
        let (trainSet, testSet) = try datasets()
        let config = trainingConfig
        let spec = arch.spec(input: trainSet.shape, classes: trainSet.classNames.count, width: width)
        let network = try Network(spec, seed: seed)
        let checkpointPath = try prepareCheckpoint()
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
        try save(network, spec, trainSet, testSet, config.normalization)
    }

    private func datasets() throws -> (train: ImageDataset, test: ImageDataset) {
        var trainSet = try FashionMNIST.load(directory: dataDir, test: false)
        var testSet = try FashionMNIST.load(directory: dataDir, test: true)
        if let testLimit, testLimit < testSet.count { testSet = testSet.subset(Array(0..<testLimit)) }
        if let limit, limit < trainSet.count { trainSet = trainSet.subset(Array(0..<limit)) }
        return (trainSet, testSet)
    }

    /// The checkpoint file; removed first unless --resume.
    private func prepareCheckpoint() throws -> String {
        let outDir = URL(fileURLWithPath: out).deletingLastPathComponent().path
        try FileManager.default.createDirectory(atPath: outDir, withIntermediateDirectories: true)
        let path = checkpoint ?? outDir + "/checkpoint.safetensors"
        if !resume { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    private func save(_ network: Network, _ spec: NetworkSpec, _ trainSet: ImageDataset, _ testSet: ImageDataset, _ norm: Normalization) throws {
        let ev = evaluate(network, on: testSet, normalization: norm)
        let meta = ModelMetadata(
            spec: spec, classes: trainSet.classNames,
            normalization: .init(mean: norm.mean, std: norm.std),
            provenance: .init(created: ISO8601DateFormatter().string(from: Date()),
                              dataHash: "fashion-mnist:\(trainSet.count)", metrics: [
                                "test.accuracy": ev.accuracy, "test.macro_f1": ev.confusion.macroF1, "test.top5": ev.top5,
                              ], notes: "linesight fashion-mnist --epochs \(epochs) --arch \(arch.rawValue)"))
        try ModelFile.save(network, meta, to: out)
        print(String(format: "test accuracy %.2f%%, macro-F1 %.4f, top-5 %.2f%%", ev.accuracy * 100, ev.confusion.macroF1, ev.top5 * 100))
        print("model written to \(out)")
    }
}
