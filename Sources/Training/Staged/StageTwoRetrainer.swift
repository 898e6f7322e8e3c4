import Foundation
import Neural

/// Warm-starts a stage-2 challenger (multi-label defect kinds) from its champion on the new
/// defective parts (plus as many good ones) and the replay sample, and measures per-kind
/// recall of champion and challenger on the same gate images (golden + new validation);
/// `Gates` in Lifecycle/Promotion.swift decides on them.
public final class StageTwoRetrainer {
    /// A kind stage 2 does not know is learned (its head grown for it) once the new labels
    /// have at least this many parts of it; until then stage 1 fails such parts.
    public static let newKindMinimum = 5

    public struct Outcome {
        public var challenger: TrainedStage
        /// Per defect kind the champion knows, on the gate images: each model's recall and precision at its threshold.
        public var kinds: [KindGateFigures]
        /// The kinds this round taught stage 2, on their own held-out labels.
        public var newKinds: [NewKindFigures] = []
        /// Kinds in the new labels stage 2 does not learn this round: how many parts there are and why.
        public var waiting: [WaitingKind] = []
        /// Macro-F1 over the kinds on the gate images, each model at its thresholds (reported, not a gate).
        public var championMacroF1: Double
        public var challengerMacroF1: Double
    }

    public var onBatch: ((BatchProgress) -> Void)?
    public var onEpoch: ((EpochReport) -> Void)?

    public init() {}

    /// `inp.championPath` here is the stage-2 champion's file. Load, grow the head for new
    /// kinds, fine-tune, re-pick the thresholds, measure both models on the gate images: the
    /// steps below, top to bottom.
    public func run(_ inp: Retrainer.Inputs) throws -> Outcome {
        let (championNet, meta) = try ModelFile.load(path: inp.championPath)
        guard meta.task == .multilabel else { throw TrainingError.invalidConfig("stage-2 retraining needs a multi-label champion") }
        let d = try load(inp, meta)
        let old = meta.classes.count, kinds = d.kinds
        let normalization = Normalization(mean: meta.normalization.mean, std: meta.normalization.std)
        let perKind = meta.perKindDefectThresholds, flat = meta.thresholds["defect"] ?? 0.5
        let thresholds = meta.classes.map { perKind[$0] ?? flat }
        // the champion knows only its own kinds: it is scored on those
        let champion = d.validation.count > 0 ? scores(championNet, d.validation.knowing(old), normalization, thresholds) : nil
        // the challenger: a copy of the champion, its head grown when new kinds come (growHead only reads its source)
        let (net, spec) = kinds.count > old ? try growHead(championNet, spec: meta.spec, to: kinds.count, seed: inp.options.seed)
            : (try ModelFile.load(path: inp.championPath).network, meta.spec)
        try fineTune(net, d, normalization, inp)
        let start = thresholds + [Double](repeating: 0.5, count: kinds.count - old)
        var challengerThresholds = Self.pickThresholds(net, start, champion, d.validation, normalization)
        if kinds.count > old { Self.pickNewKindThresholds(&challengerThresholds, from: old, net, d.train, normalization) }
        let before = scores(championNet, d.gate.knowing(old), normalization, thresholds)
        let after = scores(net, d.gate, normalization, challengerThresholds)
        let present = (0..<old).filter { k in d.gate.multiLabels!.contains { $0 & (1 << UInt32(k)) != 0 } }
        let figures = present.map { k in
            KindGateFigures(kind: kinds[k], championRecall: before.recall[k], championThreshold: thresholds[k], championPrecision: before.precision[k],
                            challengerRecall: after.recall[k], challengerThreshold: challengerThresholds[k], challengerPrecision: after.precision[k])
        }
        let learned = (old..<kinds.count).map { k in
            let has = { (m: UInt32) in m & (1 << UInt32(k)) != 0 }
            return NewKindFigures(kind: kinds[k], trained: d.train.multiLabels!.filter(has).count, heldOut: d.gate.multiLabels!.filter(has).count,
                                  recall: after.recall[k], precision: after.precision[k], threshold: challengerThresholds[k])
        }
        var newMeta = meta
        newMeta.spec = spec
        newMeta.classes = kinds
        newMeta.quantization = nil   // new weights: an int8 champion's ranges do not fit them
        for (k, name) in kinds.enumerated() { newMeta.thresholds["defect.\(name)"] = challengerThresholds[k] }
        let metrics = figures.map { ("gate.recall.\($0.kind)", $0.challengerRecall) } + learned.map { ("gate.recall.\($0.kind)", $0.recall) }
        let grew = learned.isEmpty ? "" : "; learned new kinds \(learned.map(\.kind).joined(separator: ", "))"
        newMeta.provenance = .init(created: ISO8601DateFormatter().string(from: Date()), dataHash: StagedTrainer.dataHash(d.fresh + d.replay),
                                   metrics: Dictionary(uniqueKeysWithValues: metrics),
                                   notes: "stage 2 retrained from the champion (\(inp.options.retrainStageTwo.summary)) on \(d.fresh.count) new + \(d.replay.count) replayed images\(grew)")
        return Outcome(challenger: TrainedStage(network: net, metadata: newMeta), kinds: figures, newKinds: learned, waiting: d.waiting,
                       championMacroF1: before.macroF1, challengerMacroF1: after.macroF1)
    }

