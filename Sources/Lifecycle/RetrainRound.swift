import Foundation
import Inspection
import Store
import Training

/// One retraining round (`linesight retrain`): the new labels (an ImageFolder tree, or the
/// labels given in the database since the champion), the stage-1 and stage-2 challengers
/// fine-tuned from their champions, and the decision on each (`Promotion`). The command
/// prints what the events and the summary say.
public final class RetrainRound {
    /// What a round is asked to do.
    public struct Settings {
        /// ImageFolder tree of new labels; nil: the labels given since the champion (`collectLabels`).
        public var data: String?
        /// Images replayed from the first training's data.
        public var replay = 500
        public var epochs = 8
        public var gates = Gates()
        public var stageTwo: StageTwoRetraining = StagedOptions().retrainStageTwo
        /// Leave stage 2 as it is.
        public var stage1Only = false
        /// Judge only: register nothing, promote nothing.
        public var dryRun = false
        public init() {}
    }

    /// What happened, as it happens (the command prints these).
    public enum Event {
        case stage1Champion(ModelRecord)
        case stage1Judged(Retrainer.Outcome, [GateCheck])
        case stage2Champion(ModelRecord, StageTwoRetraining)
        case stage2Judged(StageTwoRetrainer.Outcome, [GateCheck])
        /// Stage 2 could not be retrained this round; its champion stays.
        case stage2Kept(reason: String)
        case stage2Decided(Promotion.Decision)
        case message(String)
    }

    /// Stage 2's part of a round.
    public struct StageTwoSummary {
        public var champion: ModelRecord
        public var way: StageTwoRetraining
        /// Nil when stage 2 could not be retrained this round (`skipped` says why).
        public var outcome: StageTwoRetrainer.Outcome?
        public var checks: [GateCheck] = []
        public var skipped: String?
        /// Nil on a dry run or when skipped.
        public var decision: Promotion.Decision?
    }

    public struct Summary {
        public var outcome: Retrainer.Outcome
        public var checks: [GateCheck]
        /// Nil on a dry run.
        public var decision: Promotion.Decision?
        public var stageTwo: StageTwoSummary?
    }

    public let config: LineConfig
    public let promotion: Promotion
    public let champion: ModelRecord
    public var onEvent: ((Event) -> Void)?
    public var onBatch: ((BatchProgress) -> Void)?
    /// Each epoch's report with the name of its validation set ("new val", "val").
    public var onEpoch: ((EpochReport, String) -> Void)?

    /// Fails when the registry has no stage-1 champion to start from.
    public init(config: LineConfig, promotion: Promotion, configPath: String) throws {
        let registry = promotion.registry
        try registry.checkWritable(.one)
        guard let champion = try registry.champion(.one) else {
            let product = registry.product.isEmpty ? "" : " --product \(registry.product)"
            throw LifecycleError.noChampion(stage: 1, next: "run `linesight train --data DIR --config \(configPath)\(product)` first")
        }
        (self.config, self.promotion, self.champion) = (config, promotion, champion)
    }

    /// The frames labeled since the champion was registered, as an ImageFolder tree in
    /// `<models>/retrain-labels` (replaced each round). Labels of kinds reviewers named come
    /// every round, however old: the first training's data, which every round replays,
    /// has none of them, and stage 2 would forget a kind it learned from them.
    public func collectLabels() throws -> (directory: String, report: LabelExport.Report, olderNamed: Int) {
        let store = promotion.registry.store
        // this product's frames only: another product's labels would teach its models another part
        let product = promotion.registry.product
        let all = try store.currentLabels().filter { config.belongs($0.product, to: product) }
        let fresh = all.filter { $0.labeledAt >= champion.createdAt }
        guard !fresh.isEmpty else {
            throw LifecycleError.noLabels("no labels given since the champion \(champion.version) of \(promotion.registry.productName) was registered (\(utc(champion.createdAt))): nothing new to learn. Label flagged frames with `linesight review`, or give --data DIR")
        }
        let named = Set(try store.namedDefectKinds().map(\.name)), have = Set(fresh.map(\.frameId))
        let older = all.filter { !have.contains($0.frameId) && $0.defects.contains(where: named.contains) }
        let labels = fresh + older
        let dir = promotion.workPath("retrain-labels")
        try? FileManager.default.removeItem(atPath: dir)
        let n = try LabelExport.writeImageFolder(labels, frames: config.framesDirectory, to: dir, framing: .current(config.currentFraming))
        return (dir, n, older.count)
    }

