import Foundation
import Neural

extension StagedTrainer {
    /// Stage 2 trained and measured: on the test split at 0.5 and at the per-kind
    /// thresholds picked on validation, and the line's decision on every test part.
    struct StageTwo {
        var stage: TrainedStage
        var test: MultiLabelEvaluation
        var tuned: MultiLabelScores
        var line: LineDecisionReport
        var testKindScores: [[Float]]
        var kindThresholds: [Double]
        var fromStageOne: Bool
        /// The line's operating point, picked on validation (`LineOperatingPoint`).
        var operatingPoint: LineOperatingPoint.Choice
    }

    /// Stage 2: which defects, on the defective parts plus as many good ones (all-zero targets).
    func trainStageTwo(_ d: Split, _ cal: Calibration, _ one: StageOne) throws -> StageTwo {
        let o = options, kinds = d.kinds
        let s2 = { (idx: [Int]) in
            self.multiLabel(d.all.subset(StagedRecipe.stageTwoPicks(idx, defective: { !d.kept[$0].defects.isEmpty }, file: { d.kept[$0].file })), kinds)
        }
        let (train, val, test) = (s2(d.train), s2(d.validation), s2(d.test))
        onStage?("stage 2: defect kinds", train.count, val.count)
        var config = TrainingConfig.stageTwo(epochs: o.stage2Epochs, batchSize: o.batchSize, learningRate: o.learningRate, channels: d.all.shape.channels,
                                             seed: o.seed, weights: StagedRecipe.positiveWeights(train.multiLabels!, kinds: kinds.count))
        // features learnt on inputs normalized another way (torchvision's, a pretrained model's) keep that normalization
        if o.torchvisionWeights != nil || o.pretrained != nil { config.normalization = one.config.normalization }
        let spec = try initSpec("stage2", default: o.networkSpec(input: d.all.shape, classes: kinds.count), classes: kinds.count)
        config.augmentation = StagedRecipe.augmentation(for: spec)
        let net: Network
        let fromStageOne = options.initFrom == nil && options.stageTwoFromStageOne && spec.layers.dropLast() == one.spec.layers.dropLast()
        if fromStageOne {
            net = try warmStart(spec, from: one.network, seed: o.seed &+ StagedRecipe.stageTwoSeedOffset, freshHead: true).network
            onStage?("stage 2: starting from stage 1's features", 0, 0)
            if o.torchvisionWeights != nil {
                // features started from weights the user brought train at the fine-tuning rate, as stage 1's did
                fineTuning(&config, net)
            }
        } else {
            net = try network(spec, "stage2", &config)
        }
        let teacher = try stageTwoTeacher(kinds: kinds, input: d.all.shape)
        try self.train(net, config, train, val, distillation: teacher)
        let ev = evaluateMultiLabel(net, on: test, normalization: config.normalization, keepProbabilities: true)
        // Per-kind thresholds for the best F1 on validation (rare kinds rarely reach 0.5).
        let valEv = evaluateMultiLabel(net, on: val, normalization: config.normalization, keepProbabilities: true)
        let perKind = MultiLabelScores.pick(valEv.probabilities, val.multiLabels!, classes: kinds.count)
        let tuned = MultiLabelScores(ev.probabilities, test.multiLabels!, thresholds: perKind)
        // The line's operating point, picked on every validation part as the daemon decides:
        // stage 1's band and a floor under the kind thresholds, fewest false rejects within the escapes allowed.
        let valAll = evaluateMultiLabel(net, on: multiLabel(d.all.subset(d.validation), kinds), normalization: config.normalization, keepProbabilities: true)
        let point = LineOperatingPoint.pick(stage1: cal.validationProbabilities, stage2: valAll.probabilities, kindThresholds: perKind,
                                            defective: d.validation.map { !d.kept[$0].defects.isEmpty }, targetRecall: o.targetRecall)
        // The line's own decision on every test part (stage 2 sees the unsure ones).
        let line2 = evaluateMultiLabel(net, on: multiLabel(d.all.subset(d.test), kinds), normalization: config.normalization, keepProbabilities: true)
        let line = LineDecisionReport(stage1: cal.testProbabilities, stage2: line2.probabilities, kindThresholds: point.kindThresholds,
                                      defective: d.test.map { !d.kept[$0].defects.isEmpty }, thresholds: point.thresholds)
        let meta = stageTwoMetadata(spec, d, ev, tuned, point.kindThresholds, ModelMetadata.Normalization(mean: config.normalization.mean, std: config.normalization.std),
                                    distilled: teacher != nil)
        return StageTwo(stage: TrainedStage(network: net, metadata: meta), test: ev, tuned: tuned, line: line,
                        testKindScores: line2.probabilities, kindThresholds: point.kindThresholds, fromStageOne: fromStageOne,
                        operatingPoint: point)
    }

