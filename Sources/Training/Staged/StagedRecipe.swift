import Foundation
import Neural

/// The fixed choices of the inspection recipe, in one place, each with why. First training
/// (`StagedTrainer`) and retraining (`Retrainer`, `StageTwoRetrainer`) read them from here.
/// Settings a person tunes per run are `StagedOptions`; these are not options because the
/// promotion gates compare champion and challenger on images these choices put aside (a
/// different split would move images between training and the golden set).
public enum StagedRecipe {
    /// First training splits 7:2:1 by `ImageFolder.bucket` (0-9, a hash of each file's
    /// path): an image keeps its split when data is added, and the test split (bucket 9) is
    /// frozen as the golden set. Buckets 0-6 train.
    public static let trainBuckets = 0...6
    /// Buckets 7-8 validate: the best epoch, calibration and thresholds are picked on them.
    public static let validationBuckets = 7...8
    /// Bucket 9 tests; at first training with a registry it becomes the golden set.
    public static let testBuckets = 9...9
    /// A retraining round splits its new labels 8:2: it needs no test split of its own (the
    /// golden set judges), so that share trains. Buckets 0-7 train.
    public static let retrainTrainBuckets = 0...7
    /// Buckets 8-9 of the new labels validate and join the gate images.
    public static let retrainValidationBuckets = 8...9

    /// Stage 1's label smoothing, first training and retraining alike: a little keeps the
    /// pass/fail logits from growing without bound on easy parts, which leaves temperature
    /// scaling a score it can calibrate.
    public static let stageOneLabelSmoothing: Float = 0.05
    /// Stage 2's positive weight per defect kind is negatives/positives clamped to this
    /// range: a rare kind is weighted up, but at most 3x, so a handful of examples of one
    /// kind cannot dominate the loss; a common kind is never weighted down.
    public static let positiveWeightRange: ClosedRange<Float> = 1...3
    /// Stage 2 trains with the run's seed plus this, so its initialization and shuffling do
    /// not repeat stage 1's random draws.
    public static let stageTwoSeedOffset: UInt64 = 1

    /// Augmentation suited to parts and surfaces on a line: shifts (a part is never exactly
    /// centered) with the image mirrored at its edge (a black border would be the strongest
    /// edge in the image, and a max-pooled network learns it instead of a faint defect),
    /// flips and quarter turns (a part or a surface may lie any way round; none of the eight
    /// orientations changes what a defect is), brightness/contrast (lighting drifts over a
    /// shift), saturation and per-channel gain (white balance drifts; a stain stays another
    /// colour than its surface) and sensor noise.
    public static let augmentation = Augmentation(cropPadding: 8, horizontalFlip: true, verticalFlip: true, quarterTurns: true,
                                                  reflectBorder: true, brightness: 0.1, contrast: 0.2,
                                                  saturation: 0.2, channelGain: 0.1, noiseStd: 0.02)
    /// For a network with a fixed input filter in front (`LayerSpec.highPass`,
    /// `LayerSpec.anomalyMap`: full-frame surfaces), only the flips and quarter turns. Those
    /// filters measure each pixel against its own surface, and the sensor noise of
    /// `augmentation` buries exactly that. On surface-dev (`--input-filter both`, no synthetic
    /// defects, 20 epochs, one seed each; stage-1 ROC AUC validation/test): everything
    /// 0.794/0.787; flips and turns alone 0.820/0.821; with the noise 0.798/0.784; with the
    /// shifts 0.831/0.828; with the lighting and colour 0.837/0.810. With the anomaly map
    /// too: everything 0.799/0.749, flips and turns alone 0.868/0.836. Only the flips and
    /// turns were measured with both filters, so only they are kept.
    public static let surfaceAugmentation = Augmentation(cropPadding: 0, horizontalFlip: true, verticalFlip: true, quarterTurns: true,
                                                         reflectBorder: true, brightness: 0, contrast: 0, saturation: 0, channelGain: 0, noiseStd: 0)

    /// The augmentation a stage trains `spec` with: `surfaceAugmentation` when a fixed
    /// input filter comes first, else `augmentation`.
    public static func augmentation(for spec: NetworkSpec) -> Augmentation {
        switch spec.layers.first {
        case .highPass?, .anomalyMap?: surfaceAugmentation
        default: augmentation
        }
    }

