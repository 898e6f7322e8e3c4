import Foundation
import Inspection
import Neural
import Store
import Training

/// Where a model is promoted: the whole promotion policy of Linesight, in one place.
///
/// 1. **First training** (`linesight train --data DIR --config FILE`, see `FirstTraining`):
///    there is no champion to beat. The new stage-1 (and stage-2) models are registered and
///    promoted at once (`promoteFirst`), and the test split is frozen as the golden set that
///    every later challenger is judged on and never trained on.
/// 2. **Retraining** (`linesight retrain`, see `RetrainRound`): a challenger is fine-tuned
///    from the champion (`Retrainer`, `StageTwoRetrainer`) and both are measured on the same
///    gate images (golden set + the new validation images). The gates, below (`Gates`,
///    `stageOneChecks`, `stageTwoChecks`):
///    - stage 1: each defect kind's catch rate not lower than the champion's by more than
///      `recallTolerance`; the upper 95% bound of the escape rate at most `maxEscapeRate`;
///      the false-reject rate at most `maxFalseRejectRate`;
///    - stage 2, on its own: each kind's recall not lower than its champion's by more than
///      `recallTolerance`; each new kind the round taught it (a kind reviewers named that the
///      champion does not know) was trained on, has held-out labels (which tuned nothing) and
///      a recall of at least `newKindRecall` on them.
/// 3. **The decision** (`settle`): every challenger is saved next to the live models and
///    registered as a candidate with the champion as its parent. Every gate passed: it is
///    promoted (an atomic write over the live file; a running daemon swaps it in between
///    frames). Any gate failed: it is marked rejected and the champion stays. A dry run
///    registers and promotes nothing.
/// 4. **Int8** (`linesight quantize --config`, `int8Checks`, `int8StageTwoChecks`,
///    `settleInt8`): an int8 form of a champion is a challenger like any other, judged on the
///    golden set against the fp32 champion it came from: promoted only when its escapes and
///    its false rejects are each within 0.5 points of the champion's. For stage 2 those are
///    the line's, as the daemon decides with the live stage 1, and each kind's recall may
///    also drop at most `Gates.recallTolerance`.
/// 5. **The record** (`record`): each retraining round goes into `training_runs` as
///    `promoted` or `kept_champion`, with the figures. `linesight models rollback` undoes a
///    promotion.
public struct Promotion {
    public let registry: ModelRegistry
    /// Recorded as who promoted, e.g. "linesight retrain (ana@line-3)".
    public let who: String

    public init(registry: ModelRegistry, who: String) {
        self.registry = registry
        self.who = who
    }

    /// The folder of the live models (new model files, checkpoints and exports go there).
    public var modelsDirectory: String { (registry.paths.stage1 as NSString).deletingLastPathComponent }

    /// The golden set of the registry's product.
    public var golden: GoldenSet { GoldenSet(directory: modelsDirectory, product: registry.product) }

    /// A working file or folder of the registry's product beside its models: `name`, with
    /// the product's id before the extension for a `[[products]]` set (products may share a folder).
    public func workPath(_ name: String) -> String {
        guard !registry.product.isEmpty else { return modelsDirectory + "/" + name }
        let ext = (name as NSString).pathExtension, stem = (name as NSString).deletingPathExtension
        return modelsDirectory + "/" + stem + "-" + registry.product + (ext.isEmpty ? "" : "." + ext)
    }

    /// What `settle` did with a challenger.
    public struct Decision {
        public var champion: ModelRecord
        public var challenger: ModelRecord
        public var promoted: Bool
        /// The gates it failed (empty when promoted).
        public var failedGates: [String]
    }

    /// First training: no champion to beat, so the new models go live at once.
    public func promoteFirst(stage1: String, stage2: String?) throws -> (stage1: ModelRecord, stage2: ModelRecord?) {
        let m1 = try registry.register(file: stage1, stage: .one, parent: try registry.champion(.one)?.version)
        try registry.promote(m1.version, by: who)
        guard let stage2 else { return (m1, nil) }
        let m2 = try registry.register(file: stage2, stage: .two, parent: try registry.champion(.two)?.version)
        try registry.promote(m2.version, by: who)
        return (m1, m2)
    }

