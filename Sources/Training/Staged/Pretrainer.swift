import Foundation
import Neural

/// Self-supervised pretraining of stage 1 on unlabeled frames (`linesight pretrain`): a line
/// has plenty of frames nobody labeled, nearly all of good parts. Stage 1's network learns to
/// tell a frame as it came from a frame with a synthetic defect painted on
/// (`SyntheticDefects`: lines, blobs, dots, dents, foreign patches; CutPaste/DRAEM-style), so
/// it learns what an irregularity on this line's surfaces is before it sees one label. The
/// result is a stage-1-shaped model: `train --pretrained FILE` starts from it, and its
/// P(defect) is already an anomaly score learnt from good parts only.
///
/// One image in ten (by a hash of its path) is held out; each held-out image is judged as it
/// came and with a defect painted on, so the figure printed (the ROC AUC of telling them
/// apart) measures this task, not the line's.
public final class Pretrainer {
    public struct Result {
        public var stage: TrainedStage
        /// ROC AUC of telling held-out frames from the same frames painted with a synthetic defect.
        public var heldOutAUC: Double?
        public var trainImages: Int, heldOutImages: Int
        public var skipped: [String]
        public var size: InputSize
    }

    public let directory: String
    public let options: StagedOptions
    public var onStage: ((String) -> Void)?
    public var onLoad: ((Int, Int) -> Void)?
    public var onBatch: ((BatchProgress) -> Void)?
    public var onEpoch: ((EpochReport) -> Void)?

    /// `directory`: a folder of frames (any tree; labels are not read). `options`: the network
    /// and recipe of the stage 1 this pretrains, as `train` would be given them.
    public init(directory: String, options: StagedOptions) {
        (self.directory, self.options) = (directory, options)
    }

    public func run() throws -> Result {
        let o = options
        let items = try Self.frames(directory)
        let size = try o.inputSize ?? {
            let native = try ImageFolder.typicalSize(directory, items)
            return InputSize.fitting(width: native.width, height: native.height)
        }()
        let channels = try o.channels ?? (ImageFolder.hasColour(directory, items) ? 3 : 1)
        let shape = Shape(channels, size.height, size.width)
        onStage?("model input: \(size), \(channels == 3 ? "RGB" : "gray"); \(items.count) frames")
        let loaded = try ImageFolder.load(directory, items, shape: shape, workers: Compute.current().threads) { [onLoad] in onLoad?($0, items.count) }
        let all = ImageDataset(shape: shape, classNames: [o.passClass, "defect"], pixels: loaded.pixels, labels: loaded.kept.map { _ in 0 })
        let files = loaded.kept.map(\.file)
        let heldOut = files.indices.filter { ImageFolder.bucket(files[$0]) == Self.heldOutBucket }
        let train = all.subset(files.indices.filter { ImageFolder.bucket(files[$0]) != Self.heldOutBucket })
        guard train.count >= Self.minimumFrames else {
            throw TrainingError.dataset(path: directory, reason: "\(train.count) readable frames to learn from; pretraining needs at least \(Self.minimumFrames)")
        }
        let validation = Self.painted(all.subset(heldOut), seed: o.seed)
        var config = TrainingConfig.stageOne(epochs: o.stage1Epochs, batchSize: o.batchSize, learningRate: o.learningRate, channels: channels, seed: o.seed)
        config.syntheticDefects = SyntheticDefects(rate: Self.paintedShare)
        config.balancedSampling = false  // every frame counts as good; the painted share makes the classes
        let spec = o.networkSpec(input: shape, classes: 2)
        config.augmentation = StagedRecipe.augmentation(for: spec)
        let net = try Network(spec, seed: o.seed)
        onStage?("pretraining \(spec.name): \(train.count) frames, half of each batch painted with a synthetic defect; \(heldOut.count) held out")
        try StageProgress(onBatch: onBatch, onEpoch: onEpoch).train(net, config, train: train, validation: validation)
        let auc = validation.count == 0 ? nil : Self.auc(net, validation, config.normalization)
        var metrics: [String: Double] = [:]
        if let auc { metrics["held_out.synthetic_auc"] = auc }
        let meta = ModelMetadata(spec: spec, classes: [o.passClass, "defect"],
                                 normalization: .init(mean: config.normalization.mean, std: config.normalization.std),
                                 provenance: .init(created: ISO8601DateFormatter().string(from: Date()), dataHash: StagedTrainer.dataHash(loaded.kept),
                                                   metrics: metrics,
                                                   notes: "self-supervised pretraining (\(o.stage1Epochs) epochs): frames as they came against the same frames with a synthetic defect painted on; no labels"))
        return Result(stage: TrainedStage(network: net, metadata: meta), heldOutAUC: auc, trainImages: train.count,
                      heldOutImages: heldOut.count, skipped: loaded.skipped, size: size)
    }

    static let heldOutBucket = 9
    static let paintedShare: Float = 0.5
    public static let minimumFrames = 20

    /// Every JPEG under `dir` (any depth), labels ignored, in path order.
    static func frames(_ dir: String) throws -> [LabeledImage] {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
            throw TrainingError.dataset(path: dir, reason: "no such folder")
        }
        let files = (FileManager.default.enumerator(atPath: dir)?.compactMap { $0 as? String } ?? [])
            .filter { ImageFolder.imageExtensions.contains(($0 as NSString).pathExtension.lowercased()) }.sorted()
        guard !files.isEmpty else { throw TrainingError.dataset(path: dir, reason: "no JPEG images in it") }
        return files.map { LabeledImage(file: $0, label: "frame", defects: []) }
    }

    /// Each image as it came (label 0) and, where a visible defect could be painted, with one
    /// (label 1): the held-out task, the same at every epoch.
    static func painted(_ d: ImageDataset, seed: UInt64) -> ImageDataset {
        let per = d.shape.count
        var pixels = d.pixels, labels = [Int32](repeating: 0, count: d.count)
        var rng = SeededGenerator(seed: seed ^ 0x5EED_0F_DEFEC7)
        let kinds = SyntheticDefects.Kind.allCases, contrast = SyntheticDefects(rate: 1).minimumContrast
        for i in 0..<d.count {
            var px = Array(d.pixels[(i * per)..<((i + 1) * per)])
            let other = Array(d.pixels[(((i + 1) % d.count) * per)..<(((i + 1) % d.count + 1) * per)])
            let visible = px.withUnsafeMutableBufferPointer { p in
                other.withUnsafeBufferPointer { o in
                    paintDefect(kinds[i % kinds.count], p.baseAddress!, o.baseAddress!, d.shape, minimumContrast: contrast, &rng)
                }
            }
            guard visible else { continue }
            pixels += px
            labels.append(1)
        }
        return ImageDataset(shape: d.shape, classNames: d.classNames, pixels: pixels, labels: labels)
    }

    static func auc(_ net: Network, _ d: ImageDataset, _ norm: Normalization) -> Double? {
        let (defect, good) = StageOneCalibration.split(logits(net, on: d, normalization: norm), d.labels, temperature: 1)
        return ROC.auc(defect: defect, good: good)
    }
}
