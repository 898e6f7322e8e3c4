import Foundation
import Neural

/// A trained stage with its model-file metadata.
public struct TrainedStage {
    public var network: Network
    public var metadata: ModelMetadata
}

/// What a staged run produced and measured.
public struct StagedResult {
    public var stage1: TrainedStage
    /// Nil when the data holds no defect kinds.
    public var stage2: TrainedStage?
    public var thresholds: PickedThresholds
    /// Stage-1 softmax temperature and the validation calibration error before/after it.
    public var temperature: Double
    public var calibrationError: (before: Double, after: Double)
    /// Stage-1 figures on the validation and test splits at the picked thresholds.
    public var validation: StageOneReport
    public var test: StageOneReport
    /// Stage 2 on the test split (per-kind precision/recall at 0.5).
    public var stage2Test: MultiLabelEvaluation?
    /// Stage 2 on the test split at the per-kind thresholds picked on validation.
    public var stage2Tuned: MultiLabelScores?
    /// The whole line on the test split: stage 1, then stage 2 for the unsure parts.
    public var lineTest: LineDecisionReport?
    public var counts: (train: Int, validation: Int, test: Int)
    /// The model input used (the option's, the init model's or fitted to the images).
    public var inputSize: InputSize
    /// The test split's images: the frozen golden set a later retraining is judged on.
    public var testItems: [LabeledImage]
    /// Calibrated stage-1 P(defect) of each test image, in `testItems` order.
    public var testDefectProbabilities: [Double]
    /// Stage 2's score per kind of each test image, in `testItems` order (empty without stage 2).
    public var testKindScores: [[Float]] = []
    /// Stage 2's per-kind thresholds, in the order of its classes.
    public var kindThresholds: [Double] = []
    public var skipped: [String]
    public var imbalance: String
}

/// Trains stage 1 (pass/fail) and stage 2 (multi-label defect kinds) from an ImageFolder
/// tree: deterministic 7:2:1 split by file hash, balanced sampling for stage 1, positive
/// class weights for stage 2, thresholds picked on the validation split for the target
/// defect recall, figures on the test split.
public final class StagedTrainer {
    public let directory: String
    public let options: StagedOptions
    /// Called before each stage starts ("stage 1" / "stage 2") with its sizes.
    public var onStage: ((String, Int, Int) -> Void)?
    public var onLoad: ((Int, Int) -> Void)?
    public var onBatch: ((BatchProgress) -> Void)?
    public var onEpoch: ((EpochReport) -> Void)?

    public init(directory: String, options: StagedOptions) {
        self.directory = directory
        self.options = options
    }