    /// AdamW's weight decay, from scratch and when fine-tuning.
    public static let weightDecay: Float = 0.01
    /// One-cycle warm-up share: the first quarter of the steps rises to the peak rate.
    public static let warmUpShare: Float = 0.25
    /// Gradients are clipped to this norm: a guard against one outsized step (a batch of
    /// mislabeled or saturated images near the one-cycle peak rate) undoing what was learned.
    public static let gradientClipNorm: Float = 5
    /// Pixels in 0...1 normalized with this fixed mean and deviation per channel, not fitted
    /// to a dataset: every model of a line normalizes alike (a retrain keeps its champion's,
    /// which the model file records), whatever the images of one round look like.
    public static let normalizationMean: Float = 0.5
    public static let normalizationStd: Float = 0.25

    /// Stage 2's positive weight per kind, from the kind masks of its training set.
    public static func positiveWeights(_ masks: [UInt32], kinds: Int) -> [Float] {
        (0..<kinds).map { k in
            let p = Float(masks.filter { $0 & (1 << UInt32(k)) != 0 }.count)
            return min(positiveWeightRange.upperBound, max(positiveWeightRange.lowerBound, (Float(masks.count) - p) / max(p, 1)))
        }
    }

    /// Stage 2's examples among `indices`: every defective part plus as many good ones (the
    /// first by `ImageFolder.bucketHash`), so it also learns to name nothing, in index order.
    public static func stageTwoPicks(_ indices: [Int], defective: (Int) -> Bool, file: (Int) -> String) -> [Int] {
        let bad = indices.filter(defective)
        let good = indices.filter { !defective($0) }.sorted { ImageFolder.bucketHash(file($0)) < ImageFolder.bucketHash(file($1)) }
        return (bad + good.prefix(bad.count)).sorted()
    }

    /// The indices of `files` whose bucket is in `buckets`.
    public static func indices(_ files: [String], in buckets: ClosedRange<Int>) -> [Int] {
        files.indices.filter { buckets.contains(ImageFolder.bucket(files[$0])) }
    }
}

extension TrainingConfig {
    /// The inspection recipe: AdamW with one-cycle (it leaves the early plateau of small-defect
    /// data much sooner than SGD here) and `StagedRecipe.augmentation`.
    public static func inspection(epochs: Int, batchSize: Int, learningRate: Float, channels: Int, seed: UInt64, loss: LossChoice) -> TrainingConfig {
        var c = TrainingConfig(epochs: epochs, batchSize: batchSize,
                               optimizer: .adamW(learningRate: learningRate, weightDecay: StagedRecipe.weightDecay),
                               schedule: .oneCycle(pctStart: StagedRecipe.warmUpShare), loss: loss,
                               augmentation: StagedRecipe.augmentation,
                               normalization: Normalization(mean: Array(repeating: StagedRecipe.normalizationMean, count: channels),
                                                            std: Array(repeating: StagedRecipe.normalizationStd, count: channels)),
                               seed: seed)
        c.gradientClipNorm = StagedRecipe.gradientClipNorm
        return c
    }

    /// Stage 1 (pass/fail): cross-entropy with `StagedRecipe.stageOneLabelSmoothing` and
    /// class-balanced sampling (defective parts are few).
    public static func stageOne(epochs: Int, batchSize: Int, learningRate: Float, channels: Int, seed: UInt64) -> TrainingConfig {
        var c = inspection(epochs: epochs, batchSize: batchSize, learningRate: learningRate, channels: channels, seed: seed,
                           loss: .crossEntropy(labelSmoothing: StagedRecipe.stageOneLabelSmoothing))
        c.balancedSampling = true
        return c
    }

    /// Stage 2 (which defects): binary cross-entropy with `StagedRecipe.positiveWeights`,
    /// seeded `StagedRecipe.stageTwoSeedOffset` after stage 1.
    public static func stageTwo(epochs: Int, batchSize: Int, learningRate: Float, channels: Int, seed: UInt64, weights: [Float]) -> TrainingConfig {
        inspection(epochs: epochs, batchSize: batchSize, learningRate: learningRate, channels: channels,
                   seed: seed &+ StagedRecipe.stageTwoSeedOffset, loss: .binaryCrossEntropy(positiveWeights: weights))
    }
}

