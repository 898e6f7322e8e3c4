import Neural

/// Which optimizer, with its hyper-parameters.
public enum OptimizerChoice: Codable, Equatable, Sendable {
    case sgd(learningRate: Float, momentum: Float, nesterov: Bool, weightDecay: Float)
    case adam(learningRate: Float, weightDecay: Float)
    case adamW(learningRate: Float, weightDecay: Float)

    public var learningRate: Float {
        switch self {
        case .sgd(let lr, _, _, _), .adam(let lr, _), .adamW(let lr, _): lr
        }
    }

    func make(skipNormAndBias: Bool) -> Optimizer {
        switch self {
        case let .sgd(lr, m, nesterov, wd):
            SGD(learningRate: lr, momentum: m, nesterov: nesterov, weightDecay: .init(wd, skipNormAndBias: skipNormAndBias))
        case let .adam(lr, wd):
            Adam(learningRate: lr, weightDecay: .init(wd, skipNormAndBias: skipNormAndBias))
        case let .adamW(lr, wd):
            Adam.adamW(learningRate: lr, weightDecay: .init(wd, skipNormAndBias: skipNormAndBias))
        }
    }
}

/// How the learning rate moves over the run (computed per optimizer step).
public enum ScheduleChoice: Codable, Equatable, Sendable {
    case constant
    case cosine(warmupEpochs: Double, minimumFactor: Float)
    case step(everyEpochs: Int, gamma: Float)
    case oneCycle(pctStart: Float)

    func make(base: Float, stepsPerEpoch: Int, epochs: Int) -> LearningRateSchedule {
        let total = stepsPerEpoch * epochs
        switch self {
        case .constant:
            return StepSchedule(base: base, every: Int.max, gamma: 1)
        case let .cosine(warm, minimum):
            return CosineSchedule(base: base, totalSteps: total, warmupSteps: Int(warm * Double(stepsPerEpoch)),
                                  minimum: base * minimum)
        case let .step(every, gamma):
            return StepSchedule(base: base, every: every * stepsPerEpoch, gamma: gamma)
        case let .oneCycle(pct):
            return OneCycleSchedule(peak: base, totalSteps: total, pctStart: pct)
        }
    }
}

/// The training objective: softmax losses for single-label classification, sigmoid
/// binary cross-entropy (with per-class positive weights) for multi-label datasets.
public enum LossChoice: Codable, Equatable, Sendable {
    case crossEntropy(labelSmoothing: Float)
    case focal(gamma: Float)
    case binaryCrossEntropy(positiveWeights: [Float]?)
    /// A defect map (`DefectMapLoss`): the network gives one logit per cell of a grid,
    /// images are pass (0) / fail (1), and the cells of good and synthetic-defect images
    /// are known.
    case defectMap(cellWeight: Float)

    public var isMultiLabel: Bool { if case .binaryCrossEntropy = self { true } else { false } }
    public var isDefectMap: Bool { if case .defectMap = self { true } else { false } }
}

/// Everything that decides a training run. Same config + same seed + same data + same
/// thread count = the same model (another thread count sums in another order: the same
/// model to rounding, which a long run can carry a little further).
public struct TrainingConfig: Codable, Equatable, Sendable {
    public var epochs: Int
    public var batchSize: Int
    public var optimizer: OptimizerChoice
    public var schedule: ScheduleChoice
    /// Exempt batch-norm scales and biases from weight decay.
    public var decayExemptsNormAndBias = true
    public var loss: LossChoice
    /// Loss weight per class (inverse frequency is a common choice), or nil.
    public var classWeights: [Float]?
    /// Draw each epoch's samples with probability inversely proportional to class size.
    public var balancedSampling = false
    public var augmentation: Augmentation
    /// Single-label training with class 0 good: a share of the good samples drawn get a
    /// synthetic defect and count as class 1 (`SyntheticDefects`); nil: none.
    public var syntheticDefects: SyntheticDefects?
    public var normalization: Normalization
    public var gradientClipNorm: Float?
    public var seed: UInt64
    /// Stop after this many epochs without a better validation accuracy (nil: never).
    public var earlyStoppingPatience: Int?
    /// Names of the only parameters the optimizer updates (transfer learning: the head);
    /// nil updates all of them.
    public var trainOnly: [String]?

    public init(epochs: Int, batchSize: Int, optimizer: OptimizerChoice, schedule: ScheduleChoice,
                loss: LossChoice = .crossEntropy(labelSmoothing: 0), augmentation: Augmentation = .none,
                normalization: Normalization, seed: UInt64 = 1) {
        self.epochs = epochs; self.batchSize = batchSize; self.optimizer = optimizer; self.schedule = schedule
        self.loss = loss; self.augmentation = augmentation; self.normalization = normalization; self.seed = seed
    }

    public func validate(classes: Int, channels: Int) throws {
        guard epochs > 0 else { throw TrainingError.invalidConfig("epochs must be at least 1") }
        guard batchSize > 0 else { throw TrainingError.invalidConfig("batch size must be at least 1") }
        guard optimizer.learningRate > 0 else { throw TrainingError.invalidConfig("learning rate must be positive") }
        guard normalization.mean.count == channels, normalization.std.count == channels,
              normalization.std.allSatisfy({ $0 > 0 }) else {
            throw TrainingError.invalidConfig("normalization needs \(channels) means and positive stds")
        }
        if let w = classWeights, w.count != classes || w.contains(where: { $0 <= 0 }) {
            throw TrainingError.invalidConfig("class weights need \(classes) positive values")
        }
        if let s = syntheticDefects {
            guard !loss.isMultiLabel, classes == 2 || loss.isDefectMap else { throw TrainingError.invalidConfig("synthetic defects need a pass/fail (two-class) training") }
            guard (0...1).contains(s.rate), (0...1).contains(s.minimumContrast) else { throw TrainingError.invalidConfig("synthetic defect rate and contrast lie in 0...1") }
        }
        if case .binaryCrossEntropy(let pw?) = loss, pw.count != classes || pw.contains(where: { $0 <= 0 }) {
            throw TrainingError.invalidConfig("positive weights need \(classes) positive values")
        }
    }

    /// The Fashion-MNIST recipe (see README): small ResNet, SGD + Nesterov, one-cycle,
    /// label smoothing 0.1, random crop (pad 2) and horizontal flips.
    public static func fashionMNIST(epochs: Int = 10, seed: UInt64 = 1) -> TrainingConfig {
        var c = TrainingConfig(
            epochs: epochs, batchSize: 128,
            optimizer: .sgd(learningRate: 0.2, momentum: 0.9, nesterov: true, weightDecay: 5e-4),
            schedule: .oneCycle(pctStart: 0.25),
            loss: .crossEntropy(labelSmoothing: 0.1),
            augmentation: Augmentation(cropPadding: 2, horizontalFlip: true),
            normalization: Normalization(mean: [FashionMNIST.mean], std: [FashionMNIST.std]),
            seed: seed)
        c.gradientClipNorm = 5
        return c
    }
}