    /// A round's stage-2 images at the champion's input (defective parts plus as many good
    /// ones each): training (new 8:2 split + replay), the gate images (golden + new
    /// validation) and validation (new + the first training's). `kinds`: the champion's
    /// followed by the new kinds learned this round.
    struct RoundData {
        var fresh: [LabeledImage], replay: [LabeledImage]
        var train: ImageDataset, gate: ImageDataset, validation: ImageDataset
        var kinds: [String]
        var waiting: [WaitingKind]
    }

    func load(_ inp: Retrainer.Inputs, _ meta: ModelMetadata) throws -> RoundData {
        let shape = meta.spec.input
        var (fresh, replay) = try Retrainer.gather(inp)
        replay = Self.withEveryOldDefect(replay, inp)
        // Kinds the champion does not know: reviewers' named ones may be learned; the parts of
        // the others are defects to stage 1 only.
        var waiting: [WaitingKind] = []
        let unknown = Set(fresh.flatMap(\.defects)).subtracting(meta.classes)
        let twin = { (k: String) in meta.classes.first { $0 != k && $0.lowercased() == k.lowercased() } }
        let candidates = inp.namedKinds.filter { unknown.contains($0) && twin($0) == nil }
        for k in unknown.subtracting(candidates).sorted() {
            let why = twin(k).map { "differs from the kind \($0) only in case" }
                ?? "not a named kind (confirm it with `linesight label ... --new-kind \(k)`)"
            waiting.append(WaitingKind(kind: k, labels: fresh.filter { $0.defects.contains(k) }.count, reason: why))
        }
        let candidateKinds = meta.classes + candidates
        let newLoaded = try ImageFolder.load(inp.newData, fresh.filter { $0.defects.allSatisfy(candidateKinds.contains) }, shape: shape,
                                             workers: Compute.current().threads)
        // Counted among the images that loaded and that stage 2 can use (every kind on them
        // learned): leaving out one kind can leave another short, so count until it settles.
        // Oldest named first, as many as fit in 32.
        var learnable = candidates, left: [String: WaitingKind] = [:]
        while true {
            let usable = newLoaded.kept.filter { $0.defects.allSatisfy { meta.classes.contains($0) || learnable.contains($0) } }
            var keep: [String] = []
            for k in learnable {
                let n = usable.filter { $0.defects.contains(k) }.count
                if n < Self.newKindMinimum {
                    left[k] = WaitingKind(kind: k, labels: n, reason: "stage 2 learns a kind from \(Self.newKindMinimum) labelled parts")
                } else if meta.classes.count + keep.count >= 32 {
                    left[k] = WaitingKind(kind: k, labels: n, reason: "stage 2 holds at most 32 kinds")
                } else {
                    keep.append(k)
                }
            }
            if keep == learnable { break }
            learnable = keep
        }
        waiting += candidates.compactMap { left[$0] }.filter { !learnable.contains($0.kind) }
        let kinds = meta.classes + learnable
        let known = { (items: [LabeledImage]) in items.filter { $0.defects.allSatisfy(kinds.contains) } }
        let replayLoaded = try ImageFolder.load("", known(replay), shape: shape, workers: Compute.current().threads)
        let goldenLoaded = try ImageFolder.load("", known(inp.golden), shape: shape, workers: Compute.current().threads)
        func dataset(_ l: (pixels: [UInt8], kept: [LabeledImage], skipped: [String]), _ idx: [Int]) -> ImageDataset {
            let masks = l.kept.map { $0.defects.reduce(UInt32(0)) { m, k in kinds.firstIndex(of: k).map { m | (1 << UInt32($0)) } ?? m } }
            let all = ImageDataset(shape: shape, classNames: kinds, pixels: l.pixels, labels: masks.map { $0 == 0 ? 0 : 1 }, multiLabels: masks)
            return all.subset(StagedRecipe.stageTwoPicks(idx, defective: { masks[$0] != 0 }, file: { l.kept[$0].file }))
        }
        // a part of a kind not learned this round is neither good nor of a known kind: left out
        let files = newLoaded.kept.map(\.file)
        let learns = { (i: Int) in newLoaded.kept[i].defects.allSatisfy(kinds.contains) }
        let (newTrain, newVal) = Self.holdingOut(learnable, train: StagedRecipe.indices(files, in: StagedRecipe.retrainTrainBuckets).filter(learns),
                                                 validation: StagedRecipe.indices(files, in: StagedRecipe.retrainValidationBuckets).filter(learns), newLoaded.kept)
        let train = dataset(newLoaded, newTrain).appending(dataset(replayLoaded, Array(replayLoaded.kept.indices)))
        let gate = dataset(goldenLoaded, Array(goldenLoaded.kept.indices)).appending(dataset(newLoaded, newVal))
        guard train.multiLabels!.contains(where: { $0 != 0 }) else {
            throw TrainingError.dataset(path: inp.newData, reason: "no defective parts of known kinds to retrain stage 2 on")
        }
        // Validation never trained on: the new images' split plus the first training's
        // validation split, so the kinds this round does not bring are watched too. It picks
        // the best epoch and the challenger's thresholds; the gate images only judge.
        // A new kind's held-out parts only judge it: they pick no epoch and no threshold (its
        // threshold is picked on its training parts), so its gate is not judged on what tuned it.
        let oldValLoaded = try ImageFolder.load("", known(Self.oldValidation(inp)), shape: shape, workers: Compute.current().threads)
        let tuning = newVal.filter { !newLoaded.kept[$0].defects.contains(where: learnable.contains) }
        let valSet = dataset(newLoaded, tuning).appending(dataset(oldValLoaded, Array(oldValLoaded.kept.indices)))
        return RoundData(fresh: fresh, replay: replay, train: train, gate: gate, validation: valSet, kinds: kinds, waiting: waiting)
    }

