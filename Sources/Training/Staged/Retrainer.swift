import Foundation
import Neural

/// Promotion gates: what a challenger must show on the same images as the champion.
public struct Gates: Equatable, Sendable {
    /// Per defect kind, the challenger's stage-1 catch rate may be this much below the champion's.
    public var recallTolerance = 0.02
    /// Upper end of the 95% interval of the escape rate must stay at or below this.
    public var maxEscapeRate = 0.05
    /// Share of good parts failed must stay at or below this.
    public var maxFalseRejectRate = 0.05
    public init() {}
}

/// One model judged on the gate set at its own thresholds and temperature.
public struct GateFigures: Codable, Equatable, Sendable {
    public var escapeRate: Double
    public var escapeUpper95: Double
    public var falseRejectRate: Double
    /// Per defect kind: share of defective parts with that kind scored above the pass threshold.
    public var catchRate: [String: Double]
    public var images: Int
}

/// A gate and how the challenger did against it.
public struct GateCheck: Codable, Equatable, Sendable {
    public var gate: String
    public var passed: Bool
    public var detail: String
}

/// Warm-starts a challenger from the stage-1 champion on new labeled images plus a bounded
/// replay of older data, recalibrates it, picks its thresholds, and judges champion and
/// challenger on the same gate set (golden set + the new validation images).
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
        public var gates = Gates()
        public var checkpoint: String?
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
        public var checks: [GateCheck]
        public var passed: Bool { checks.allSatisfy(\.passed) }
        public var counts: (new: Int, replay: Int, gate: Int)
        public var dataHash: String
    }

    public var onBatch: ((BatchProgress) -> Void)?
    public var onEpoch: ((EpochReport) -> Void)?
    public var onStep: ((String) -> Void)?

    public init() {}

    public func run(_ inp: Inputs) throws -> Outcome {
        let (net, meta) = try ModelFile.load(path: inp.championPath)  // the copy that is fine-tuned
        let (championNet, _) = try ModelFile.load(path: inp.championPath)  // the champion as it is
        let shape = meta.spec.input
        let pass = inp.options.passClass
        let (fresh, replay) = try Self.gather(inp)
        onStep?("loading \(fresh.count) new images, \(replay.count) replayed and \(inp.golden.count) golden")
        let newLoaded = try ImageFolder.load(inp.newData, fresh, shape: shape, workers: Compute.current().threads)
        let replayLoaded = try ImageFolder.load("", replay, shape: shape, workers: Compute.current().threads)
        let goldenLoaded = try ImageFolder.load("", inp.golden, shape: shape, workers: Compute.current().threads)
        let newTrain = newLoaded.kept.indices.filter { ImageFolder.bucket(newLoaded.kept[$0].file) <= 7 }
        let newVal = newLoaded.kept.indices.filter { ImageFolder.bucket(newLoaded.kept[$0].file) > 7 }
        let classes = meta.classes
        let passIndex = Int32(classes.firstIndex(of: pass) ?? 0)
        func dataset(_ l: (pixels: [UInt8], kept: [LabeledImage], skipped: [String]), _ idx: [Int]) -> ImageDataset {
            let all = ImageDataset(shape: shape, classNames: classes, pixels: l.pixels, labels: l.kept.map { $0.defects.isEmpty ? passIndex : 1 - passIndex })
            return all.subset(idx)
        }
        let train = dataset(newLoaded, newTrain).appending(dataset(replayLoaded, Array(replayLoaded.kept.indices)))
        let newValSet = dataset(newLoaded, newVal)
        let gateSet = dataset(goldenLoaded, Array(goldenLoaded.kept.indices)).appending(newValSet)
        let gateItems = goldenLoaded.kept + newVal.map { newLoaded.kept[$0] }

        // Fine-tune a copy of the champion at the low fine-tuning rate.
        onStep?("fine-tuning the champion on \(train.count) images (\(newTrain.count) new, \(replayLoaded.kept.count) replayed)")
        var config = TrainingConfig.inspection(epochs: inp.epochs, batchSize: inp.options.batchSize, learningRate: inp.options.fineTuneLearningRate,
                                               channels: shape.channels, seed: inp.options.seed, loss: .crossEntropy(labelSmoothing: 0.05))
        config.normalization = Normalization(mean: meta.normalization.mean, std: meta.normalization.std)
        config.balancedSampling = true
        let trainer = try Trainer(network: net, config: config, train: train, validation: newValSet.count > 0 ? newValSet : nil)
        trainer.checkpointPath = inp.checkpoint
        trainer.onBatch = onBatch
        trainer.onEpoch = onEpoch
        _ = try trainer.run()

        // Recalibrate and pick thresholds on the new validation images (the golden set only judges).
        // Calibration and thresholds need both good and defective parts: new labels are often
        // all of one kind (a batch of a rare defect), and then the gate set stands in.
        let newGood = newValSet.labels.filter { $0 == passIndex }.count
        let calib = newGood >= 10 && newValSet.count - newGood >= 10 ? newValSet : gateSet
        let calibLogits = logits(net, on: calib, normalization: config.normalization, flipAverage: meta.flipAverage == true)
        let temperature = TemperatureScaling.fit(calibLogits, calib.labels)
        let scores = split(calibLogits, calib.labels, temperature, passIndex)
        let t = PickedThresholds.pick(defectScores: scores.defect, goodScores: scores.good,
                                      targetRecall: inp.options.targetRecall, failBudget: inp.options.failBudget)
        var newMeta = meta
        newMeta.temperature = temperature
        newMeta.thresholds["pass"] = t.pass
        newMeta.thresholds["fail"] = t.fail

        // Champion and challenger on the same gate set.
        let championFigures = try figures(championNet, meta, gateSet, gateItems, passIndex)
        let candidateFigures = try figures(net, newMeta, gateSet, gateItems, passIndex)
        let checks = Self.check(champion: championFigures, challenger: candidateFigures, gates: inp.gates)
        let hash = StagedTrainer.dataHash(fresh + replay)
        newMeta.provenance = .init(created: ISO8601DateFormatter().string(from: Date()), dataHash: hash, parent: nil, metrics: [
            "gate.escape_rate": candidateFigures.escapeRate, "gate.escape_upper95": candidateFigures.escapeUpper95,
            "gate.false_reject_rate": candidateFigures.falseRejectRate,
        ], notes: "retrained from the champion on \(fresh.count) new + \(replay.count) replayed images, \(inp.epochs) epochs")
        return Outcome(challenger: TrainedStage(network: net, metadata: newMeta), champion: championFigures,
                       candidate: candidateFigures, checks: checks, counts: (fresh.count, replay.count, gateSet.count), dataHash: hash)
    }

    /// The new labeled images (golden ones left out) and the replay sample of older data.
    static func gather(_ inp: Inputs) throws -> (fresh: [LabeledImage], replay: [LabeledImage]) {
        let pass = inp.options.passClass
        let goldenFiles = Set(inp.golden.map(\.file))
        let root = URL(fileURLWithPath: inp.newData).standardizedFileURL.path
        let fresh = try ImageFolder.scan(inp.newData, passClass: pass).filter { !goldenFiles.contains(root + "/" + $0.file) }
        guard !fresh.isEmpty else { throw TrainingError.dataset(path: inp.newData, reason: "no new labeled images (the golden set is never trained on)") }
        var replay: [LabeledImage] = []
        if let dir = inp.replayData, dir != root, let old = try? ImageFolder.scan(dir, passClass: pass) {
            let dirRoot = URL(fileURLWithPath: dir).standardizedFileURL.path
            replay = old.filter { ImageFolder.bucket($0.file) <= 6 && !goldenFiles.contains(dirRoot + "/" + $0.file) }
                .sorted { ImageFolder.bucketHash($0.file) < ImageFolder.bucketHash($1.file) }
                .prefix(inp.replayCount).map { LabeledImage(file: dirRoot + "/" + $0.file, label: $0.label, defects: $0.defects) }
        }
        return (fresh, replay)
    }

    /// The gates, each with the figures that decided it.
    public static func check(champion c: GateFigures, challenger x: GateFigures, gates g: Gates) -> [GateCheck] {
        var checks: [GateCheck] = []
        for kind in c.catchRate.keys.sorted() {
            let drop = (c.catchRate[kind] ?? 0) - (x.catchRate[kind] ?? 0)
            checks.append(GateCheck(gate: "recall \(kind)", passed: drop <= g.recallTolerance,
                                    detail: String(format: "champion %.3f, challenger %.3f (may drop %.3f, dropped %.3f)",
                                                   c.catchRate[kind] ?? 0, x.catchRate[kind] ?? 0, g.recallTolerance, max(0, drop))))
        }
        checks.append(GateCheck(gate: "escape rate", passed: x.escapeUpper95 <= g.maxEscapeRate,
                                detail: String(format: "upper 95%% bound %.4f vs target %.4f (rate %.4f; champion %.4f)",
                                               x.escapeUpper95, g.maxEscapeRate, x.escapeRate, c.escapeRate)))
        checks.append(GateCheck(gate: "false rejects", passed: x.falseRejectRate <= g.maxFalseRejectRate,
                                detail: String(format: "%.4f vs budget %.4f (champion %.4f)", x.falseRejectRate, g.maxFalseRejectRate, c.falseRejectRate)))
        return checks
    }

    private func figures(_ net: Network, _ meta: ModelMetadata, _ data: ImageDataset, _ items: [LabeledImage], _ passIndex: Int32) throws -> GateFigures {
        let norm = Normalization(mean: meta.normalization.mean, std: meta.normalization.std)
        let z = logits(net, on: data, normalization: norm, flipAverage: meta.flipAverage == true)
        let t = meta.temperature ?? 1
        let pass = meta.thresholds["pass"] ?? 0.3, fail = meta.thresholds["fail"] ?? 0.7
        var escapes = 0, defective = 0, rejects = 0, good = 0
        var caught: [String: (Int, Int)] = [:]
        for (i, item) in items.enumerated() {
            let p = defectProbability(z[i], t, passIndex)
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

    private func split(_ z: [[Float]], _ labels: [Int32], _ t: Double, _ passIndex: Int32) -> (defect: [Double], good: [Double]) {
        var d: [Double] = [], g: [Double] = []
        for (row, l) in zip(z, labels) {
            let p = defectProbability(row, t, passIndex)
            if l == passIndex { g.append(p) } else { d.append(p) }
        }
        return (d, g)
    }

    private func defectProbability(_ z: [Float], _ t: Double, _ passIndex: Int32) -> Double {
        let s = z.map { Double($0) / t }
        let m = s.max() ?? 0
        let e = s.map { exp($0 - m) }
        return 1 - e[Int(passIndex)] / e.reduce(0, +)
    }
}