    public func run() throws -> StagedResult {
        let o = options
        let items = try ImageFolder.scan(directory, passClass: o.passClass)
        let (size, source) = try resolvedInputSize(items)
        onStage?("model input: \(size)\(source)", 0, 0)
        let shape = Shape(o.channels, size.height, size.width)
        let total = items.count
        let loaded = try ImageFolder.load(directory, items, shape: shape, workers: Compute.current().threads) { [onLoad] in onLoad?($0, total) }
        let kept = loaded.kept
        guard kept.contains(where: { $0.defects.isEmpty }), kept.contains(where: { !$0.defects.isEmpty }) else {
            throw TrainingError.dataset(path: directory, reason: "stage 1 needs both good parts ('\(o.passClass)') and defective ones")
        }
        let kinds = Array(Set(kept.flatMap(\.defects))).sorted()
        guard kinds.count <= 32 else { throw TrainingError.dataset(path: directory, reason: "more than 32 defect kinds") }
        let buckets = kept.map { ImageFolder.bucket($0.file) }
        let split = { (range: ClosedRange<Int>) in buckets.indices.filter { range.contains(buckets[$0]) } }
        let (trainIdx, valIdx, testIdx) = (split(0...6), split(7...8), split(9...9))
        let all = ImageDataset(shape: shape, classNames: [o.passClass, "defect"], pixels: loaded.pixels,
                               labels: kept.map { $0.defects.isEmpty ? 0 : 1 },
                               multiLabels: kept.map { item in item.defects.reduce(UInt32(0)) { $0 | (1 << UInt32(kinds.firstIndex(of: $1)!)) } })
        let hash = Self.dataHash(kept)

        // Stage 1: pass/fail, balanced sampling.
        let s1Train = singleLabel(all.subset(trainIdx)), s1Val = singleLabel(all.subset(valIdx)), s1Test = singleLabel(all.subset(testIdx))
        onStage?("stage 1: pass/fail", s1Train.count, s1Val.count)
        var c1 = TrainingConfig.inspection(epochs: o.stage1Epochs, batchSize: o.batchSize, learningRate: o.learningRate, channels: o.channels, seed: o.seed,
                                           loss: .crossEntropy(labelSmoothing: 0.05))
        c1.balancedSampling = true
        let spec1 = try initSpec("stage1", default: Zoo.smallResNet(input: shape, classes: 2, depth: 8, width: o.width, stemPool: o.stemPool, globalPool: o.globalPool), classes: 2)
        let net1 = try network(spec1, "stage1", &c1)
        try train(net1, c1, s1Train, s1Val)
        // Calibrate on validation (temperature scaling), then pick thresholds on the calibrated scores.
        let valLogits = logits(net1, on: s1Val, normalization: c1.normalization, flipAverage: o.flipAverage)
        let temperature = TemperatureScaling.fit(valLogits, s1Val.labels)
        let ece = (TemperatureScaling.expectedCalibrationError(valLogits, s1Val.labels, temperature: 1),
                   TemperatureScaling.expectedCalibrationError(valLogits, s1Val.labels, temperature: temperature))
        let valScores = defectScores(valLogits, s1Val.labels, temperature)
        let testLogits = logits(net1, on: s1Test, normalization: c1.normalization, flipAverage: o.flipAverage)
        let testScores = defectScores(testLogits, s1Test.labels, temperature)
        let testProbabilities = testLogits.map { 1 / (1 + exp(Double($0[0] - $0[1]) / temperature)) }
        let t = PickedThresholds.pick(defectScores: valScores.defect, goodScores: valScores.good,
                                      targetRecall: o.targetRecall, failBudget: o.failBudget)
        let valReport = StageOneReport(defectScores: valScores.defect, goodScores: valScores.good, thresholds: t)
        let testReport = StageOneReport(defectScores: testScores.defect, goodScores: testScores.good, thresholds: t)
        let norm = ModelMetadata.Normalization(mean: c1.normalization.mean, std: c1.normalization.std)
        var meta1 = ModelMetadata(spec: spec1, classes: [o.passClass, "defect"], normalization: norm,
                                  thresholds: ["pass": t.pass, "fail": t.fail],
                                  provenance: .init(created: ISO8601DateFormatter().string(from: Date()), dataHash: hash, metrics: [
                                      "test.escape_rate": testReport.escapeRate, "test.false_reject_rate": testReport.falseRejectRate,
                                      "val.escape_rate": valReport.escapeRate, "val.false_reject_rate": valReport.falseRejectRate,
                                      "val.ece_before": ece.0, "val.ece_after": ece.1,
                                  ], notes: "stage 1 (pass/fail), balanced sampling, target defect recall \(o.targetRecall)"))
        meta1.temperature = temperature
        meta1.flipAverage = o.flipAverage

        // Stage 2: which defects, on the defective parts plus as many good ones (all-zero targets).
        var stage2: TrainedStage?
        var stage2Test: MultiLabelEvaluation?
        var stage2Tuned: MultiLabelScores?
        var lineTest: LineDecisionReport?
        var testKindScores: [[Float]] = [], kindThresholds: [Double] = []
        if !kinds.isEmpty {
            let pick = { (idx: [Int]) -> [Int] in
                let bad = idx.filter { !kept[$0].defects.isEmpty }
                let good = idx.filter { kept[$0].defects.isEmpty }.sorted { ImageFolder.bucketHash(kept[$0].file) < ImageFolder.bucketHash(kept[$1].file) }
                return (bad + good.prefix(bad.count)).sorted()
            }
            let s2 = { (idx: [Int]) in self.multiLabel(all.subset(pick(idx)), kinds) }
            let (s2Train, s2Val, s2Test) = (s2(trainIdx), s2(valIdx), s2(testIdx))
            onStage?("stage 2: defect kinds", s2Train.count, s2Val.count)
            let positive = (0..<kinds.count).map { k in Float(s2Train.multiLabels!.filter { $0 & (1 << UInt32(k)) != 0 }.count) }
            let weights = positive.map { p in min(3, max(1, (Float(s2Train.count) - p) / max(p, 1))) }
            var c2 = TrainingConfig.inspection(epochs: o.stage2Epochs, batchSize: o.batchSize, learningRate: o.learningRate, channels: o.channels, seed: o.seed &+ 1,
                                               loss: .binaryCrossEntropy(positiveWeights: weights))
            let spec2 = try initSpec("stage2", default: Zoo.smallResNet(input: shape, classes: kinds.count, depth: 8, width: o.width, stemPool: o.stemPool, globalPool: o.globalPool), classes: kinds.count)
            let net2 = try network(spec2, "stage2", &c2)
            try train(net2, c2, s2Train, s2Val)
            let ev = evaluateMultiLabel(net2, on: s2Test, normalization: c2.normalization, keepProbabilities: true)
            stage2Test = ev
            // Per-kind thresholds for the best F1 on validation (rare kinds rarely reach 0.5).
            let valEv = evaluateMultiLabel(net2, on: s2Val, normalization: c2.normalization, keepProbabilities: true)
            let perKind = MultiLabelScores.pick(valEv.probabilities, s2Val.multiLabels!, classes: kinds.count)
            let tuned = MultiLabelScores(ev.probabilities, s2Test.multiLabels!, thresholds: perKind)
            stage2Tuned = tuned
            // The line's own decision on every test part (stage 2 sees the unsure ones).
            let everyTest = multiLabel(all.subset(testIdx), kinds)
            let line2 = evaluateMultiLabel(net2, on: everyTest, normalization: c2.normalization, keepProbabilities: true)
            (testKindScores, kindThresholds) = (line2.probabilities, perKind)
            lineTest = LineDecisionReport(stage1: testProbabilities, stage2: line2.probabilities, kindThresholds: perKind,
                                          defective: testIdx.map { !kept[$0].defects.isEmpty }, thresholds: t)
            var metrics: [String: Double] = ["test.exact_match": ev.exactMatch, "test.macro_f1": ev.macroF1, "test.macro_f1_tuned": tuned.macroF1]
            for (k, name) in kinds.enumerated() { metrics["test.recall.\(name)"] = tuned.recall[k] }
            var thresholds2: [String: Double] = ["defect": 0.5]
            for (k, name) in kinds.enumerated() { thresholds2["defect.\(name)"] = perKind[k] }
            stage2 = TrainedStage(network: net2, metadata: ModelMetadata(
                spec: spec2, task: .multilabel, classes: kinds, normalization: norm, thresholds: thresholds2,
                provenance: .init(created: ISO8601DateFormatter().string(from: Date()), dataHash: hash, metrics: metrics,
                                  notes: "stage 2 (multi-label defect kinds), positive class weights, per-kind thresholds for the best validation F1")))
        }
        return StagedResult(stage1: TrainedStage(network: net1, metadata: meta1), stage2: stage2, thresholds: t,
                            temperature: temperature, calibrationError: ece,
                            validation: valReport, test: testReport, stage2Test: stage2Test, stage2Tuned: stage2Tuned, lineTest: lineTest,
                            counts: (trainIdx.count, valIdx.count, testIdx.count), inputSize: size, testItems: testIdx.map { kept[$0] },
                            testDefectProbabilities: testProbabilities,
                            testKindScores: testKindScores, kindThresholds: kindThresholds,
                            skipped: loaded.skipped,
                            imbalance: "stage 1: class-balanced sampling; stage 2: positive weights per kind (negatives/positives, 1-3)")
    }

