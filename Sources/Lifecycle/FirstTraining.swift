import Foundation
import Inspection
import Neural
import Store
import Training

/// First training of a staged model set (`linesight train --data DIR`): both stages from an
/// ImageFolder tree, the files written to a folder (stage1/stage2.safetensors, report.json,
/// test-scores.csv), and with a line's registry, the models registered and promoted and the
/// golden set frozen (`Promotion.promoteFirst`).
public final class FirstTraining {
    /// Where the models go: a plain folder, or a line's registry (a new
    /// `<models>/trained-<stamp>` folder, then registered and promoted).
    public enum Destination {
        case folder(String)
        case registry(Promotion)
    }

    /// What a first training wrote and registered.
    public struct Outcome {
        public var result: StagedResult
        public var folder: String
        public var stage1File: String
        public var stage2File: String?
        /// With a registry: the promoted versions.
        public var promoted: (stage1: ModelRecord, stage2: ModelRecord?)?
        /// With a registry: the golden set's file when this run froze it (first training only).
        public var goldenFrozen: String?
    }

    public let data: String
    public let options: StagedOptions
    public var onStage: ((String, Int, Int) -> Void)?
    public var onLoad: ((Int, Int) -> Void)?
    public var onBatch: ((BatchProgress) -> Void)?
    public var onEpoch: ((EpochReport) -> Void)?

    public init(data: String, options: StagedOptions) {
        self.data = data
        self.options = options
    }

    public func run(to destination: Destination) throws -> Outcome {
        var options = self.options
        let started = Date()
        let folder: String
        switch destination {
        case .folder(let dir): folder = dir
        case .registry(let p):
            // refused before hours of training: a live file another product owns is not this one's to replace
            try p.registry.checkWritable(.one)
            if let stage = try Self.sharedStageTwo(p.registry) { options.stageTwo = stage }
            folder = p.workPath("trained-" + Promotion.stamp())
        }
        let trainer = StagedTrainer(directory: data, options: options)
        (trainer.onStage, trainer.onLoad, trainer.onBatch, trainer.onEpoch) = (onStage, onLoad, onBatch, onEpoch)
        let r = try trainer.run()
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let s1 = folder + "/stage1.safetensors", s2 = r.stage2 == nil ? nil : folder + "/stage2.safetensors"
        try ModelFile.save(r.stage1.network, r.stage1.metadata, to: s1)
        if let stage2 = r.stage2, let s2 { try ModelFile.save(stage2.network, stage2.metadata, to: s2) }
        let report = TrainingReport(result: r, data: data, targetRecall: options.targetRecall)
        try report.json(seconds: Date().timeIntervalSince(started)).write(toFile: folder + "/report.json", atomically: true, encoding: .utf8)
        try report.testScoresCSV().write(toFile: folder + "/test-scores.csv", atomically: true, encoding: .utf8)
        if let csv = report.selfTrainingCSV() { try csv.write(toFile: folder + "/self-training.csv", atomically: true, encoding: .utf8) }
        var outcome = Outcome(result: r, folder: folder, stage1File: s1, stage2File: s2)
        guard case .registry(let promotion) = destination else { return outcome }
        outcome.promoted = try promotion.promoteFirst(stage1: s1, stage2: s2)
        let golden = promotion.golden
        if try golden.freezeIfAbsent(dataDirectory: data, items: r.testItems) { outcome.goldenFrozen = golden.path }
        return outcome
    }

    /// A stage 2 this set shares with the product that owns it (`ModelRegistry.borrowed`): a
    /// first training trains stage 1 alone and leaves that file to its owner, its thresholds
    /// picked with it when it settles the unsure parts. Nil when the set's stage 2 is its own;
    /// refused when the owner has no live stage 2 yet.
    public static func sharedStageTwo(_ registry: ModelRegistry) throws -> StagedOptions.StageTwoSource? {
        guard let owner = registry.borrowed[.two] else { return nil }
        let path = try registry.livePath(.two)
        guard FileManager.default.fileExists(atPath: path) else {
            throw LifecycleError.invalidInput("\(registry.productName) shares its stage 2, \(path), with product '\(owner)', which owns it and has not trained it yet: train '\(owner)' first (its stage 2 is then \(registry.productName)'s too), or give \(registry.productName) its own stage2 path in the config")
        }
        return .live(path: path, settlesUnsure: registry.paths.unsure == .stage2)
    }

    /// The current labels of a line's database as an ImageFolder tree for a first training
    /// (`train --labels`): a new `<models>/train-labels-<stamp>` folder each time, since the
    /// golden set and the replay of later retrains point into it.
    /// The promotion's product's frames only (`LineConfig.belongs`), into its models folder.
    public static func exportLabels(_ config: LineConfig, _ promotion: Promotion) throws -> (directory: String, report: LabelExport.Report) {
        let registry = promotion.registry
        let labels = try registry.store.currentLabels().filter { config.belongs($0.product, to: registry.product) }
        guard !labels.isEmpty else {
            throw LifecycleError.noLabels("the database \(config.database) has no labeled frames of \(registry.productName) yet: label flagged frames with `linesight review`, or train with --data DIR")
        }
        let dir = promotion.workPath("train-labels-" + Promotion.stamp())
        let n = try LabelExport.writeImageFolder(labels, frames: config.framesDirectory, to: dir, framing: .current(config.currentFraming))
        return (dir, n)
    }

    /// The frames the daemon kept that are good as far as anyone knows
    /// (`Store.framesForPretraining`), cut to the region the daemon judges, as a folder for
    /// `linesight pretrain` and `linesight quantize` beside the line's models (replaced each
    /// time): every product's, or with `product` (a registry's key, '' the `[models]` set) only
    /// the frames judged for it (`LineConfig.belongs`).
    public static func exportPretrainingFrames(_ config: LineConfig, _ store: Store, product: String? = nil) throws
        -> (directory: String, report: LabelExport.Report) {
        let frames = try store.framesForPretraining().filter { f in product.map { config.belongs(f.product, to: $0) } ?? true }
        guard !frames.isEmpty else {
            let whose = product.map { $0.isEmpty ? " of the [models] set" : " of product '\($0)'" } ?? ""
            throw LifecycleError.noLabels("the database \(config.database) keeps no frames\(whose) to learn from yet (unlabeled or labeled good): let the daemon run, or give a folder of frames instead")
        }
        let dir = (config.models.stage1 as NSString).deletingLastPathComponent + "/pretrain-frames"
        try? FileManager.default.removeItem(atPath: dir)
        let n = try LabelExport.writeImageFolder(frames, frames: config.framesDirectory, to: dir, framing: .current(config.currentFraming))
        guard n.good > 0 else {
            throw LifecycleError.noLabels("all \(n.skippedFraming) kept frames to learn from were judged with another ROI than the cameras' current ones: let the daemon run with the current ROI, or give a folder of frames instead")
        }
        return (dir, n)
    }
}
