import Foundation
import Neural

/// Finds labels that are probably wrong: every labeled image gets a stage-1 defect
/// probability from a model that never saw it (k-fold, out-of-fold predictions), and a
/// label that this probability confidently contradicts is a suspect.
///
/// Each fold trains a fresh network with the stage-1 champion's architecture and input
/// (never its weights: the champion may have learned the very labels under audit) on the
/// other folds, with the stage-1 recipe (balanced sampling, light label smoothing), then
/// scores its own fold with a temperature fitted on a held-out part of the training folds.
public final class LabelAuditor {
    public struct Inputs {
        /// The stage-1 champion: its architecture, input size and normalization are used.
        public var championPath: String
        /// Absolute paths and labels.
        public var items: [LabeledImage]
        public var folds = 5
        public var epochs = 12
        /// A good part with P(defect) at or above this, or a defective one at or below 1 - this, is suspect.
        public var confidence = 0.9
        public var options = StagedOptions()
        public init(championPath: String, items: [LabeledImage]) {
            self.championPath = championPath
            self.items = items
        }
    }

    /// One image and what a model that never saw it thinks.
    public struct Finding: Equatable, Sendable {
        public var item: LabeledImage
        public var fold: Int
        /// Calibrated out-of-fold P(defect).
        public var defectProbability: Double
        public var suspect: Bool
        /// "labeled good, P(defect) 0.97" or "labeled scratch, P(defect) 0.03".
        public var reason: String
    }

    public var onStep: ((String) -> Void)?
    public var onBatch: ((BatchProgress) -> Void)?
    public var onEpoch: ((EpochReport) -> Void)?

    public init() {}

    /// The fold of a file: stable under added data (a hash of its name), independent of the
    /// 7:2:1 split. Only the file name counts, so moving the data or relabeling a file into
    /// another class folder keeps its fold.
    public static func fold(_ file: String, of k: Int) -> Int { Int((ImageFolder.bucketHash(name(file)) / 10) % UInt64(k)) }

    /// Images that calibrate a fold's temperature (a tenth, by name), never trained on.
    static func calibrates(_ file: String) -> Bool { ImageFolder.bucket(name(file)) == 9 }

    private static func name(_ file: String) -> String { file.split(separator: "/").last.map(String.init) ?? file }

    public func run(_ inp: Inputs) throws -> (findings: [Finding], skipped: [String]) {
        let (_, meta) = try ModelFile.load(path: inp.championPath)
        let shape = meta.spec.input
        guard inp.folds >= 2 else { throw TrainingError.dataset(path: "audit", reason: "at least 2 folds are needed") }
        onStep?("loading \(inp.items.count) labeled images at \(shape.channels)x\(shape.height)x\(shape.width)")
        let loaded = try ImageFolder.load("", inp.items, shape: shape, workers: Compute.current().threads)
        let kept = loaded.kept
        let goods = kept.filter { $0.defects.isEmpty }.count
        guard goods >= inp.folds, kept.count - goods >= inp.folds else {
            throw TrainingError.dataset(path: "audit", reason: "need at least \(inp.folds) good and \(inp.folds) defective labeled images (have \(goods) and \(kept.count - goods))")
        }
        let all = ImageDataset(shape: shape, classNames: [inp.options.passClass, "defect"], pixels: loaded.pixels,
                               labels: kept.map { $0.defects.isEmpty ? 0 : 1 })
        let foldOf = kept.map { Self.fold($0.file, of: inp.folds) }
        var findings = [Finding?](repeating: nil, count: kept.count)
        for k in 0..<inp.folds {
            let test = kept.indices.filter { foldOf[$0] == k }
            guard !test.isEmpty else { continue }
            let rest = kept.indices.filter { foldOf[$0] != k }
            // A tenth of the other folds calibrates the temperature (never the fold under audit).
            let calib = rest.filter { Self.calibrates(kept[$0].file) }
            let train = rest.filter { !Self.calibrates(kept[$0].file) }
            onStep?("fold \(k + 1)/\(inp.folds): training on \(train.count) images, scoring \(test.count)")
            // Small label sets still get enough steps: at least ~16 batches per epoch.
            let batch = min(inp.options.batchSize, max(8, train.count / 16))
            // Stage 1's recipe (label smoothing, balanced sampling), one seed per fold.
            var config = TrainingConfig.stageOne(epochs: inp.epochs, batchSize: batch, learningRate: inp.options.learningRate,
                                                 channels: shape.channels, seed: inp.options.seed &+ UInt64(k))
            config.normalization = Normalization(mean: meta.normalization.mean, std: meta.normalization.std)
            config.augmentation = StagedRecipe.augmentation(for: meta.spec)
            let net = try Network(meta.spec, seed: inp.options.seed &+ UInt64(k))
            try StageProgress(onBatch: onBatch, onEpoch: onEpoch).train(net, config, train: all.subset(train), validation: nil)
            let calibSet = all.subset(calib.isEmpty ? train : calib)
            let temperature = Self.trustedTemperature(logits(net, on: calibSet, normalization: config.normalization), calibSet.labels,
                                                      confidence: inp.confidence)
            let z = logits(net, on: all.subset(test), normalization: config.normalization)
            for (j, i) in test.enumerated() {
                let p = StageOneCalibration.defectProbability(z[j], temperature: temperature)
                let item = kept[i]
                let good = item.defects.isEmpty
                let suspect = good ? p >= inp.confidence : p <= 1 - inp.confidence
                let said = good ? "good" : item.defects.joined(separator: "+")
                findings[i] = Finding(item: item, fold: k, defectProbability: p, suspect: suspect,
                                      reason: String(format: "labeled %@, out-of-fold P(defect) %.3f", said, p))
            }
        }
        return (findings.compactMap { $0 }, loaded.skipped)
    }

    /// Temperature fitted on the calibration labels that are trusted: the calibration images
    /// carry wrong labels as often as the rest, and one wrong label drives a plain fit to a
    /// large temperature that squeezes every score towards the middle (and hides the very
    /// suspects the audit is after). So fit once, drop the images that fit would itself call
    /// suspect, and fit again on the others.
    static func trustedTemperature(_ z: [[Float]], _ labels: [Int32], confidence: Double) -> Double {
        let first = TemperatureScaling.fit(z, labels)
        let trusted = z.indices.filter { i in
            let p = StageOneCalibration.defectProbability(z[i], temperature: first)
            return labels[i] == 0 ? p < confidence : p > 1 - confidence
        }
        guard trusted.count >= 2, trusted.count < z.count else { return first }
        return TemperatureScaling.fit(trusted.map { z[$0] }, trusted.map { labels[$0] })
    }
}