    /// The option's input size; else the init model's (its weights only fit that input);
    /// else the images' typical size fitted to `InputSize.automaticLongSide`. With where it
    /// came from, for the log line.
    private func resolvedInputSize(_ items: [LabeledImage]) throws -> (InputSize, source: String) {
        if let size = options.inputSize { return (size, "") }
        if let dir = options.initFrom, FileManager.default.fileExists(atPath: "\(dir)/stage1.safetensors") {
            let input = try ModelFile.load(path: "\(dir)/stage1.safetensors").metadata.spec.input
            return (InputSize(width: input.width, height: input.height), " (the --init model's)")
        }
        let native = try ImageFolder.typicalSize(directory, items)
        return (InputSize.fitting(width: native.width, height: native.height), " (fitted to the images; --input-size to choose)")
    }

    /// The architecture: the init model's (with this data's class count) or the default.
    private func initSpec(_ stage: String, default spec: NetworkSpec, classes: Int) throws -> NetworkSpec {
        guard let dir = options.initFrom, FileManager.default.fileExists(atPath: "\(dir)/\(stage).safetensors") else { return spec }
        let (_, meta) = try ModelFile.load(path: "\(dir)/\(stage).safetensors")
        var s = meta.spec
        guard case .linear(_, let bias) = s.layers.last else { return spec }
        s.layers[s.layers.count - 1] = .linear(out: classes, bias: bias)
        return s
    }