    /// Stage 1's line beside a stage 2 the line already runs (`StagedOptions.StageTwoSource.live`,
    /// `live` nil when it does not take stage 1's input or does not settle the unsure): stage 1's
    /// thresholds picked with it settling the parts between them, and the line's decision on
    /// every test part; else stage 1's own thresholds.
    func withLiveStageTwo(_ live: LiveStageTwo?, path: String, settlesUnsure: Bool, _ one: StageOne, _ cal: Calibration)
        -> (Calibration, LiveLine?) {
        guard let live else {
            onStage?("stage 2: not trained; the line runs \(path), another product's (shared in the config), "
                     + (settlesUnsure ? "which is not a stage-2 model of stage 1's input (\(one.validation.shape)): stage 1's thresholds are picked for stage 1 alone"
                                      : "and stage 1 decides the unsure parts alone (the config's unsure rule): its thresholds are its own"), 0, 0)
            return (cal, nil)
        }
        let point = live.pick(one.validation, stage1: cal.validationProbabilities, passIndex: 0, targetRecall: options.targetRecall)
        let scores = live.scores(one.test)
        let line = LineDecisionReport(stage1: cal.testProbabilities, stage2: scores, kindThresholds: point.kindThresholds,
                                      defective: one.test.labels.map { $0 != 0 }, thresholds: point.thresholds)
        onStage?("stage 2: not trained; the line's \(path), another product's (shared in the config), settles the unsure parts: stage 1's thresholds are picked with it", 0, 0)
        return (cal.at(point.thresholds, one.validation.labels, one.test.labels),
                LiveLine(line: line, point: point, testScores: scores, kinds: live.metadata.classes))
    }

    /// The line with a shared stage 2 on the test split (`withLiveStageTwo`).
    struct LiveLine {
        var line: LineDecisionReport
        var point: LineOperatingPoint.Choice
        var testScores: [[Float]]
        var kinds: [String]
    }

    private func stageTwoMetadata(_ spec: NetworkSpec, _ d: Split, _ ev: MultiLabelEvaluation, _ tuned: MultiLabelScores,
                                  _ perKind: [Double], _ norm: ModelMetadata.Normalization, distilled: Bool) -> ModelMetadata {
        var metrics: [String: Double] = ["test.exact_match": ev.exactMatch, "test.macro_f1": ev.macroF1, "test.macro_f1_tuned": tuned.macroF1]
        for (k, name) in d.kinds.enumerated() { metrics["test.recall.\(name)"] = tuned.recall[k] }
        var thresholds: [String: Double] = ["defect": 0.5]
        for (k, name) in d.kinds.enumerated() { thresholds["defect.\(name)"] = perKind[k] }
        return ModelMetadata(spec: spec, task: .multilabel, classes: d.kinds, normalization: norm, thresholds: thresholds,
                             provenance: .init(created: ISO8601DateFormatter().string(from: Date()), dataHash: d.dataHash, metrics: metrics,
                                               notes: "stage 2 (multi-label defect kinds), positive class weights, per-kind thresholds for the best validation F1"
                                                   + (distilled ? options.teacher.map { "; distilled from \($0)/stage2.safetensors (temperature \(options.distillTemperature), soft-target weight \(options.distillWeight))" } ?? "" : "")))
    }