    /// Saves `challenger` as `<models>/<fileStem>-<stamp>.safetensors`, registers it as a
    /// candidate with `champion` as its parent, and promotes it only when every check passed;
    /// otherwise marks it rejected and the champion stays live.
    public func settle(_ challenger: TrainedStage, stage: Stage, champion: ModelRecord, checks: [GateCheck],
                       fileStem: String) throws -> Decision {
        let file = workPath("\(fileStem)-\(Promotion.stamp()).safetensors")
        var meta = challenger.metadata
        meta.provenance.parent = champion.version
        try ModelFile.save(challenger.network, meta, to: file)
        let record = try registry.register(file: file, stage: stage, status: .candidate, parent: champion.version)
        let failed = checks.filter { !$0.passed }.map(\.gate)
        if failed.isEmpty {
            try registry.promote(record.version, by: who)
        } else {
            try registry.store.setStatus(version: record.version, .rejected)
        }
        return Decision(champion: champion, challenger: record, promoted: failed.isEmpty, failedGates: failed)
    }

    /// Records a retraining round of stage 1 in `training_runs`.
    public func record(_ decision: Decision, startedAt: Date, dataHash: String, report: [String: Any]) throws {
        try registry.store.recordTrainingRun(startedAt: startedAt.timeIntervalSince1970, finishedAt: Date().timeIntervalSince1970,
                                             status: decision.promoted ? "promoted" : "kept_champion",
                                             champion: decision.champion.version, challenger: decision.challenger.version,
                                             dataHash: dataHash, report: report)
    }