    /// A fresh network, or one warm-started from the init model at the fine-tuning rate
    /// (only its head trained with `--fine-tune head`).
    private func network(_ spec: NetworkSpec, _ stage: String, _ config: inout TrainingConfig) throws -> Network {
        guard let dir = options.initFrom, FileManager.default.fileExists(atPath: "\(dir)/\(stage).safetensors") else {
            return try Network(spec, seed: options.seed)
        }
        let (net, head, copied) = try warmStart(spec, from: "\(dir)/\(stage).safetensors", seed: options.seed)
        let headOnly = options.fineTune == .head
        config.optimizer = .adamW(learningRate: headOnly ? options.headLearningRate : options.fineTuneLearningRate, weightDecay: 0.01)
        if headOnly { config.trainOnly = head }
        onStage?("\(stage): starting from \(dir)/\(stage).safetensors (\(copied) tensors copied, fine-tuning \(options.fineTune.rawValue))", 0, 0)
        return net
    }

    private func train(_ net: Network, _ config: TrainingConfig, _ train: ImageDataset, _ val: ImageDataset) throws {
        let trainer = try Trainer(network: net, config: config, train: train, validation: val.count > 0 ? val : nil)
        trainer.onBatch = onBatch
        trainer.onEpoch = onEpoch
        _ = try trainer.run()
    }

    private func singleLabel(_ d: ImageDataset) -> ImageDataset {
        ImageDataset(shape: d.shape, classNames: d.classNames, pixels: d.pixels, labels: d.labels)
    }

    private func multiLabel(_ d: ImageDataset, _ kinds: [String]) -> ImageDataset {
        ImageDataset(shape: d.shape, classNames: kinds, pixels: d.pixels, labels: d.labels, multiLabels: d.multiLabels)
    }

    /// Calibrated P(defect) of the defective and of the good samples.
    private func defectScores(_ logits: [[Float]], _ labels: [Int32], _ t: Double) -> (defect: [Double], good: [Double]) {
        var defect: [Double] = [], good: [Double] = []
        for (z, l) in zip(logits, labels) {
            let p = 1 / (1 + exp(Double(z[0] - z[1]) / t))  // softmax over two classes
            if l == 1 { defect.append(p) } else { good.append(p) }
        }
        return (defect, good)
    }

    /// A short fingerprint of the file list and labels (recorded in the model files).
    static func dataHash(_ items: [LabeledImage]) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for item in items {
            for b in (item.file + "," + item.defects.joined(separator: "+") + "\n").utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        }
        return String(format: "fnv1a64:%016llx:%d", h, items.count)
    }
}