/// Settings of a two-stage training run (stage 1 pass/fail, stage 2 which defects).
public struct StagedOptions: Equatable, Sendable {
    /// The folder (class) name of good parts.
    public var passClass = "good"
    /// Model input in pixels; nil fits it to the data (`InputSize.fitting`): the images'
    /// own aspect ratio, nothing squeezed, the long side at most `InputSize.automaticLongSide`.
    /// With `initFrom`, nil takes the init model's input instead.
    public var inputSize: InputSize?
    /// 1 (gray) or 3 (RGB); nil: RGB when the images are colour (`ImageFolder.hasColour`),
    /// with `initFrom` the init model's.
    public var channels: Int?
    /// Small inspection sets need many passes: at 25 epochs both stages underfit (stage 1
    /// passed 87% of the synthetic training parts right, stage 2's macro-F1 was 0.47); at 60
    /// with the higher rate below they reach 95% and 0.86 (`make bench-quality`).
    public var stage1Epochs = 60
    public var stage2Epochs = 60
    /// The share of the good parts stage 1 draws that get a synthetic defect painted on and
    /// count as defective (`SyntheticDefects`); 0 turns it off. On surface-dev (20 surfaces,
    /// 600 labelled defects; the stage-1 probe, 30 epochs, validation AUROC) 0.5 lifted
    /// stage 1 from memorizing surfaces to learning what a local irregularity is.
    public var syntheticDefectRate: Float = 0.5
    /// The kinds of synthetic defect painted (all by default): a line whose real defects are
    /// of one look can leave out the kinds that would teach stage 1 a look it never meets.
    public var syntheticDefectKinds: [SyntheticDefects.Kind] = SyntheticDefects.Kind.allCases
    /// Stage 2 starts from stage 1's trained layers (its head fresh) instead of from
    /// scratch: stage 1 has learned on every part what a defect looks like, which stage 2's
    /// defective few need to tell the kinds apart.
    public var stageTwoFromStageOne = true
    /// The network of both stages (`Zoo.Architecture`).
    public var architecture: Zoo.Architecture = .small
    /// Width of the small ResNets and the light net (channels of their first stage).
    public var width = 16
    /// Max pool after the stem on inputs >= 96 (off: twice the resolution into the first
    /// stage, for defects a few pixels wide, at about twice the compute). See Zoo.smallResNet.
    public var stemPool = true
    /// Stage 1 averages its logits over each image's four flips (calibration, thresholds
    /// and the daemon alike; the model file records it): on the quality benchmark at 128x128
    /// the same network's AUROC went from 0.990 to 0.998 and its escapes at 5 % false rejects
    /// from 3.10 % to 2.33 %, at four times stage 1's compute (0.8 -> 3.5-3.8 ms on one core).
    public var flipAverage = true
    /// How the last feature map is summarized (see Zoo.GlobalPool).
    public var globalPool: Zoo.GlobalPool = .avgmax
    /// What the network's first layer sees (`Zoo.InputFilter`). A fixed high-pass in front
    /// (the image minus its blur, scaled by its own strength) hands the network the local
    /// irregularities on any surface and in any light instead of making it learn, from a
    /// few hundred defects, to ignore twenty textures and their shading. It pays on
    /// full-frame textured surfaces and costs on parts on a background, so the image stays
    /// the default. On surface-dev (30 epochs, test) `.both` took stage 1's AUC from 0.764
    /// to 0.791, the line's escapes from 3.3 % to 0.6 % and stage-2 macro-F1 from 0.370 to
    /// 0.392; on `linesight synth` plates (60 epochs, 128x128, test) it took the AUC from
    /// 0.998 to 0.995 and, through a validation threshold held low by one faint scratch
    /// beside a hole (the hole's edge dominates the high-pass there), the line's false
    /// rejects from 7.6 % to 53.8 %. Torchvision weights always see the image.
    public var inputFilter: Zoo.InputFilter = .image
    /// The high-pass's blur in input pixels: wider than the defects, narrower than the shading.
    public var highPassSigma = 6.0
    /// A fixed map of each pixel's distance from the image's own surface as one more input
    /// channel (`LayerSpec.anomalyMap`, in front of the input filter).
    public var anomalyMap = false
    public var batchSize = 64
    /// Peak AdamW learning rate of the one-cycle schedule.
    public var learningRate: Float = 0.006
    /// Peak rate when starting from an existing model (retraining, `--init`): low, so what
    /// the model knew is kept while it learns the new labels.
    public var fineTuneLearningRate: Float = 0.0004
    /// Peak rate when only the classifier head trains (`FineTune.head`, `StageTwoRetraining.head`):
    /// the features stay the model's, so the head can move fast. On the rare-defect round
    /// (`make bench-rare`, three seeds each, every rate held the other kinds) 0.01 named the
    /// most new stains and dents; 0.001 and 0.003 named fewer stains, 0.03 fewer of both.
    public var headLearningRate: Float = 0.01
    /// Defect recall the stage-1 pass threshold must keep on the validation split.
    public var targetRecall = 0.99
    /// False rejects of good parts allowed above the fail threshold (validation split).
    public var failBudget = 0.01
    public var seed: UInt64 = 1
    /// Transfer learning: a folder with stage1.safetensors (and stage2.safetensors) to start from.
    public var initFrom: String?
    /// With `initFrom` or `torchvisionWeights`: update every layer (at `fineTuneLearningRate`)
    /// or only the classifier head.
    public var fineTune: FineTune = .all
    /// Transfer learning from a file a user brings: a torchvision `resnet18` state dict
    /// (`.safetensors` or `torch.save`'s `.pth`, e.g. ImageNet weights). Stage 1 starts from
    /// it (`architecture` must be `.resnet18`) with ImageNet's normalization; stage 2 from
    /// stage 1 as usual; both at `fineTuneLearningRate` (or only their heads, with `fineTune`).
    public var torchvisionWeights: String?
    /// A stage-1 model from self-supervised pretraining on unlabeled frames (`Pretrainer`):
    /// stage 1 starts from every weight of it, head included, at the full learning rate; its
    /// network (input, filter, architecture) is both stages' network.
    public var pretrained: String?
    /// Knowledge distillation: a models folder (its stage1.safetensors, and for stage 2 its
    /// stage2.safetensors when it names the same kinds) or a stage-1 model file whose logits
    /// the student learns beside the labels.
    public var teacher: String?
    /// Semi-supervised stage 1 (`SelfTraining`): a folder of unlabeled frames whose sure
    /// pseudo-labels a second, fresh stage 1 learns beside the labels.
    public var unlabeled: String?
    /// The temperature that softens both logits, 1...20.
    public var distillTemperature: Float = 4
    /// The soft targets' share of the loss, (0, 1].
    public var distillWeight: Float = 0.5
    /// What `linesight retrain` fine-tunes in stage 2 (see `StageTwoRetraining`).
    public var retrainStageTwo: StageTwoRetraining = .head
    /// Stage 2 trained here, or one the line already runs (`StageTwoSource`).
    public var stageTwo: StageTwoSource = .train
    public enum FineTune: String, Sendable, CaseIterable { case all, head }
    /// Where a first training's stage 2 comes from.
    public enum StageTwoSource: Equatable, Sendable {
        /// Trained from the data's defect kinds (none when the data has none).
        case train
        /// The stage-2 model file a line already runs for this model set: another product's,
        /// shared in the config, which that product trains. Stage 1 alone is trained; with
        /// `settlesUnsure` (the daemon's `stage2` rule) its pass and fail thresholds are
        /// picked with that model settling the parts between them, as the daemon decides.
        case live(path: String, settlesUnsure: Bool)
    }
    public init() {}

