import Foundation
import Neural

/// A trained stage with its model-file metadata.
public struct TrainedStage {
    public var network: Network
    public var metadata: ModelMetadata

    public init(network: Network, metadata: ModelMetadata) {
        (self.network, self.metadata) = (network, metadata)
    }
}

/// Trains stage 1 (pass/fail) and stage 2 (multi-label defect kinds) from an ImageFolder
/// tree, in named steps: `load` (scan, input size, pixels, the 7:2:1 split of
/// `StagedRecipe`), `trainStageOne` (balanced sampling), `calibrate` (temperature scaling
/// and thresholds picked on the validation split for the target defect recall, figures on
/// the test split), `trainStageTwo` (positive class weights, per-kind thresholds, the
/// line's decision on the test split). The recipe's fixed choices are `StagedRecipe`.
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
        let data = try load()
        if case .live(let path, let settles) = options.stageTwo {
            // read before stage 1 trains: a file that is not there fails now, not after the training
            let live = settles ? try LiveStageTwo(path: path, input: data.all.shape) : nil
            let one = try trainStageOne(data)
            let (line, decided) = withLiveStageTwo(live, path: path, settlesUnsure: settles, one, calibrate(one, data))
            return result(data, one, line, nil, live: decided)
        }
        let one = try trainStageOne(data)
        let calibration = calibrate(one, data)
        let two = data.kinds.isEmpty ? nil : try trainStageTwo(data, calibration, one)
        // with stage 2, the line's operating point replaces stage 1's own thresholds
        let line = two.map { calibration.at($0.operatingPoint.thresholds, one.validation.labels, one.test.labels) } ?? calibration
        return result(data, one, line, two)
    }

    /// The labeled images of the folder, loaded at the model's input and split 7:2:1.
    struct Split {
        var size: InputSize
        var kept: [LabeledImage]
        var skipped: [String]
        var kinds: [String]
        /// Every kept image: stage-1 labels (0 good, 1 defect) and stage-2 kind masks.
        var all: ImageDataset
        var train: [Int], validation: [Int], test: [Int]
        var dataHash: String
        var source: String
    }

    func load() throws -> Split {
        let o = options
        let folders = ImageFolder.presplit(directory)
        var isDir: ObjCBool = false
        if folders == nil, FileManager.default.fileExists(atPath: directory + "/train", isDirectory: &isDir), isDir.boolValue {
            throw TrainingError.dataset(path: directory, reason: "it has train/ but no val/ (or valid/, validation/): thresholds are picked on a validation split; add one, or give a tree of class folders to be split 7:2:1")
        }
        let items = try folders.map { try ImageFolder.scan(directory, $0, passClass: o.passClass) } ?? ImageFolder.scan(directory, passClass: o.passClass)
        let (size, source) = try resolvedInputSize(items)
        let (channels, colourSource) = try resolvedChannels(items)
        onStage?("model input: \(size)\(source), \(channels == 3 ? "RGB" : "gray")\(colourSource)", 0, 0)
        let shape = Shape(channels, size.height, size.width)
        let total = items.count
        let loaded = try ImageFolder.load(directory, items, shape: shape, workers: Compute.current().threads) { [onLoad] in onLoad?($0, total) }
        let kept = loaded.kept
        guard kept.contains(where: { $0.defects.isEmpty }), kept.contains(where: { !$0.defects.isEmpty }) else {
            throw TrainingError.dataset(path: directory, reason: "stage 1 needs both good parts ('\(o.passClass)') and defective ones")
        }
        let kinds = Array(Set(kept.flatMap(\.defects))).sorted()
        guard kinds.count <= 32 else { throw TrainingError.dataset(path: directory, reason: "more than 32 defect kinds") }
        let all = ImageDataset(shape: shape, classNames: [o.passClass, "defect"], pixels: loaded.pixels,
                               labels: kept.map { $0.defects.isEmpty ? 0 : 1 },
                               multiLabels: kept.map { item in item.defects.reduce(UInt32(0)) { $0 | (1 << UInt32(kinds.firstIndex(of: $1)!)) } })
        let files = kept.map(\.file)
        let (train, validation, test): ([Int], [Int], [Int])
        if let folders {
            func under(_ sub: String?) -> [Int] { sub.map { s in files.indices.filter { files[$0].hasPrefix(s + "/") } } ?? [] }
            (train, validation) = (under(folders.train), under(folders.validation))
            test = folders.test == nil ? validation : under(folders.test)
        } else {
            (train, validation, test) = (StagedRecipe.indices(files, in: StagedRecipe.trainBuckets),
                                         StagedRecipe.indices(files, in: StagedRecipe.validationBuckets),
                                         StagedRecipe.indices(files, in: StagedRecipe.testBuckets))
        }
        return Split(size: size, kept: kept, skipped: loaded.skipped, kinds: kinds, all: all,
                     train: train, validation: validation, test: test, dataHash: Self.dataHash(kept),
                     source: folders.map { "the tree's own " + $0.all.map { $0 + "/" }.joined(separator: ", ") + ($0.test == nil ? " (no test/: test figures are validation's)" : "") } ?? "7:2:1 by file hash")
    }

    /// The option's channel count; else the init model's; else the shared stage 2's (when it
    /// settles the unsure parts); else RGB when the images are colour.
    func resolvedChannels(_ items: [LabeledImage]) throws -> (Int, source: String) {
        if let c = options.channels { return (c, "") }
        if let file = options.pretrained { return (try ModelFile.load(path: file).metadata.spec.input.channels, " (the pretrained model's)") }
        if let dir = options.initFrom, FileManager.default.fileExists(atPath: "\(dir)/stage1.safetensors") {
            return (try ModelFile.load(path: "\(dir)/stage1.safetensors").metadata.spec.input.channels, " (the --init model's)")
        }
        if let input = try sharedStageTwoInput() { return (input.channels, " (the shared stage 2's, which settles stage 1's unsure parts)") }
        return try ImageFolder.hasColour(directory, items) ? (3, " (the images are colour; --colour gray to choose)") : (1, " (the images are gray)")
    }

    /// Stage 1 trained, with the splits it saw and its recipe.
    struct StageOne {
        var network: Network
        var spec: NetworkSpec
        var config: TrainingConfig
        var validation: ImageDataset, test: ImageDataset
        /// With `--unlabeled`: what self-training did (the network is then the student).
        var selfTraining: SelfTraining.Summary?
    }

    /// Stage 1: pass/fail, balanced sampling.
    func trainStageOne(_ d: Split) throws -> StageOne {
        let o = options
        let train = singleLabel(d.all.subset(d.train)), val = singleLabel(d.all.subset(d.validation)), test = singleLabel(d.all.subset(d.test))
        onStage?("stage 1: pass/fail", train.count, val.count)
        let spec = try initSpec("stage1", default: o.networkSpec(input: d.all.shape, classes: 2), classes: 2)
        var config = stageOneConfig(spec)
        let unlabeled = try unlabeledFrames(d)
        let net = try network(spec, "stage1", &config)
        try self.train(net, config, train, val, distillation: try teacher())
        let one = StageOne(network: net, spec: spec, config: config, validation: val, test: test)
        return try unlabeled.map { try selfTrained(one, $0, train: train) } ?? one
    }

    /// Stage 1's training recipe before any starting weights adjust it.
    func stageOneConfig(_ spec: NetworkSpec) -> TrainingConfig {
        let o = options
        var config = TrainingConfig.stageOne(epochs: o.stage1Epochs, batchSize: o.batchSize, learningRate: o.learningRate, channels: spec.input.channels, seed: o.seed)
        if o.syntheticDefectRate > 0 { config.syntheticDefects = SyntheticDefects(rate: o.syntheticDefectRate, kinds: o.syntheticDefectKinds) }
        config.augmentation = StagedRecipe.augmentation(for: spec)
        return config
    }

    /// Stage 1 calibrated (temperature scaling on validation), its thresholds picked on the
    /// calibrated validation scores, and its figures on validation and test.
    struct Calibration {
        var temperature: Double
        var ece: (before: Double, after: Double)
        /// The fitted temperature would have made the ECE worse; T = 1 kept.
        var fellBack: Bool
        var thresholds: PickedThresholds
        var validation: StageOneReport, test: StageOneReport
        /// Calibrated P(defect) of each validation and test image, in split order.
        var validationProbabilities: [Double]
        var testProbabilities: [Double]

        /// The same calibration at other thresholds (the line's operating point).
        func at(_ t: PickedThresholds, _ valLabels: [Int32], _ testLabels: [Int32]) -> Calibration {
            func report(_ p: [Double], _ labels: [Int32]) -> StageOneReport {
                StageOneReport(defectScores: zip(p, labels).filter { $0.1 != 0 }.map(\.0), goodScores: zip(p, labels).filter { $0.1 == 0 }.map(\.0), thresholds: t)
            }
            var c = self
            c.thresholds = t
            (c.validation, c.test) = (report(validationProbabilities, valLabels), report(testProbabilities, testLabels))
            return c
        }
    }

    func calibrate(_ one: StageOne, _ d: Split) -> Calibration {
        let o = options
        let valLogits = logits(one.network, on: one.validation, normalization: one.config.normalization, flipAverage: o.flipAverage)
        let fit = StageOneCalibration.fit(valLogits, one.validation.labels, targetRecall: o.targetRecall, failBudget: o.failBudget)
        let (temperature, t, valScores, ece) = (fit.temperature, fit.thresholds, fit.scores, fit.ece)
        let testLogits = logits(one.network, on: one.test, normalization: one.config.normalization, flipAverage: o.flipAverage)
        let testScores = StageOneCalibration.split(testLogits, one.test.labels, temperature: temperature)
        return Calibration(temperature: temperature, ece: ece, fellBack: fit.fellBack, thresholds: t,
                           validation: StageOneReport(defectScores: valScores.defect, goodScores: valScores.good, thresholds: t),
                           test: StageOneReport(defectScores: testScores.defect, goodScores: testScores.good, thresholds: t),
                           validationProbabilities: valLogits.map { StageOneCalibration.defectProbability($0, temperature: temperature) },
                           testProbabilities: testLogits.map { StageOneCalibration.defectProbability($0, temperature: temperature) })
    }

    /// The option's input size; else the init model's (its weights only fit that input);
    /// else the shared stage 2's (when it settles the unsure parts); else the images' typical
    /// size fitted to `InputSize.automaticLongSide`. With where it came from, for the log line.
    func resolvedInputSize(_ items: [LabeledImage]) throws -> (InputSize, source: String) {
        if let size = options.inputSize { return (size, "") }
        if let file = options.pretrained {
            let input = try ModelFile.load(path: file).metadata.spec.input
            return (InputSize(width: input.width, height: input.height), " (the pretrained model's)")
        }
        if let dir = options.initFrom, FileManager.default.fileExists(atPath: "\(dir)/stage1.safetensors") {
            let input = try ModelFile.load(path: "\(dir)/stage1.safetensors").metadata.spec.input
            return (InputSize(width: input.width, height: input.height), " (the --init model's)")
        }
        if let input = try sharedStageTwoInput() {
            return (InputSize(width: input.width, height: input.height), " (the shared stage 2's, which settles stage 1's unsure parts)")
        }
        let native = try ImageFolder.typicalSize(directory, items)
        return (InputSize.fitting(width: native.width, height: native.height), " (fitted to the images; --input-size to choose)")
    }

    /// The input of the line's shared stage 2 when it settles the unsure parts
    /// (`StagedOptions.StageTwoSource.live`): stage 1 takes the same images unless told
    /// otherwise, so that its thresholds can be picked with that model's scores.
    func sharedStageTwoInput() throws -> Shape? {
        guard case .live(let path, true) = options.stageTwo else { return nil }
        return try ModelFile.load(path: path).metadata.spec.input
    }

    /// The architecture: the init model's (with this data's class count) or the default.
    func initSpec(_ stage: String, default spec: NetworkSpec, classes: Int) throws -> NetworkSpec {
        let file: String
        if let pretrained = options.pretrained {
            file = pretrained
        } else {
            guard let dir = options.initFrom, FileManager.default.fileExists(atPath: "\(dir)/\(stage).safetensors") else { return spec }
            file = "\(dir)/\(stage).safetensors"
        }
        let (_, meta) = try ModelFile.load(path: file)
        guard meta.spec.input == spec.input else {
            throw TrainingError.invalidConfig("\(file) takes \(meta.spec.input) images; this training loads \(spec.input) (leave out --input-size and --colour to take the model's)")
        }
        var s = meta.spec
        guard case .linear(_, let bias) = s.layers.last else {
            if options.pretrained != nil { throw TrainingError.invalidConfig("\(file) does not end in a classifier head; `linesight pretrain` writes the models --pretrained starts from") }
            return spec
        }
        if options.pretrained != nil, meta.task != .multiclass || meta.classes.count != 2 {
            throw TrainingError.invalidConfig("\(file) is not a stage-1 model (pass/fail); `linesight pretrain` writes the models --pretrained starts from")
        }
        s.layers[s.layers.count - 1] = .linear(out: classes, bias: bias)
        return s
    }

    /// A fresh network, or one warm-started from the init model at the fine-tuning rate
    /// (only its head trained with `--fine-tune head`).
    func network(_ spec: NetworkSpec, _ stage: String, _ config: inout TrainingConfig) throws -> Network {
        if stage == "stage1", let file = options.torchvisionWeights {
            let loaded = try TorchvisionWeights.resnet18(spec, from: file, seed: options.seed)
            fineTuning(&config, loaded.network)
            config.normalization = Self.torchvisionNormalization(channels: spec.input.channels)
            onStage?("stage1: starting from the torchvision weights in \(file) (\(loaded.copied) tensors copied\(loaded.freshHead ? ", a fresh head" : "")\(loaded.grayStem ? ", the stem summed for gray" : ""), fine-tuning \(options.fineTune.rawValue))", 0, 0)
            return loaded.network
        }
        if stage == "stage1", let file = options.pretrained {
            let (source, meta) = try ModelFile.load(path: file)  // its network is `spec` (`initSpec`)
            let (net, copied) = try warmStart(spec, from: source, seed: options.seed)
            // its weights were learnt on inputs normalized so
            if meta.normalization.mean.count == spec.input.channels { config.normalization = Normalization(mean: meta.normalization.mean, std: meta.normalization.std) }
            onStage?("stage1: starting from the pretrained \(file) (\(copied) tensors copied, every layer at the full rate)", 0, 0)
            return net
        }
        guard let dir = options.initFrom, FileManager.default.fileExists(atPath: "\(dir)/\(stage).safetensors") else {
            return try Network(spec, seed: options.seed)
        }
        let (net, _, copied) = try warmStart(spec, from: "\(dir)/\(stage).safetensors", seed: options.seed)
        // the init model's normalization: its weights were learnt on inputs normalized so
        let norm = try ModelFile.load(path: "\(dir)/\(stage).safetensors").metadata.normalization
        if norm.mean.count == spec.input.channels { config.normalization = Normalization(mean: norm.mean, std: norm.std) }
        fineTuning(&config, net)
        onStage?("\(stage): starting from \(dir)/\(stage).safetensors (\(copied) tensors copied, fine-tuning \(options.fineTune.rawValue))", 0, 0)
        return net
    }

    /// Training weights learnt elsewhere (`--init`, `--torchvision`): every layer at the low
    /// fine-tuning rate, or only the classifier head (`--fine-tune head`) at the head's rate.
    func fineTuning(_ config: inout TrainingConfig, _ net: Network) {
        let headOnly = options.fineTune == .head
        config.optimizer = .adamW(learningRate: headOnly ? options.headLearningRate : options.fineTuneLearningRate, weightDecay: StagedRecipe.weightDecay)
        if headOnly { config.trainOnly = headParameterNames(net) }
    }

    /// ImageNet's normalization, for networks started from torchvision's weights (gray: the
    /// mean of the three channels' means and deviations).
    static func torchvisionNormalization(channels: Int) -> Normalization {
        let m = TorchvisionWeights.imagenetMean, s = TorchvisionWeights.imagenetStd
        return channels == 3 ? Normalization(mean: m, std: s) : Normalization(mean: [m.reduce(0, +) / 3], std: [s.reduce(0, +) / 3])
    }

    func train(_ net: Network, _ config: TrainingConfig, _ train: ImageDataset, _ val: ImageDataset,
               distillation: Distillation? = nil) throws {
        try StageProgress(onBatch: onBatch, onEpoch: onEpoch).train(net, config, train: train, validation: val, distillation: distillation)
    }

    /// `--teacher`: the stage-1 model of a models folder (or the file given), whose logits
    /// stage 1 learns beside the labels (`Distillation`).
    func teacher() throws -> Distillation? {
        guard let path = options.teacher else { return nil }
        var isDir: ObjCBool = false
        let file = FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue ? path + "/stage1.safetensors" : path
        let (net, meta) = try ModelFile.load(path: file)
        guard meta.task == .multiclass, meta.classes.count == 2 else {
            throw TrainingError.invalidConfig("--teacher \(file) is not a stage-1 model (pass/fail)")
        }
        let d = try Distillation(teacher: net, normalization: Normalization(mean: meta.normalization.mean, std: meta.normalization.std),
                                 temperature: options.distillTemperature, weight: options.distillWeight)
        onStage?("stage1: distilling from \(file) (\(meta.spec.name), temperature \(options.distillTemperature), soft-target weight \(options.distillWeight))", 0, 0)
        return d
    }

    /// `--teacher` for stage 2: the stage-2 model of the teacher's models folder, when it
    /// names the same defect kinds in the same order (its outputs are those kinds); else
    /// stage 2 trains on its labels alone, and says why.
    func stageTwoTeacher(kinds: [String], input: Shape) throws -> Distillation? {
        guard let path = options.teacher else { return nil }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue,
              FileManager.default.fileExists(atPath: path + "/stage2.safetensors") else {
            onStage?("stage 2: no teacher (\(path) is not a models folder with a stage2.safetensors); it learns from its labels alone", 0, 0)
            return nil
        }
        let file = path + "/stage2.safetensors"
        let (net, meta) = try ModelFile.load(path: file)
        let reason = meta.task != .multilabel ? "\(file) is not a multi-label stage-2 model"
            : meta.classes != kinds ? "\(file) names the kinds \(meta.classes.joined(separator: ", ")), this data \(kinds.joined(separator: ", "))"
            : meta.spec.input != input ? "\(file) takes \(meta.spec.input) images, this training \(input)" : nil
        if let reason {
            onStage?("stage 2: no teacher (\(reason)); it learns from its labels alone", 0, 0)
            return nil
        }
        let d = try Distillation(teacher: net, normalization: Normalization(mean: meta.normalization.mean, std: meta.normalization.std),
                                 temperature: options.distillTemperature, weight: options.distillWeight)
        onStage?("stage2: distilling from \(file) (\(meta.spec.name), each kind's sigmoid at temperature \(options.distillTemperature), soft-target weight \(options.distillWeight))", 0, 0)
        return d
    }

    func singleLabel(_ d: ImageDataset) -> ImageDataset {
        ImageDataset(shape: d.shape, classNames: d.classNames, pixels: d.pixels, labels: d.labels)
    }

    func multiLabel(_ d: ImageDataset, _ kinds: [String]) -> ImageDataset {
        ImageDataset(shape: d.shape, classNames: kinds, pixels: d.pixels, labels: d.labels, multiLabels: d.multiLabels)
    }

    /// A short fingerprint of the file list and labels (recorded in the model files).
    static func dataHash(_ items: [LabeledImage]) -> String {
        let h = items.reduce(FNV1a.offsetBasis) { FNV1a.hash(($1.file + "," + $1.defects.joined(separator: "+") + "\n").utf8, from: $0) }
        return String(format: "fnv1a64:%016llx:%d", h, items.count)
    }
}
