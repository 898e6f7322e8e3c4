import Foundation
import Neural

/// Trains a network on an image dataset: seeded shuffling or class-balanced sampling,
/// augmentation, mini-batches, the chosen loss, optimizer and schedule, evaluation per
/// epoch, early stopping, and a checkpoint after every epoch to resume from.
public final class Trainer {
    public let network: Network
    public let config: TrainingConfig
    public let train: ImageDataset
    public let validation: ImageDataset?
    public var onBatch: ((BatchProgress) -> Void)?
    public var onEpoch: ((EpochReport) -> Void)?
    /// Written after every epoch; a run started with the same path resumes from it.
    public var checkpointPath: String?
    /// Asked after every epoch (and its checkpoint): true ends the run there, resumable.
    public var shouldStop: ((EpochReport) -> Bool)?
    /// A teacher whose softened logits the student also learns (cross-entropy or focal
    /// training only); `run` refuses a teacher that does not fit the student.
    public var distillation: Distillation?
    /// The engine's threads and kernels the run uses (its layers, augmentation, evaluation).
    public let compute: Compute

    private let optimizer: Optimizer
    private var bestWeights: [[Float]]?
    /// With `trainOnly`: the running statistics of layers none of whose parameters train,
    /// and their values before training. They are put back after every step, so a frozen
    /// layer computes at inference exactly what it did before (the features the outputs that
    /// are not retrained rely on), however far the new data's statistics lie from the old.
    private let frozenBuffers: [(tensor: Tensor, values: [Float])]

    /// `compute`: by default the one in force where the trainer is made.
    public init(network: Network, config: TrainingConfig, train: ImageDataset, validation: ImageDataset?,
                compute: Compute = .current()) throws {
        try config.validate(classes: network.outputShape.count, channels: network.inputShape.channels)
        guard train.shape == network.inputShape else {
            throw TrainingError.invalidConfig("images are \(train.shape), the network takes \(network.inputShape)")
        }
        guard train.count >= 1 else { throw TrainingError.invalidConfig("the training set is empty") }
        if let only = config.trainOnly {
            let known = Set(network.namedParameters.map(\.0))
            guard !only.isEmpty, only.allSatisfy(known.contains) else {
                throw TrainingError.invalidConfig("trainOnly names parameters the network does not have: \(only.filter { !known.contains($0) })")
            }
        }
        if config.loss.isDefectMap, network.outputShape.channels != 1 {
            throw TrainingError.invalidConfig("a defect map needs a network with one output channel (one logit per cell), not \(network.outputShape)")
        }
        guard config.loss.isMultiLabel == train.isMultiLabel else {
            throw TrainingError.invalidConfig(train.isMultiLabel ? "a multi-label dataset needs the binary cross-entropy loss"
                                                                 : "binary cross-entropy needs a multi-label dataset")
        }
        self.network = network
        self.compute = compute
        self.config = config
        self.train = train
        self.validation = validation
        frozenBuffers = Self.frozenBuffers(network, trainOnly: config.trainOnly)
        optimizer = config.optimizer.make(skipNormAndBias: config.decayExemptsNormAndBias)
    }

    public var batchesPerEpoch: Int { max(1, train.count / min(config.batchSize, train.count)) }

    /// The sample order of one epoch: a seeded shuffle, or a class-balanced draw.
    public func epochOrder(_ epoch: Int) -> [Int] {
        var rng = SeededGenerator(seed: config.seed &* 1_000_003 &+ UInt64(epoch))
        guard config.balancedSampling else {
            var order = Array(0..<train.count)
            order.shuffle(using: &rng)
            return order
        }
        let counts = train.classCounts
        let present = counts.indices.filter { counts[$0] > 0 }
        var byClass = [[Int]](repeating: [], count: counts.count)
        for (i, l) in train.labels.enumerated() { byClass[Int(l)].append(i) }
        return (0..<train.count).map { _ in
            let c = present[rng.below(present.count)]
            return byClass[c][rng.below(byClass[c].count)]
        }
    }

    public func run() throws -> TrainingSummary {
        if let distillation {
            switch config.loss {
            case .crossEntropy, .focal, .binaryCrossEntropy: try distillation.check(student: network)
            default: throw TrainingError.invalidConfig("distillation teaches classifiers (cross-entropy, focal or multi-label binary cross-entropy), not defect maps")
            }
        }
        return try compute.run { try runEpochs() }
    }

