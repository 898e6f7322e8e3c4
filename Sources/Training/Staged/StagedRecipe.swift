import Foundation
import Neural

/// Settings of a two-stage training run (stage 1 pass/fail, stage 2 which defects).
public struct StagedOptions: Equatable, Sendable {
    /// The folder (class) name of good parts.
    public var passClass = "good"
    /// Model input in pixels; nil fits it to the data (`InputSize.fitting`): the images'
    /// own aspect ratio, nothing squeezed, the long side at most `InputSize.automaticLongSide`.
    /// With `initFrom`, nil takes the init model's input instead.
    public var inputSize: InputSize?
    /// 1 (gray) or 3 (RGB).
    public var channels = 1
    /// Small inspection sets need many passes: at 25 epochs both stages underfit (stage 1
    /// passed 87% of the synthetic training parts right, stage 2's macro-F1 was 0.47); at 60
    /// with the higher rate below they reach 95% and 0.86 (`make bench-quality`).
    public var stage1Epochs = 60
    public var stage2Epochs = 60
    /// Width of the small ResNet (channels of its first stage).
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
    /// With `initFrom`: update every layer (at `fineTuneLearningRate`) or only the classifier head.
    public var fineTune: FineTune = .all
    /// What `linesight retrain` fine-tunes in stage 2 (see `StageTwoRetraining`).
    public var retrainStageTwo: StageTwoRetraining = .head
    public enum FineTune: String, Sendable, CaseIterable { case all, head }
    public init() {}
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

/// The model's input in pixels; `N` (square) or `WxH` on the command line.
public struct InputSize: Equatable, Sendable, CustomStringConvertible {
    public var width: Int
    public var height: Int
    public init(width: Int, height: Int) { (self.width, self.height) = (width, height) }

    /// Parses "128" (square) or "256x192" (width x height); nil for anything else.
    public init?(parsing text: String) {
        let parts = text.lowercased().split(separator: "x", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let w = Int(parts[0]), let h = Int(parts.last!) else { return nil }
        (width, height) = (w, h)
    }

    public var description: String { width == height ? "\(width)" : "\(width)x\(height)" }

    /// The long side `fitting` allows. Small, faint defects need pixels: on the quality
    /// benchmark's 256x192 parts the line let 0.78 % of the test defects through at 1.39 %
    /// false rejects at 256x192, and 2.33 % at 3.12 % squeezed into 128x128 (stage 2's
    /// macro-F1: 93.8 and 86.0). Training and inference cost about three times as much.
    public static let automaticLongSide = 256

    /// An input for images of `width` x `height`: their aspect ratio, the long side at most
    /// `longSide` (never enlarged), both sides rounded to a multiple of 8 and at least 16.
    public static func fitting(width: Int, height: Int, longSide: Int = automaticLongSide) -> InputSize {
        let scale = min(1, Double(longSide) / Double(max(width, height, 1)))
        let side = { (n: Int) in max(16, Int((Double(n) * scale / 8).rounded()) * 8) }
        return InputSize(width: side(width), height: side(height))
    }
}

/// Starts `spec` from the weights of the model at `path`: every tensor whose name and size
/// match is copied (a head with another number of classes starts fresh). Returns the network
/// and the names of its head parameters (the last linear layer).
public func warmStart(_ spec: NetworkSpec, from path: String, seed: UInt64) throws -> (network: Network, head: [String], copied: Int) {
    let (source, meta) = try ModelFile.load(path: path)
    guard meta.spec.input == spec.input else {
        throw TrainingError.invalidConfig("\(path) takes \(meta.spec.input) images; this training uses \(spec.input) (set --input-size to match)")
    }
    let net = try Network(spec, seed: seed)
    let from = Dictionary(source.namedParameters.map { ($0.0, $0.1) }, uniquingKeysWith: { a, _ in a })
    var copied = 0
    for (name, p) in net.namedParameters {
        guard let q = from[name], q.value.count == p.value.count else { continue }
        p.value.data.update(from: q.value.data, count: p.value.count)
        copied += 1
    }
    let buffers = Dictionary(source.namedBuffers.map { ($0.0, $0.1) }, uniquingKeysWith: { a, _ in a })
    for (name, t) in net.namedBuffers {
        if let u = buffers[name], u.count == t.count { t.data.update(from: u.data, count: t.count) }
    }
    return (net, headParameterNames(net), copied)
}

/// The parameters of the network's last layer that has any (the classifier head).
public func headParameterNames(_ net: Network) -> [String] {
    guard let last = net.namedParameters.last?.0 else { return [] }
    let layer = Network.layerPrefix(of: last)
    return net.namedParameters.map(\.0).filter { $0.hasPrefix(layer) }
}

/// Stage-1 thresholds picked on validation scores, and what they cost.
public struct PickedThresholds: Equatable, Sendable {
    /// At or below: pass. Keeps `targetRecall` of the defective validation parts above it.
    public var pass: Double
    /// At or above: fail. At most `failBudget` of good validation parts reach it.
    public var fail: Double