    /// The new labels' 8:2 split, moved so each new kind has parts on both sides: its own
    /// held-out labels judge it, and it must have some to learn from. The part moved is
    /// the one nearest the split's edge (by the split's hash), so the split stays stable.
    static func holdingOut(_ newKinds: [String], train: [Int], validation: [Int], _ items: [LabeledImage]) -> (train: [Int], validation: [Int]) {
        var (train, validation) = (train, validation)
        let hash = { (i: Int) in ImageFolder.bucketHash(items[i].file) }
        for kind in newKinds {
            let has = { (i: Int) in items[i].defects.contains(kind) }
            if !validation.contains(where: has), let i = train.filter(has).max(by: { hash($0) < hash($1) }) {
                train.removeAll { $0 == i }
                validation.append(i)
            } else if !train.contains(where: has), let i = validation.filter(has).min(by: { hash($0) < hash($1) }) {
                validation.removeAll { $0 == i }
                train.append(i)
            }
        }
        return (train, validation)
    }

    /// Fine-tunes `net` (a copy of the champion) with stage 2's recipe: only its head at the
    /// head rate, or every layer at the fine-tuning rate (`StageTwoRetraining`).
    func fineTune(_ net: Network, _ d: RoundData, _ normalization: Normalization, _ inp: Retrainer.Inputs) throws {
        let way = inp.options.retrainStageTwo
        var config = TrainingConfig.stageTwo(epochs: inp.epochs, batchSize: inp.options.batchSize,
                                             learningRate: way == .head ? inp.options.headLearningRate : inp.options.fineTuneLearningRate,
                                             channels: d.train.shape.channels, seed: inp.options.seed,
                                             weights: StagedRecipe.positiveWeights(d.train.multiLabels!, kinds: d.train.classNames.count))
        config.normalization = normalization
        config.augmentation = StagedRecipe.augmentation(for: net.spec)
        if way == .head { config.trainOnly = headParameterNames(net) }
        try StageProgress(onBatch: onBatch, onEpoch: onEpoch).train(net, config, train: d.train, validation: d.validation,
                                                                   checkpoint: inp.checkpoint.map { Self.checkpoint($0, way) })
    }