    /// The network of either stage for `input` and `classes`, the input filter in front.
    public func networkSpec(input: Shape, classes: Int) -> NetworkSpec {
        let spec = architecture.spec(input: input, classes: classes, width: width, stemPool: stemPool, globalPool: globalPool)
        guard torchvisionWeights == nil else { return spec }
        let filtered = inputFilter.apply(to: spec, sigma: highPassSigma)
        return anomalyMap ? Zoo.withAnomalyMap(filtered) : filtered
    }
}

/// How `linesight retrain` fine-tunes stage 2 (multi-label defect kinds) from its champion.
///
/// A round's labels are few and often of one kind. On the rare-defect round (`make
/// bench-rare`: 500 new stains) fine-tuning every layer moved the features the other kinds
/// rely on and lost a gate crack in three seeds of three; training only the head re-weighed
/// the champion's features and held every kind in three of three (stains 0.41 -> 0.87-0.90,
/// dents 0.54 -> 0.77). On a balanced round (`make bench-retrain`: 1,000 new parts of every
/// kind) the head-only challenger lost one of 40 gate missing features and every layer held
/// them all; the validation images did not tell the two cases apart (each time they ranked
/// the candidate that then failed the gate first), so there is no automatic choice.
public enum StageTwoRetraining: String, Sendable, CaseIterable {
    /// Only the classifier head, at `headLearningRate`; the layers below keep their weights
    /// and running statistics.
    case head
    /// Every layer, at `fineTuneLearningRate`.
    case all

    public var summary: String { self == .head ? "head only" : "all layers" }
}
