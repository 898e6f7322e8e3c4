import Foundation
import Neural

/// One model judged on the gate set at its own thresholds and temperature.
public struct GateFigures: Codable, Equatable, Sendable {
    public var escapeRate: Double
    public var escapeUpper95: Double
    public var falseRejectRate: Double
    /// Per defect kind: share of defective parts with that kind scored above the pass threshold.
    public var catchRate: [String: Double]
    public var images: Int

    public init(escapeRate: Double, escapeUpper95: Double, falseRejectRate: Double, catchRate: [String: Double], images: Int) {
        (self.escapeRate, self.escapeUpper95, self.falseRejectRate) = (escapeRate, escapeUpper95, falseRejectRate)
        (self.catchRate, self.images) = (catchRate, images)
    }
}

/// Warm-starts a challenger from the stage-1 champion on new labeled images plus a bounded
/// replay of older data, recalibrates it, picks its thresholds, and measures champion and
/// challenger on the same gate set (golden set + the new validation images). The gates
/// that decide on those figures are `Gates` in Lifecycle/Promotion.swift.
public final class Retrainer {
    public struct Inputs {
        /// The stage-1 champion's model file.
        public var championPath: String
        public var newData: String
        public var golden: [LabeledImage]
        public var replayData: String?
        public var replayCount = 500
        public var epochs = 8
        public var options = StagedOptions()
        public var checkpoint: String?
        /// The stage-2 model the line runs beside stage 1 (its file): with it, stage 1's pass
        /// and fail thresholds are picked for the line as a whole (`LineOperatingPoint`), as
        /// the first training picks them; without it, for stage 1 alone.
        public var stageTwoPath: String?
        /// Defect kinds reviewers named (oldest first): the only kinds stage 2 may learn
        /// beyond its champion's; a kind folder nobody named is a defect to stage 1 only.
        public var namedKinds: [String] = []
        public init(championPath: String, newData: String, golden: [LabeledImage]) {
            self.championPath = championPath
            self.newData = newData
            self.golden = golden
        }
    }

    public struct Outcome {
        public var challenger: TrainedStage
        public var champion: GateFigures
        public var candidate: GateFigures
        public var counts: (new: Int, replay: Int, gate: Int)
        public var dataHash: String
    }

    public var onBatch: ((BatchProgress) -> Void)?
    public var onEpoch: ((EpochReport) -> Void)?
    public var onStep: ((String) -> Void)?

    public init() {}

    /// Load, fine-tune, recalibrate, measure: the steps below, top to bottom.
    public func run(_ inp: Inputs) throws -> Outcome {
        let (net, meta) = try ModelFile.load(path: inp.championPath)  // the copy that is fine-tuned
        let (championNet, _) = try ModelFile.load(path: inp.championPath)  // the champion as it is
        let d = try load(inp, meta)
        let normalization = try fineTune(net, meta, d, inp)
        var newMeta = recalibrate(net, meta, normalization, d, inp)
        // Champion and challenger on the same gate set.
        let championFigures = try figures(championNet, meta, d.gate, d.gateItems, d.passIndex)
        let candidateFigures = try figures(net, newMeta, d.gate, d.gateItems, d.passIndex)
        let hash = StagedTrainer.dataHash(d.fresh + d.replay)
        newMeta.provenance = .init(created: ISO8601DateFormatter().string(from: Date()), dataHash: hash, parent: nil, metrics: [
            "gate.escape_rate": candidateFigures.escapeRate, "gate.escape_upper95": candidateFigures.escapeUpper95,
            "gate.false_reject_rate": candidateFigures.falseRejectRate,
        ], notes: "retrained from the champion on \(d.fresh.count) new + \(d.replay.count) replayed images, \(inp.epochs) epochs")
        return Outcome(challenger: TrainedStage(network: net, metadata: newMeta), champion: championFigures,
                       candidate: candidateFigures, counts: (d.fresh.count, d.replay.count, d.gate.count), dataHash: hash)
    }

    /// A round's images at the champion's input: the new labels split 8:2 (`StagedRecipe`),
    /// the replay sample, and the gate set (golden + new validation).
    struct RoundData {
        var fresh: [LabeledImage], replay: [LabeledImage]
        var train: ImageDataset, newValidation: ImageDataset, gate: ImageDataset
        var gateItems: [LabeledImage]
        var passIndex: Int32
        var newTrainCount: Int, replayedCount: Int
    }