    private func runEpochs() throws -> TrainingSummary {
        var history: [EpochReport] = []
        var best: (epoch: Int, accuracy: Double)?
        var startEpoch = 0
        if let path = checkpointPath, FileManager.default.fileExists(atPath: path) {
            let cp = try Checkpoint.load(path: path, network: network, optimizer: optimizer, config: config)
            startEpoch = cp.completedEpochs
            history = cp.history
            if let e = cp.bestEpoch, let a = cp.bestAccuracy { best = (e, a) }
        }
        let resumedFrom = startEpoch
        let steps = batchesPerEpoch
        let schedule = config.schedule.make(base: config.optimizer.learningRate, stepsPerEpoch: steps, epochs: config.epochs)
        var stoppedEarly = false, interrupted = false
        let runStart = Date()
        for epoch in startEpoch..<config.epochs {
            let report = trainEpoch(epoch, schedule: schedule, runStart: runStart, firstEpoch: startEpoch)
            history.append(report)
            onEpoch?(report)
            if let acc = report.validationAccuracy, acc > (best?.accuracy ?? -1) {
                best = (epoch, acc)
                bestWeights = snapshot()
            }
            if let path = checkpointPath {
                let cp = Checkpoint(completedEpochs: epoch + 1, history: history, config: config,
                                    bestEpoch: best?.epoch, bestAccuracy: best?.accuracy)
                try Checkpoint.save(cp, network: network, optimizer: optimizer, to: path)
            }
            if shouldStop?(report) == true, epoch + 1 < config.epochs {
                interrupted = true
                break
            }
            if let patience = config.earlyStoppingPatience, let b = best, epoch - b.epoch >= patience {
                stoppedEarly = true
                break
            }
        }
        if stoppedEarly, let w = bestWeights { restore(w) }
        return TrainingSummary(history: history, bestEpoch: best?.epoch, bestValidationAccuracy: best?.accuracy,
                               stoppedEarly: stoppedEarly, interrupted: interrupted, resumedFromEpoch: resumedFrom)
    }

