import Foundation
import Neural

/// What a multi-label model did on a labeled set, at a 0.5 decision threshold per class.
public struct MultiLabelEvaluation: Sendable {
    public var classNames: [String]
    /// Share of samples whose whole predicted set equals the true set.
    public var exactMatch: Double
    public var loss: Double
    public var truePositives: [Int], falsePositives: [Int], falseNegatives: [Int]
    /// Sigmoid probabilities per sample (kept only when asked for).
    public var probabilities: [[Float]]

    public func precision(_ c: Int) -> Double { ratio(truePositives[c], truePositives[c] + falsePositives[c]) }
    public func recall(_ c: Int) -> Double { ratio(truePositives[c], truePositives[c] + falseNegatives[c]) }
    public func f1(_ c: Int) -> Double {
        let p = precision(c), r = recall(c)
        return p + r == 0 ? 0 : 2 * p * r / (p + r)
    }
    /// Mean F1 over the classes that occur (in truth or prediction).
    public var macroF1: Double {
        let present = classNames.indices.filter { truePositives[$0] + falsePositives[$0] + falseNegatives[$0] > 0 }
        return present.isEmpty ? 0 : present.map(f1).reduce(0, +) / Double(present.count)
    }

    private func ratio(_ a: Int, _ b: Int) -> Double { b == 0 ? 0 : Double(a) / Double(b) }
}

/// Runs a multi-label network in eval mode over a dataset.
public func evaluateMultiLabel(_ network: Network, on data: ImageDataset, normalization: Normalization,
                               batchSize: Int = 256, keepProbabilities: Bool = false) -> MultiLabelEvaluation {
    let c = network.outputShape.count
    var ev = MultiLabelEvaluation(classNames: data.classNames, exactMatch: 0, loss: 0, truePositives: .init(repeating: 0, count: c),
                                  falsePositives: .init(repeating: 0, count: c), falseNegatives: .init(repeating: 0, count: c),
                                  probabilities: [])
    let bce = SigmoidBinaryCrossEntropy()
    var exact = 0, loss = 0.0
    forEachBatch(network, data, normalization, batchSize) { start, end, logits, _ in
        let targets = data.targets(start..<end)
        loss += Double(bce(logits, targets, grad: nil)) * Double(end - start)
        exact += exactMatches(logits, targets)
        for i in 0..<(end - start) {
            var row = [Float](repeating: 0, count: c)
            for k in 0..<c {
                let z = logits.data[i * c + k]
                row[k] = 1 / (1 + exp(-z))
                let predicted = z > 0, truth = targets[i * c + k] > 0.5
                if predicted && truth { ev.truePositives[k] += 1 } else if predicted { ev.falsePositives[k] += 1 } else if truth { ev.falseNegatives[k] += 1 }
            }
            if keepProbabilities { ev.probabilities.append(row) }
        }
    }
    let n = Double(max(1, data.count))
    ev.exactMatch = Double(exact) / n
    ev.loss = loss / n
    return ev
}

/// Samples whose predicted label set (logit > 0) equals the target set.
func exactMatches(_ logits: Tensor, _ targets: [Float]) -> Int {
    let c = logits.sampleCount
    var hits = 0
    for i in 0..<logits.batch {
        var same = true
        for k in 0..<c where (logits.data[i * c + k] > 0) != (targets[i * c + k] > 0.5) { same = false; break }
        if same { hits += 1 }
    }
    return hits
}

/// Per-class precision, recall and F1 of multi-label probabilities at per-class thresholds.
public struct MultiLabelScores: Equatable, Sendable {
    public var thresholds: [Double]
    public var precision: [Double]
    public var recall: [Double]
    public var f1: [Double]
    /// Mean F1 over the classes that occur (in truth or prediction), as `MultiLabelEvaluation`.
    public var macroF1: Double

    /// `probabilities[i][k]`, `masks[i]` bit k = sample i carries class k.
    public init(_ probabilities: [[Float]], _ masks: [UInt32], thresholds: [Double]) {
        let c = thresholds.count
        var tp = [Int](repeating: 0, count: c), fp = tp, fn = tp
        for (row, mask) in zip(probabilities, masks) {
            for k in 0..<c {
                let predicted = Double(row[k]) >= thresholds[k], truth = mask & (1 << UInt32(k)) != 0
                if predicted && truth { tp[k] += 1 } else if predicted { fp[k] += 1 } else if truth { fn[k] += 1 }
            }
        }
        func ratio(_ a: Int, _ b: Int) -> Double { b == 0 ? 0 : Double(a) / Double(b) }
        self.thresholds = thresholds
        precision = (0..<c).map { ratio(tp[$0], tp[$0] + fp[$0]) }
        recall = (0..<c).map { ratio(tp[$0], tp[$0] + fn[$0]) }
        let scores = (0..<c).map { k in
            let p = ratio(tp[k], tp[k] + fp[k]), r = ratio(tp[k], tp[k] + fn[k])
            return p + r == 0 ? 0 : 2 * p * r / (p + r)
        }
        f1 = scores
        let present = (0..<c).filter { tp[$0] + fp[$0] + fn[$0] > 0 }
        macroF1 = present.isEmpty ? 0 : present.map { scores[$0] }.reduce(0, +) / Double(present.count)
    }

    /// Per class, the threshold in 0.05...0.95 with the best F1 on these samples (ties: the
    /// one nearest 0.5); 0.5 for a class with no positive sample.
    ///
    /// With `recallFloor` (per class), only thresholds that keep the class's recall on these
    /// samples at or above the floor compete on F1; when none does, the highest threshold
    /// with the best reachable recall is taken. A retrained model uses it to hold each kind's
    /// recall at its champion's level on the same images, instead of trading recall for
    /// precision and looking forgetful at its gate.
    public static func pick(_ probabilities: [[Float]], _ masks: [UInt32], classes: Int, recallFloor: [Double]? = nil) -> [Double] {
        (0..<classes).map { k in
            let scores = probabilities.map { Double($0[k]) }
            let truth = masks.map { $0 & (1 << UInt32(k)) != 0 }
            let positives = truth.filter { $0 }.count
            guard positives > 0 else { return 0.5 }
            let floor = recallFloor?[k] ?? 0
            var best = (f1: -1.0, t: 0.5), fallback = (recall: -1.0, t: 0.05)
            for step in 5...95 {
                let t = Double(step) / 100
                var tp = 0, fp = 0
                for (s, y) in zip(scores, truth) where s >= t { if y { tp += 1 } else { fp += 1 } }
                let recall = Double(tp) / Double(positives)
                if recall >= fallback.recall - 1e-12 { fallback = (recall, t) }
                guard recall >= floor - 1e-12 else { continue }
                let f1 = 2 * Double(tp) / Double(2 * tp + fp + (positives - tp))
                if f1 > best.f1 + 1e-12 || (abs(f1 - best.f1) <= 1e-12 && abs(t - 0.5) < abs(best.t - 0.5)) { best = (f1, t) }
            }
            return best.f1 < 0 ? fallback.t : best.t
        }
    }
}