    func load(_ inp: Inputs, _ meta: ModelMetadata) throws -> RoundData {
        let shape = meta.spec.input, classes = meta.classes
        let (fresh, replay) = try Self.gather(inp)
        onStep?("loading \(fresh.count) new images, \(replay.count) replayed and \(inp.golden.count) golden")
        let newLoaded = try ImageFolder.load(inp.newData, fresh, shape: shape, workers: Compute.current().threads)
        let replayLoaded = try ImageFolder.load("", replay, shape: shape, workers: Compute.current().threads)
        let goldenLoaded = try ImageFolder.load("", inp.golden, shape: shape, workers: Compute.current().threads)
        let newTrain = StagedRecipe.indices(newLoaded.kept.map(\.file), in: StagedRecipe.retrainTrainBuckets)
        let newVal = StagedRecipe.indices(newLoaded.kept.map(\.file), in: StagedRecipe.retrainValidationBuckets)
        let passIndex = Int32(classes.firstIndex(of: inp.options.passClass) ?? 0)
        func dataset(_ l: (pixels: [UInt8], kept: [LabeledImage], skipped: [String]), _ idx: [Int]) -> ImageDataset {
            let all = ImageDataset(shape: shape, classNames: classes, pixels: l.pixels, labels: l.kept.map { $0.defects.isEmpty ? passIndex : 1 - passIndex })
            return all.subset(idx)
        }
        let newValSet = dataset(newLoaded, newVal)
        return RoundData(fresh: fresh, replay: replay,
                         train: dataset(newLoaded, newTrain).appending(dataset(replayLoaded, Array(replayLoaded.kept.indices))),
                         newValidation: newValSet, gate: dataset(goldenLoaded, Array(goldenLoaded.kept.indices)).appending(newValSet),
                         gateItems: goldenLoaded.kept + newVal.map { newLoaded.kept[$0] }, passIndex: passIndex,
                         newTrainCount: newTrain.count, replayedCount: replayLoaded.kept.count)
    }

    /// Fine-tunes `net` (a copy of the champion) at the low fine-tuning rate with stage 1's
    /// recipe and the champion's normalization; returns that normalization.
    func fineTune(_ net: Network, _ meta: ModelMetadata, _ d: RoundData, _ inp: Inputs) throws -> Normalization {
        onStep?("fine-tuning the champion on \(d.train.count) images (\(d.newTrainCount) new, \(d.replayedCount) replayed)")
        var config = TrainingConfig.stageOne(epochs: inp.epochs, batchSize: inp.options.batchSize, learningRate: inp.options.fineTuneLearningRate,
                                             channels: meta.spec.input.channels, seed: inp.options.seed)
        config.normalization = Normalization(mean: meta.normalization.mean, std: meta.normalization.std)
        config.augmentation = StagedRecipe.augmentation(for: meta.spec)
        try StageProgress(onBatch: onBatch, onEpoch: onEpoch).train(net, config, train: d.train, validation: d.newValidation,
                                                                   checkpoint: inp.checkpoint)
        return config.normalization
    }

    /// The challenger's metadata: recalibrated and its thresholds picked on the new
    /// validation images (the golden set only judges). Calibration and thresholds need both
    /// good and defective parts: new labels are often all of one kind (a batch of a rare
    /// defect), and then the gate set stands in.
    func recalibrate(_ net: Network, _ meta: ModelMetadata, _ norm: Normalization, _ d: RoundData, _ inp: Inputs) -> ModelMetadata {
        let newGood = d.newValidation.labels.filter { $0 == d.passIndex }.count
        let calib = newGood >= 10 && d.newValidation.count - newGood >= 10 ? d.newValidation : d.gate
        let calibLogits = logits(net, on: calib, normalization: norm, flipAverage: meta.flipAverage == true)
        let fit = StageOneCalibration.fit(calibLogits, calib.labels, passIndex: d.passIndex,
                                          targetRecall: inp.options.targetRecall, failBudget: inp.options.failBudget)
        var t = fit.thresholds
        let stage1 = calibLogits.map { StageOneCalibration.defectProbability($0, temperature: fit.temperature, passIndex: d.passIndex) }
        if let path = inp.stageTwoPath {
            do {
                if let line = try Self.lineThresholds(stageTwo: path, calib, stage1: stage1, passIndex: d.passIndex, targetRecall: inp.options.targetRecall) {
                    t = line
                } else {
                    onStep?("stage 2 takes another input than stage 1: the pass and fail thresholds are picked for stage 1 alone")
                }
            } catch {
                onStep?("stage 2 could not be read (\(error)): the pass and fail thresholds are picked for stage 1 alone")
            }
        }
        let temperature = fit.temperature
        var newMeta = meta
        // new weights: an int8 champion's ranges do not fit them (the challenger is fp32 until quantized again)
        newMeta.quantization = nil
        newMeta.temperature = temperature
        newMeta.thresholds["pass"] = t.pass
        newMeta.thresholds["fail"] = t.fail
        // the drift watch's reference: what this round trained on (the line as it is now)
        newMeta.inputReference = InputReference.measure(d.train, goodScores: zip(stage1, calib.labels).filter { $0.1 == d.passIndex }.map(\.0),
                                                        goodEmbeddings: goodEmbeddings(net, calib, Int(d.passIndex), norm, meta.flipAverage == true))
        return newMeta
    }