    /// Retrains stage 1 (and stage 2 when it has a champion) on `data` and settles each.
    public func run(data: String, _ s: Settings) throws -> Summary {
        let started = Date()
        let inputs = try stageOneInputs(data, s)
        let retrainer = Retrainer()
        retrainer.onBatch = onBatch
        retrainer.onEpoch = { [onEpoch] in onEpoch?($0, "new val") }
        retrainer.onStep = { [onEvent] in onEvent?(.message($0)) }
        onEvent?(.stage1Champion(champion))
        let r = try retrainer.run(inputs)
        try? FileManager.default.removeItem(atPath: inputs.checkpoint!)
        let checks = Promotion.stageOneChecks(champion: r.champion, challenger: r.candidate, gates: s.gates)
        onEvent?(.stage1Judged(r, checks))
        var report: [String: Any] = ["champion": champion.version, "passed": checks.passed, "dry_run": s.dryRun,
                                     "checks": checks.map(Self.json), "new_images": r.counts.new,
                                     "replayed": r.counts.replay, "gate_images": r.counts.gate]
        let two = try stageTwo(inputs, s)
        if let two { report["stage2"] = Self.json(two) }
        guard !s.dryRun else { return Summary(outcome: r, checks: checks, decision: nil, stageTwo: two) }
        let decision = try promotion.settle(r.challenger, stage: .one, champion: champion, checks: checks, fileStem: "retrained")
        report["challenger"] = decision.challenger.version
        try promotion.record(decision, startedAt: started, dataHash: r.dataHash, report: report)
        return Summary(outcome: r, checks: checks, decision: decision, stageTwo: two)
    }

    private func stageOneInputs(_ data: String, _ s: Settings) throws -> Retrainer.Inputs {
        let golden = promotion.golden
        var inputs = Retrainer.Inputs(championPath: champion.file, newData: data, golden: try golden.load(passClass: "good"))
        inputs.replayData = golden.trainingData()
        inputs.replayCount = s.replay
        inputs.epochs = s.epochs
        inputs.options.retrainStageTwo = s.stageTwo
        inputs.checkpoint = promotion.workPath("retrain-checkpoint.safetensors")
        // the live stage 2 settles stage 1's unsure parts (the `stage2` rule): the thresholds are picked with it
        // (a stage 2 another product owns has no record in this set: its live file is the one the daemon runs)
        if promotion.registry.paths.unsure == .stage2 {
            inputs.stageTwoPath = promotion.registry.borrowed[.two] != nil ? promotion.registry.paths.stage2 : try promotion.registry.champion(.two)?.file
        }
        inputs.namedKinds = try promotion.registry.store.namedDefectKinds().map(\.name)
        return inputs
    }

    /// Retrains stage 2 when it has a champion, and settles it on its own gate.
    private func stageTwo(_ stageOne: Retrainer.Inputs, _ s: Settings) throws -> StageTwoSummary? {
        guard !s.stage1Only else { return nil }
        if let owner = promotion.registry.borrowed[.two] {
            // another product's live file: its own retraining judges and promotes it
            onEvent?(.stage2Kept(reason: "its live file is product '\(owner)''s too (shared in the config); it is retrained with '\(owner)''s labels and gate"))
            return nil
        }
        guard let champion = try promotion.registry.champion(.two) else { return nil }
        var inputs = stageOne
        inputs.championPath = champion.file
        onEvent?(.stage2Champion(champion, inputs.options.retrainStageTwo))
        let retrainer = StageTwoRetrainer()
        retrainer.onBatch = onBatch
        retrainer.onEpoch = { [onEpoch] in onEpoch?($0, "val") }
        let r: StageTwoRetrainer.Outcome
        var summary = StageTwoSummary(champion: champion, way: inputs.options.retrainStageTwo)
        do { r = try retrainer.run(inputs) } catch let e as TrainingError {
            onEvent?(.stage2Kept(reason: "\(e)"))
            summary.skipped = "\(e)"
            return summary
        }
        for way in StageTwoRetraining.allCases { try? FileManager.default.removeItem(atPath: StageTwoRetrainer.checkpoint(inputs.checkpoint!, way)) }
        summary.checks = Promotion.stageTwoChecks(r.kinds, newKinds: r.newKinds, gates: s.gates)
        onEvent?(.stage2Judged(r, summary.checks))
        summary.outcome = r
        guard !s.dryRun else { return summary }
        summary.decision = try promotion.settle(r.challenger, stage: .two, champion: champion, checks: summary.checks, fileStem: "retrained-stage2")
        onEvent?(.stage2Decided(summary.decision!))
        return summary
    }

    private static func json(_ c: GateCheck) -> [String: Any] { ["gate": c.gate, "passed": c.passed, "detail": c.detail] }

    private static func json(_ two: StageTwoSummary) -> [String: Any] {
        guard let r = two.outcome else { return ["skipped": two.skipped ?? ""] }
        var out: [String: Any] = ["champion": two.champion.version, "passed": two.checks.passed, "fine_tuned": two.way.rawValue,
                                  "new_kinds": r.newKinds.map { ["kind": $0.kind, "trained": $0.trained, "held_out": $0.heldOut, "recall": $0.recall] },
                                  "waiting_kinds": r.waiting.map { ["kind": $0.kind, "labels": $0.labels, "reason": $0.reason] },
                                  "macro_f1": ["champion": r.championMacroF1, "challenger": r.challengerMacroF1],
                                  "checks": two.checks.map(json)]
        if let d = two.decision { out["challenger"] = d.challenger.version }
        return out
    }
}

/// An ISO 8601 UTC time for messages.
func utc(_ t: Double) -> String {
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime]
    return f.string(from: Date(timeIntervalSince1970: t))
}