    /// The challenger's thresholds re-picked on the validation images: only thresholds that
    /// hold the champion's recall on those same images compete on F1 (left free, the F1 pick
    /// trades the old kinds' recall for precision). A kind with no validation image keeps
    /// the champion's threshold; a new kind's competes on F1.
    private static func pickThresholds(_ net: Network, _ thresholds: [Double], _ champion: MultiLabelScores?,
                                       _ valSet: ImageDataset, _ norm: Normalization) -> [Double] {
        guard let champion, let masks = valSet.multiLabels else { return thresholds }
        let ev = evaluateMultiLabel(net, on: valSet, normalization: norm, keepProbabilities: true)
        // a new kind has no champion recall to hold: its threshold competes on F1 alone
        let floor = champion.recall + [Double](repeating: 0, count: max(0, thresholds.count - champion.recall.count))
        let picked = MultiLabelScores.pick(ev.probabilities, masks, classes: thresholds.count, recallFloor: floor)
        var mine = thresholds
        for k in thresholds.indices where masks.contains(where: { $0 & (1 << UInt32(k)) != 0 }) { mine[k] = picked[k] }
        return mine
    }

    /// A new kind's threshold: its held-out parts only judge it, so it is picked (for F1) on
    /// the images it was trained on. In-sample scores run high, so this errs towards a
    /// higher threshold, and the gate's recall on the held-out parts is not flattered.
    private static func pickNewKindThresholds(_ thresholds: inout [Double], from old: Int, _ net: Network, _ train: ImageDataset, _ norm: Normalization) {
        guard let masks = train.multiLabels else { return }
        let ev = evaluateMultiLabel(net, on: train, normalization: norm, keepProbabilities: true)
        let picked = MultiLabelScores.pick(ev.probabilities, masks, classes: thresholds.count)
        for k in old..<thresholds.count where masks.contains(where: { $0 & (1 << UInt32(k)) != 0 }) { thresholds[k] = picked[k] }
    }

    /// The stage-2 checkpoint file, next to the stage-1 retrain's; one per way of
    /// fine-tuning, so a run started again with the other `--stage2` starts clean.
    public static func checkpoint(_ base: String, _ way: StageTwoRetraining) -> String { base + ".stage2-" + way.rawValue }

    /// Precision, recall and F1 per kind on `data`, each kind at its threshold.
    private func scores(_ net: Network, _ data: ImageDataset, _ norm: Normalization, _ thresholds: [Double]) -> MultiLabelScores {
        let ev = evaluateMultiLabel(net, on: data, normalization: norm, keepProbabilities: true)
        return MultiLabelScores(ev.probabilities, data.multiLabels!, thresholds: thresholds)
    }