    private func trainEpoch(_ epoch: Int, schedule: LearningRateSchedule, runStart: Date, firstEpoch: Int) -> EpochReport {
        reseedDropout(epoch)
        let order = epochOrder(epoch)
        let bs = min(config.batchSize, train.count), steps = batchesPerEpoch
        let input = Tensor(train.shape, batch: bs)
        let grad = Tensor(network.outputShape, batch: bs)
        let only = config.trainOnly.map(Set.init)
        let params = network.namedParameters.filter { only?.contains($0.0) ?? true }
        var ce: SoftmaxCrossEntropy?, focal: FocalLoss?, bce: SigmoidBinaryCrossEntropy?, map: DefectMapLoss?
        switch config.loss {
        case .crossEntropy(let eps): ce = SoftmaxCrossEntropy(classWeights: config.classWeights, labelSmoothing: eps)
        case .focal(let gamma): focal = FocalLoss(gamma: gamma, alpha: config.classWeights)
        case .binaryCrossEntropy(let pw): bce = SigmoidBinaryCrossEntropy(positiveWeights: pw)
        case .defectMap(let w): map = DefectMapLoss(cellWeight: w)
        }
        var masks = [Float](repeating: 0, count: map == nil ? 0 : bs * train.shape.height * train.shape.width)
        var lossSum = 0.0, correct = 0, seen = 0
        let start = Date()
        for b in 0..<steps {
            let step = epoch * steps + b
            optimizer.learningRate = schedule.rate(at: step)
            let idx = order[(b * bs)..<((b + 1) * bs)]
            let labels = masks.withUnsafeMutableBufferPointer { m in
                assembleBatch(train, idx, into: input, augmentation: config.augmentation, normalization: config.normalization,
                              seed: config.seed ^ (UInt64(step) &* 0xD6E8_FEB8_6659_FD93), synthetic: config.syntheticDefects,
                              masks: map == nil ? nil : m.baseAddress)
            }
            let logits = network.forward(input, mode: .train)
            let loss: Float
            if let map {
                let cells = DefectMapTargets.cells(masks, count: bs, image: train.shape, map: network.outputShape)
                loss = map(logits, labels: labels, cells: cells, grad: grad)
                for i in 0..<bs where (DefectMapTargets.score(logits, i) > 0) == (labels[i] != 0) { correct += 1 }
            } else if let bce {
                let targets = train.targets(idx)
                let hard = bce(logits, targets, grad: grad)
                loss = distillation?.mixMultiLabel(hard: hard, logits: logits, grad: grad, input: input, normalization: config.normalization) ?? hard
                correct += exactMatches(logits, targets)
            } else {
                let hard = ce?(logits, labels, grad: grad) ?? focal!(logits, labels, grad: grad)
                loss = distillation?.mix(hard: hard, logits: logits, grad: grad, input: input, normalization: config.normalization) ?? hard
                for i in 0..<bs where argmax(logits.data + i * logits.sampleCount, logits.sampleCount) == Int(labels[i]) {
                    correct += 1
                }
            }
            network.zeroGradients()
            network.backward(grad)
            if let clip = config.gradientClipNorm { clipGradientNorm(network.parameters, maxNorm: clip) }
            optimizer.step(params)
            for f in frozenBuffers { f.values.withUnsafeBufferPointer { f.tensor.data.update(from: $0.baseAddress!, count: f.tensor.count) } }
            lossSum += Double(loss) * Double(bs)
            seen += bs
            if let onBatch {
                let elapsed = Date().timeIntervalSince(start)
                let rate = Double(seen) / max(elapsed, 1e-9)
                let doneSteps = (epoch - firstEpoch) * steps + b + 1
                let totalSteps = (config.epochs - firstEpoch) * steps
                let runElapsed = Date().timeIntervalSince(runStart)
                let eta = runElapsed / Double(doneSteps) * Double(totalSteps - doneSteps)
                onBatch(BatchProgress(epoch: epoch, epochs: config.epochs, batch: b + 1, batches: steps,
                                      loss: lossSum / Double(seen), accuracy: Double(correct) / Double(seen),
                                      imagesPerSecond: rate, etaSeconds: eta, learningRate: optimizer.learningRate))
            }
        }
        let seconds = Date().timeIntervalSince(start)
        var report = EpochReport(epoch: epoch, trainLoss: lossSum / Double(seen), trainAccuracy: Double(correct) / Double(seen),
                                 seconds: seconds, imagesPerSecond: Double(seen) / max(seconds, 1e-9),
                                 learningRate: optimizer.learningRate)
        if let validation, validation.count > 0, config.loss.isDefectMap {
            let scores = logits(network, on: validation, normalization: config.normalization).map { $0.max() ?? 0 }
            var confusion = ConfusionMatrix(classes: 2)
            var loss = 0.0
            for (z, l) in zip(scores, validation.labels) {
                confusion.add(truth: l == 0 ? 0 : 1, predicted: z > 0 ? 1 : 0)
                loss += l == 0 ? softplus(Double(z)) : softplus(-Double(z))
            }
            report.validationLoss = loss / Double(scores.count)
            report.validationAccuracy = confusion.accuracy
            report.validationMacroF1 = confusion.macroF1
        } else if let validation, validation.count > 0, validation.isMultiLabel {
            let ev = evaluateMultiLabel(network, on: validation, normalization: config.normalization)
            report.validationLoss = ev.loss
            report.validationAccuracy = ev.exactMatch
            report.validationMacroF1 = ev.macroF1
        } else if let validation, validation.count > 0 {
            let ev = evaluate(network, on: validation, normalization: config.normalization)
            report.validationLoss = ev.loss
            report.validationAccuracy = ev.accuracy
            report.validationMacroF1 = ev.confusion.macroF1
        }
        return report
    }

    private func reseedDropout(_ epoch: Int) {
        for (i, layer) in network.allLayers.enumerated() {
            if let d = layer as? Dropout { d.generator = SeededGenerator(seed: config.seed ^ UInt64(epoch << 20 | i)) }
        }
    }

    /// Buffers of layers (by dotted path) that own no parameter in `trainOnly`.
    static func frozenBuffers(_ network: Network, trainOnly: [String]?) -> [(tensor: Tensor, values: [Float])] {
        guard let only = trainOnly else { return [] }
        return network.namedBuffers.filter { name, _ in
            let layer = Network.layerPrefix(of: name)
            return !only.contains { $0.hasPrefix(layer) }
        }.map { ($0.1, $0.1.array) }
    }

    private func snapshot() -> [[Float]] {
        network.parameters.map(\.value.array) + network.namedBuffers.map(\.1.array)
    }

    private func restore(_ values: [[Float]]) {
        let tensors = network.parameters.map(\.value) + network.namedBuffers.map(\.1)
        for (t, v) in zip(tensors, values) { v.withUnsafeBufferPointer { t.data.update(from: $0.baseAddress!, count: t.count) } }
    }
}