    /// Stage 1's model-file metadata: its thresholds, temperature and figures.
    private func stageOneMetadata(_ one: StageOne, _ cal: Calibration, _ d: Split) -> ModelMetadata {
        let o = options
        let norm = ModelMetadata.Normalization(mean: one.config.normalization.mean, std: one.config.normalization.std)
        var meta = ModelMetadata(spec: one.spec, classes: [o.passClass, "defect"], normalization: norm,
                                 thresholds: ["pass": cal.thresholds.pass, "fail": cal.thresholds.fail],
                                 provenance: .init(created: ISO8601DateFormatter().string(from: Date()), dataHash: d.dataHash, metrics: [
                                     "test.escape_rate": cal.test.escapeRate, "test.false_reject_rate": cal.test.falseRejectRate,
                                     "val.escape_rate": cal.validation.escapeRate, "val.false_reject_rate": cal.validation.falseRejectRate,
                                     "val.ece_before": cal.ece.before, "val.ece_after": cal.ece.after,
                                 ], notes: "stage 1 (pass/fail), balanced sampling, target defect recall \(o.targetRecall)"
                                     + (o.teacher.map { "; distilled from \($0) (temperature \(o.distillTemperature), soft-target weight \(o.distillWeight))" } ?? "")
                                     + (one.selfTraining.map { "; self-trained: \($0.good) good and \($0.defective) defective pseudo-labels from \($0.frames) unlabeled frames" } ?? "")))
        meta.temperature = cal.temperature
        meta.flipAverage = o.flipAverage
        // the drift watch's reference: the training images, and the good validation parts' scores
        let good = zip(cal.validationProbabilities, one.validation.labels).filter { $0.1 == 0 }.map(\.0)
        meta.inputReference = InputReference.measure(d.all.subset(d.train), goodScores: good,
                                                     goodEmbeddings: goodEmbeddings(one.network, one.validation, 0, one.config.normalization, o.flipAverage))
        return meta
    }

    func result(_ d: Split, _ one: StageOne, _ cal: Calibration, _ two: StageTwo?, live: LiveLine? = nil) -> StagedResult {
        StagedResult(stage1: TrainedStage(network: one.network, metadata: stageOneMetadata(one, cal, d)), stage2: two?.stage,
                     thresholds: cal.thresholds, temperature: cal.temperature, calibrationError: cal.ece, calibrationFellBack: cal.fellBack,
                     validation: cal.validation, test: cal.test, stage2Test: two?.test, stage2Tuned: two?.tuned, lineTest: two?.line ?? live?.line, operatingPoint: two?.operatingPoint ?? live?.point,
                     counts: (d.train.count, d.validation.count, d.test.count), splitSource: d.source, inputSize: d.size, testItems: d.test.map { d.kept[$0] },
                     testDefectProbabilities: cal.testProbabilities,
                     testKindScores: two?.testKindScores ?? live?.testScores ?? [], kindThresholds: two?.kindThresholds ?? live?.point.kindThresholds ?? [],
                     stageTwoKinds: two == nil ? live?.kinds ?? [] : d.kinds,
                     skipped: d.skipped, selfTraining: one.selfTraining,
                     imbalance: "stage 1: class-balanced sampling" + (options.syntheticDefectRate > 0 ? String(format: ", %.0f%% of the good parts drawn painted with a synthetic defect", options.syntheticDefectRate * 100)
                         + (options.syntheticDefectKinds == SyntheticDefects.Kind.allCases ? "" : " (\(options.syntheticDefectKinds.map(\.rawValue).joined(separator: ", ")))") : "")
                         + (two == nil ? "" : "; stage 2: positive weights per kind (negatives/positives, 1-3)" + (two?.fromStageOne == true ? ", started from stage 1's layers" : "")))
    }
}