    /// Stage 2 forgets the kinds it does not see: besides the bounded replay sample, it
    /// replays every defective part of the first training's training split (never golden ones).
    static func withEveryOldDefect(_ replay: [LabeledImage], _ inp: Retrainer.Inputs) -> [LabeledImage] {
        guard let old = firstTraining(inp) else { return replay }
        var seen = Set(replay.map(\.file))
        return replay + old.filter { !$0.item.defects.isEmpty && StagedRecipe.trainBuckets.contains($0.bucket) && seen.insert($0.item.file).inserted }.map(\.item)
    }

    /// The validation split (buckets 7-8) of the data the champion line was first trained
    /// on: never trained on, never golden.
    static func oldValidation(_ inp: Retrainer.Inputs) -> [LabeledImage] {
        // New data in the same folder: its buckets 0-7 are this round's training images.
        guard let dir = inp.replayData, URL(fileURLWithPath: dir).standardizedFileURL.path != URL(fileURLWithPath: inp.newData).standardizedFileURL.path,
              let old = firstTraining(inp) else { return [] }
        return old.filter { StagedRecipe.validationBuckets.contains($0.bucket) }.map(\.item)
    }

    /// The labeled images of the first training's folder (`replayData`), golden ones left
    /// out, with absolute paths and the split bucket of their relative path.
    private static func firstTraining(_ inp: Retrainer.Inputs) -> [(item: LabeledImage, bucket: Int)]? {
        let pass = inp.options.passClass
        guard let dir = inp.replayData, let (old, folders) = try? ImageFolder.scanTree(dir, passClass: pass == "good" ? nil : pass) else { return nil }
        let root = URL(fileURLWithPath: dir).standardizedFileURL.path
        let goldenFiles = Set(inp.golden.map(\.file))
        return old.compactMap { item in
            let file = root + "/" + item.file
            guard !goldenFiles.contains(file) else { return nil }
            return (LabeledImage(file: file, label: item.label, defects: item.defects), ImageFolder.bucket(item.file, in: folders))
        }
    }
}

/// A kind in a round's new labels that stage 2 does not learn this round, and why.
public struct WaitingKind: Equatable, Sendable {
    public var kind: String
    public var labels: Int
    public var reason: String
}

/// A kind a retraining round taught stage 2, judged on its own held-out labels.
public struct NewKindFigures: Equatable, Sendable {
    public var kind: String
    /// Its labelled parts trained on, and held out (on the gate images).
    public var trained: Int
    public var heldOut: Int
    /// The challenger's recall and precision of it on the gate images, at its threshold.
    public var recall: Double
    public var precision: Double
    public var threshold: Double

    public init(kind: String, trained: Int, heldOut: Int, recall: Double, precision: Double, threshold: Double) {
        (self.kind, self.trained, self.heldOut, self.recall, self.precision, self.threshold) = (kind, trained, heldOut, recall, precision, threshold)
    }
}

/// One defect kind on the gate images: stage 2's recall and precision at its threshold,
/// champion and challenger.
public struct KindGateFigures: Equatable, Sendable {
    public var kind: String
    public var championRecall: Double
    public var championThreshold: Double
    public var championPrecision: Double
    public var challengerRecall: Double
    public var challengerThreshold: Double
    public var challengerPrecision: Double

    public init(kind: String, championRecall: Double, championThreshold: Double, championPrecision: Double,
                challengerRecall: Double, challengerThreshold: Double, challengerPrecision: Double) {
        (self.kind, self.championRecall, self.championThreshold, self.championPrecision) = (kind, championRecall, championThreshold, championPrecision)
        (self.challengerRecall, self.challengerThreshold, self.challengerPrecision) = (challengerRecall, challengerThreshold, challengerPrecision)
    }
}