    /// Picks thresholds from P(defect) of defective and of good validation parts.
    public static func pick(defectScores: [Double], goodScores: [Double], targetRecall: Double, failBudget: Double) -> PickedThresholds {
        let d = defectScores.sorted(), g = goodScores.sorted(by: >)
        var pass = 0.5
        if !d.isEmpty {
            let misses = Int((Double(d.count) * (1 - targetRecall)).rounded(.down))
            pass = d[min(misses, d.count - 1)] - 1e-6  // everything from the misses-th lowest score up stays above
        }
        var fail = 0.5
        if !g.isEmpty {
            let allowed = Int((Double(g.count) * failBudget).rounded(.down))
            fail = g[min(allowed, g.count - 1)] + 1e-6  // at most `allowed` good parts at or above
        }
        pass = min(max(pass, 0.001), 0.9)
        fail = min(max(fail, pass), 0.999)
        return PickedThresholds(pass: pass, fail: fail)
    }
}

/// Stage-1 figures on a labeled split at given thresholds, with 95% Wilson intervals.
public struct StageOneReport: Codable, Equatable, Sendable {
    public var defective: Int
    public var good: Int
    /// Defective parts at or below the pass threshold (they would ship).
    public var escapes: Int
    /// Good parts at or above the fail threshold.
    public var falseRejects: Int
    /// Parts inside the band (stage 2 and a human settle them).
    public var unsure: Int
    /// Good parts above the pass threshold: the false-reject rate if every part not
    /// confidently passed were rejected (the one-threshold view of stage 1).
    public var notPassedGood: Int
    public var notPassedGoodRate: Double
    public var escapeRate: Double
    public var escapeRateCI: [Double]
    public var falseRejectRate: Double
    public var falseRejectRateCI: [Double]

    public init(defectScores: [Double], goodScores: [Double], thresholds t: PickedThresholds) {
        defective = defectScores.count
        good = goodScores.count
        escapes = defectScores.filter { $0 <= t.pass }.count
        falseRejects = goodScores.filter { $0 >= t.fail }.count
        unsure = (defectScores + goodScores).filter { $0 > t.pass && $0 < t.fail }.count
        notPassedGood = goodScores.filter { $0 > t.pass }.count
        notPassedGoodRate = good == 0 ? 0 : Double(notPassedGood) / Double(good)
        escapeRate = defective == 0 ? 0 : Double(escapes) / Double(defective)
        escapeRateCI = wilson(escapes, defective)
        falseRejectRate = good == 0 ? 0 : Double(falseRejects) / Double(good)
        falseRejectRateCI = wilson(falseRejects, good)
    }
}

/// The line's decision on a split, as the daemon makes it by default: stage 1 passes at or
/// below `pass` and fails at or above `fail`; between the two (unsure) stage 2 decides, and
/// any defect kind at or over its threshold fails the part.
public struct LineDecisionReport: Codable, Equatable, Sendable {
    public var defective: Int
    public var good: Int
    /// Defective parts the line passes (they would ship).
    public var escapes: Int
    /// Good parts the line fails.
    public var falseRejects: Int
    /// Unsure parts that stage 2 settled.
    public var settledByStage2: Int
    public var escapeRate: Double
    public var escapeRateCI: [Double]
    public var falseRejectRate: Double
    public var falseRejectRateCI: [Double]

    /// `stage1`: calibrated P(defect) per part; `stage2`: per part, the kinds' scores;
    /// `defective`: the truth.
    public init(stage1: [Double], stage2: [[Float]], kindThresholds: [Double], defective truth: [Bool], thresholds t: PickedThresholds) {
        var esc = 0, fr = 0, settled = 0
        for i in stage1.indices {
            if stage1[i] > t.pass && stage1[i] < t.fail { settled += 1 }
            let fails = Self.fails(stage1: stage1[i], stage2: stage2[i], kindThresholds: kindThresholds, t)
            if truth[i] && !fails { esc += 1 }
            if !truth[i] && fails { fr += 1 }
        }
        defective = truth.filter { $0 }.count
        good = truth.count - defective
        escapes = esc
        falseRejects = fr
        settledByStage2 = settled
        escapeRate = defective == 0 ? 0 : Double(esc) / Double(defective)
        escapeRateCI = wilson(esc, defective)
        falseRejectRate = good == 0 ? 0 : Double(fr) / Double(good)
        falseRejectRateCI = wilson(fr, good)
    }

    /// The line's call on one part: stage 1 decides outside its band, stage 2 inside it.
    public static func fails(stage1 p: Double, stage2 scores: [Float], kindThresholds: [Double], _ t: PickedThresholds) -> Bool {
        if p >= t.fail { return true }
        if p <= t.pass { return false }
        return zip(scores, kindThresholds).contains { Double($0) >= $1 }
    }
}

/// The 95% Wilson score interval of k successes in n trials.
public func wilson(_ k: Int, _ n: Int, z: Double = 1.96) -> [Double] {
    guard n > 0 else { return [0, 1] }
    let p = Double(k) / Double(n), nn = Double(n)
    let center = (p + z * z / (2 * nn)) / (1 + z * z / nn)
    let half = z * ((p * (1 - p) / nn + z * z / (4 * nn * nn)).squareRoot()) / (1 + z * z / nn)
    return [max(0, center - half), min(1, center + half)]
}

extension TrainingConfig {
    /// The inspection recipe: AdamW with one-cycle (it leaves the early plateau of small-defect
    /// data much sooner than SGD here), augmentation suited to parts
    /// on a line (flips, small rotations, brightness/contrast, sensor noise, shifts).
    public static func inspection(epochs: Int, batchSize: Int, learningRate: Float, channels: Int, seed: UInt64, loss: LossChoice) -> TrainingConfig {
        var c = TrainingConfig(epochs: epochs, batchSize: batchSize,
                               optimizer: .adamW(learningRate: learningRate, weightDecay: 0.01),
                               schedule: .oneCycle(pctStart: 0.25), loss: loss,
                               augmentation: Augmentation(cropPadding: 4, horizontalFlip: true, verticalFlip: true, rotationDegrees: 8,
                                                          brightness: 0.1, contrast: 0.1, noiseStd: 0.02),
                               normalization: Normalization(mean: Array(repeating: 0.5, count: channels), std: Array(repeating: 0.25, count: channels)),
                               seed: seed)
        c.gradientClipNorm = 5
        return c
    }
}
