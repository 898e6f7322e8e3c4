import Foundation
import Neural

/// The line's operating point, chosen for the line as a whole: the stage-1 pass and fail
/// thresholds and a floor under stage 2's per-kind thresholds, picked together on the
/// validation split for the fewest false rejects of good parts subject to the escapes the
/// target defect recall allows.
///
/// Picking stage 1's thresholds for recall alone and stage 2's kinds for their F1 leaves the
/// line's false rejects to chance: stage 2's thresholds are fitted on defective parts plus as
/// many good ones, but the parts it settles on a line are mostly good, so a kind threshold
/// that is right for naming a defect can fail nine good parts in ten. Here every candidate
/// is judged by the daemon's own rule (`LineDecisionReport.fails`).
public enum LineOperatingPoint {
    public struct Choice: Equatable, Sendable {
        public var thresholds: PickedThresholds
        /// Stage 2's per-kind thresholds with the floor applied.
        public var kindThresholds: [Double]
        public var floor: Double
        public var escapes: Int
        public var falseRejects: Int
    }

    /// Floors tried under stage 2's per-kind thresholds (0: the thresholds as picked).
    public static let floors: [Double] = [0, 0.3, 0.5, 0.7, 0.9, 0.97]

    /// `stage1`: calibrated P(defect) of every validation part; `stage2`: its kinds' scores;
    /// `defective`: the truth. The escapes allowed are those `targetRecall` leaves
    /// (rounded down); among the choices within them, the fewest false rejects, then the
    /// fewest escapes, then the narrowest band (fewer parts for stage 2). `floors`: those
    /// tried (`[0]` keeps stage 2's thresholds as they are, as a retrain of stage 1 must).
    public static func pick(stage1: [Double], stage2: [[Float]], kindThresholds: [Double], defective: [Bool],
                            targetRecall: Double, floors: [Double] = LineOperatingPoint.floors) -> Choice {
        let n = stage1.count
        precondition(stage2.count == n && defective.count == n, "one entry per part")
        // a score that is not a number fails the part, as in the daemon (`Judgement.decide`)
        let stage1 = stage1.map { $0.isFinite ? $0 : Double.infinity }
        let defects = defective.filter { $0 }.count
        let allowed = Int((Double(defects) * (1 - targetRecall) + 1e-9).rounded(.down))
        // pass thresholds just below a defective part's score (or 0): every defect at or below
        // one escapes, so only the allowed-plus-one lowest defect scores can be the threshold
        let lowest = zip(stage1, defective).filter(\.1).map(\.0).sorted().prefix(allowed + 1)
        let passes = Set([0.0] + lowest.map { max(0, $0 - 1e-6) }).sorted()
        // fail thresholds just above a good part's score (or 0: fail everything, or 1)
        let fails = Set([0.0, 1.0] + zip(stage1, defective).filter { !$0.1 && $0.0.isFinite }.map { min(1, $0.0 + 1e-6) }).sorted()
        // stage 2's verdict per part and floor, computed once
        let says = floors.map { f in stage2.map { s in zip(s, kindThresholds).contains { Double($0) >= max($1, f) } || s.contains { !$0.isFinite } } }
        var best: (fr: Int, esc: Int, band: Int, choice: Choice)?
        for (fi, floor) in floors.enumerated() {
            for p in passes {
                for f in fails where f >= p {
                    var esc = 0, fr = 0, band = 0
                    for i in 0..<n {
                        let s = stage1[i]
                        // the daemon's rule: fail at or above f, pass at or below p, else stage 2
                        let fail: Bool
                        if s >= f { fail = true } else if s <= p { fail = false } else { fail = says[fi][i]; band += 1 }
                        if defective[i] && !fail { esc += 1 }
                        if !defective[i] && fail { fr += 1 }
                    }
                    guard esc <= allowed else { continue }
                    if let b = best, (b.fr, b.esc, b.band) <= (fr, esc, band) { continue }
                    best = (fr, esc, band, Choice(thresholds: PickedThresholds(pass: p, fail: f),
                                                  kindThresholds: kindThresholds.map { max($0, floor) }, floor: floor,
                                                  escapes: esc, falseRejects: fr))
                }
            }
        }
        // p = f = 0 fails every part: always within the allowed escapes
        return best!.choice
    }
}

/// A stage-2 model file the line runs, scoring images as the daemon does (sigmoids of its
/// flip-averaged logits when its metadata says so, in int8 when it holds calibrated ranges)
/// at its own per-kind thresholds: what
/// stage 1's thresholds are picked with when stage 2 is not trained in the same run (a retrain
/// of stage 1, a first training beside another product's shared stage 2).
struct LiveStageTwo {
    let network: Network
    let metadata: ModelMetadata
    /// Its int8 network when the file holds calibrated ranges (built when the file is read,
    /// so one that cannot be fails before stage 1 trains).
    let int8: QuantizedNetwork?

    /// Nil when the file is not a multi-label model of `input` (its scores would not be
    /// those of the same images: stage 1's thresholds are then picked for stage 1 alone).
    init?(path: String, input: Shape) throws {
        let (net, meta) = try ModelFile.load(path: path)
        guard meta.task == .multilabel, meta.spec.input == input else { return nil }
        (network, metadata) = (net, meta)
        int8 = try meta.quantization.map { try QuantizedNetwork(net, quantization: $0) }
    }

    /// Each image's kind scores, in int8 for an int8 model (as the daemon runs it).
    func scores(_ d: ImageDataset) -> [[Float]] {
        let norm = Normalization(mean: metadata.normalization.mean, std: metadata.normalization.std), flips = metadata.flipAverage == true
        let z = int8.map { Quantizer.int8Logits($0, d, norm, flipAverage: flips) }
            ?? logits(network, on: d, normalization: norm, flipAverage: flips)
        return z.map { $0.map { 1 / (1 + exp(-$0)) } }
    }

    /// Its per-kind thresholds, in its kinds' order.
    var kindThresholds: [Double] {
        let perKind = metadata.perKindDefectThresholds, flat = metadata.thresholds["defect"] ?? 0.5
        return metadata.classes.map { perKind[$0] ?? flat }
    }

    /// Stage 1's operating point with this stage 2 settling the parts between the thresholds
    /// (no floor: the kind thresholds are stage 2's to keep), on parts whose calibrated
    /// stage-1 P(defect) is `stage1`.
    func pick(_ d: ImageDataset, stage1: [Double], passIndex: Int32, targetRecall: Double) -> LineOperatingPoint.Choice {
        LineOperatingPoint.pick(stage1: stage1, stage2: scores(d), kindThresholds: kindThresholds,
                                defective: d.labels.map { $0 != passIndex }, targetRecall: targetRecall, floors: [0])
    }
}