    /// Stage 1's gates, each with the figures that decided it.
    public static func stageOneChecks(champion c: GateFigures, challenger x: GateFigures, gates g: Gates) -> [GateCheck] {
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

    /// Stage 2's gate: per kind present in the gate images, recall not lower than the champion's by more than the tolerance.
    public static func stageTwoChecks(_ kinds: [KindGateFigures], newKinds: [NewKindFigures] = [], gates g: Gates) -> [GateCheck] {
        kinds.map { k in
            let drop = k.championRecall - k.challengerRecall
            return GateCheck(gate: "stage-2 recall \(k.kind)", passed: drop <= g.recallTolerance,
                             detail: String(format: "champion %.3f at threshold %.2f (precision %.2f), challenger %.3f at %.2f (precision %.2f) (may drop %.3f, dropped %.3f)",
                                            k.championRecall, k.championThreshold, k.championPrecision, k.challengerRecall, k.challengerThreshold,
                                            k.challengerPrecision, g.recallTolerance, max(0, drop)))
        } + newKinds.map { k in
            GateCheck(gate: "stage-2 new kind \(k.kind)", passed: k.trained > 0 && k.heldOut > 0 && k.recall >= g.newKindRecall - 1e-12,
                      detail: k.heldOut == 0 ? "no held-out labels of it to judge it on (\(k.trained) trained on)"
                          : k.trained == 0 ? "no labelled part of it was trained on (\(k.heldOut) held out)"
                          : String(format: "recall %.3f at threshold %.2f (precision %.2f) on %d held-out labels, %d trained on (needs %.3f)",
                                   k.recall, k.threshold, k.precision, k.heldOut, k.trained, g.newKindRecall))
        }
    }

    /// An int8 challenger against the fp32 champion it was made from, on the golden set: its
    /// escapes and its false rejects each at most `tolerance` (0.5 points) above the champion's.
    /// `what` names the figures in the gates ("int8 line escapes" for stage 2's).
    public static func int8Checks(champion c: GateFigures, challenger x: GateFigures, tolerance: Double = 0.005, what: String = "int8") -> [GateCheck] {
        [GateCheck(gate: "\(what) escapes", passed: x.escapeRate - c.escapeRate <= tolerance + 1e-12,
                   detail: String(format: "int8 %.4f, fp32 champion %.4f (may rise %.4f)", x.escapeRate, c.escapeRate, tolerance)),
         GateCheck(gate: "\(what) false rejects", passed: x.falseRejectRate - c.falseRejectRate <= tolerance + 1e-12,
                   detail: String(format: "int8 %.4f, fp32 champion %.4f (may rise %.4f)", x.falseRejectRate, c.falseRejectRate, tolerance))]
    }

    /// An int8 stage 2 against the fp32 stage 2 it was made from, each judging the golden set
    /// with the live stage 1 as the daemon does: the line's escapes and false rejects each at
    /// most `tolerance` above, and each kind's recall (of the kinds the golden set holds) at
    /// most `recallTolerance` below, on the very images the fp32 line judged.
    public static func int8StageTwoChecks(champion c: StagedEvaluation, challenger x: StagedEvaluation, tolerance: Double = 0.005,
                                          recallTolerance: Double = Gates().recallTolerance) -> [GateCheck] {
        func figures(_ e: StagedEvaluation) -> GateFigures {
            GateFigures(escapeRate: e.line.escapeRate, escapeUpper95: e.line.escapeRateCI.last ?? 1, falseRejectRate: e.line.falseRejectRate,
                        catchRate: [:], images: e.images)
        }
        let line = int8Checks(champion: figures(c), challenger: figures(x), tolerance: tolerance, what: "int8 line")
        let recall = c.perKind.filter { $0.support > 0 }.map { k -> GateCheck in
            let r = x.perKind.first { $0.kind == k.kind }?.recall ?? 0
            return GateCheck(gate: "int8 recall \(k.kind)", passed: k.recall - r <= recallTolerance + 1e-12,
                             detail: String(format: "int8 %.3f, fp32 champion %.3f of %d (may drop %.3f)", r, k.recall, k.support, recallTolerance))
        }
        // an image the int8 line could not judge (a non-finite score) must not drop out of its figures
        let same = GateCheck(gate: "int8 images judged", passed: x.images == c.images && Set(x.skipped) == Set(c.skipped),
                             detail: "int8 \(x.images), fp32 champion \(c.images) of the golden set's images")
        return [same] + line + recall
    }

    /// An int8 form of the `stage` champion, already saved at `file`: registered as a candidate
    /// (its parent the champion), promoted when `checks` all pass, else marked rejected.
    public func settleInt8(file: String, stage: Stage = .one, champion: ModelRecord, checks: [GateCheck], promote: Bool) throws -> Decision {
        let record = try registry.register(file: file, stage: stage, status: .candidate, parent: champion.version)
        let failed = checks.filter { !$0.passed }.map(\.gate)
        if failed.isEmpty && promote {
            try registry.promote(record.version, by: who)
        } else if !failed.isEmpty {
            try registry.store.setStatus(version: record.version, .rejected)
        }
        return Decision(champion: champion, challenger: record, promoted: failed.isEmpty && promote, failedGates: failed)
    }

    /// "20261204-230512" (UTC): the stamp in the names of new model files and folders.
    public static func stamp(_ date: Date = Date()) -> String {
        let f = DateFormatter()
        f.dateFormat = "yyyyMMdd-HHmmss"
        f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: date)
    }
}

/// What a challenger must show against its champion on the same images.
public struct Gates: Equatable, Sendable {
    /// Per defect kind, the challenger's catch rate (stage 1) or recall (stage 2) may be this much below the champion's.
    public var recallTolerance = 0.02
    /// Upper end of the 95% interval of the escape rate must stay at or below this.
    public var maxEscapeRate = 0.05
    /// Share of good parts failed must stay at or below this.
    public var maxFalseRejectRate = 0.05
    /// A kind stage 2 learns for the first time must reach this recall on its held-out labels.
    public var newKindRecall = 0.5
    public init() {}
}

/// A gate and how the challenger did against it.
public struct GateCheck: Codable, Equatable, Sendable {
    public var gate: String
    public var passed: Bool
    public var detail: String
}

extension Array where Element == GateCheck {
    /// Every gate passed.
    public var passed: Bool { allSatisfy(\.passed) }
}