    /// Stage 1's pass and fail thresholds for the line as a whole: the parts between them go
    /// to the stage-2 model at `path`, at its own per-kind thresholds, as the daemon decides
    /// (`LineOperatingPoint`, no floor: the kind thresholds are stage 2's to keep). Nil when
    /// stage 2 is not a multi-label model of stage 1's input.
    static func lineThresholds(stageTwo path: String, _ calib: ImageDataset, stage1: [Double], passIndex: Int32,
                               targetRecall: Double) throws -> PickedThresholds? {
        try LiveStageTwo(path: path, input: calib.shape)?.pick(calib, stage1: stage1, passIndex: passIndex, targetRecall: targetRecall).thresholds
    }

    /// The new labeled images (golden ones left out) and the replay sample of older data.
    static func gather(_ inp: Inputs) throws -> (fresh: [LabeledImage], replay: [LabeledImage]) {
        let pass = inp.options.passClass
        let goldenFiles = Set(inp.golden.map(\.file))
        let root = URL(fileURLWithPath: inp.newData).standardizedFileURL.path
        let fresh = try ImageFolder.scanTree(inp.newData, passClass: pass == "good" ? nil : pass).items.filter { !goldenFiles.contains(root + "/" + $0.file) }
        guard !fresh.isEmpty else { throw TrainingError.dataset(path: inp.newData, reason: "no new labeled images (the golden set is never trained on)") }
        var replay: [LabeledImage] = []
        if let dir = inp.replayData, dir != root, let (old, folders) = try? ImageFolder.scanTree(dir, passClass: pass == "good" ? nil : pass) {
            let dirRoot = URL(fileURLWithPath: dir).standardizedFileURL.path
            replay = old.filter { StagedRecipe.trainBuckets.contains(ImageFolder.bucket($0.file, in: folders)) && !goldenFiles.contains(dirRoot + "/" + $0.file) }
                .sorted { ImageFolder.bucketHash($0.file) < ImageFolder.bucketHash($1.file) }
                .prefix(inp.replayCount).map { LabeledImage(file: dirRoot + "/" + $0.file, label: $0.label, defects: $0.defects) }
        }
        return (fresh, replay)
    }

    private func figures(_ net: Network, _ meta: ModelMetadata, _ data: ImageDataset, _ items: [LabeledImage], _ passIndex: Int32) throws -> GateFigures {
        let norm = Normalization(mean: meta.normalization.mean, std: meta.normalization.std)
        // an int8 champion is judged as the daemon runs it
        let z = try meta.quantization.map { try Quantizer.int8Logits(net, $0, data, norm, flipAverage: meta.flipAverage == true) }
            ?? logits(net, on: data, normalization: norm, flipAverage: meta.flipAverage == true)
        return GateFigures.measure(z, meta, items, passIndex)
    }
}

extension GateFigures {
    /// Stage 1's gate figures from its logits on the gate images, at the model's thresholds:
    /// escapes (defective parts at or under the pass threshold), false rejects (good parts at
    /// or over the fail threshold), each kind's catch rate.
    public static func measure(_ z: [[Float]], _ meta: ModelMetadata, _ items: [LabeledImage], _ passIndex: Int32) -> GateFigures {
        let t = meta.temperature ?? 1
        let pass = meta.thresholds["pass"] ?? 0.3, fail = meta.thresholds["fail"] ?? 0.7
        var escapes = 0, defective = 0, rejects = 0, good = 0
        var caught: [String: (Int, Int)] = [:]
        for (i, item) in items.enumerated() {
            let p = StageOneCalibration.defectProbability(z[i], temperature: t, passIndex: passIndex)
            if item.defects.isEmpty {
                good += 1
                if p >= fail { rejects += 1 }
            } else {
                defective += 1
                if p <= pass { escapes += 1 }
                for k in Set(item.defects) { caught[k, default: (0, 0)].1 += 1; if p > pass { caught[k]!.0 += 1 } }
            }
        }
        return GateFigures(escapeRate: defective == 0 ? 0 : Double(escapes) / Double(defective), escapeUpper95: wilson(escapes, defective)[1],
                           falseRejectRate: good == 0 ? 0 : Double(rejects) / Double(good),
                           catchRate: caught.mapValues { Double($0.0) / Double(max(1, $0.1)) }, images: items.count)
    }
}
