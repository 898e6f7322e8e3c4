import ArgumentParser
import Foundation
import Inspection
import Logging
import Neural
import Store
import Training

struct RetrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retrain",
        abstract: "Fine-tune the live models on new labels; promote each only if it passes its gates.",
        discussion: """
        Warm-starts from the live stage-1 model (the champion) on the new labels (by default \
        the frames people labeled in the database since the champion was registered; or an \
        ImageFolder tree given with --data) plus a bounded replay sample of the first training's data, recalibrates it \
        and picks its thresholds, then judges champion and challenger on the same images: the \
        golden set frozen at first training (never trained on) plus the new validation images. \
        Gates: per-defect catch rate not lower than the champion's by more than \
        --recall-tolerance, upper 95% bound of the escape rate <= --max-escape, false rejects \
        <= --max-false-reject. Pass: the challenger is registered and promoted (atomic file \
        write; a running daemon swaps it in). Fail: the champion stays and every failed gate \
        is printed with its figures. Stage 2 is retrained the same way and promoted on its \
        own gate: per-kind recall not lower than its champion's by more than the tolerance. \
        By default only stage 2's classifier head is fine-tuned (--stage2 head): its \
        features stay the champion's, which a round's few labels of one kind would otherwise \
        move; --stage2 all fine-tunes every layer at a low rate (for a large, balanced round). Its per-kind \
        thresholds are picked for F1 among those that hold the champion's recall on \
        validation images (the new ones and the first training's). \
        --dry-run only evaluates. Interrupted runs resume from their checkpoint when started \
        again with the same data. Runs at low CPU priority so a live daemon keeps its share.
          # labels from the database
          linesight retrain --config /etc/linesight/linesight.toml
          # an ImageFolder tree
          linesight retrain --config /etc/linesight/linesight.toml --data DIR
        """)

    @OptionGroup var registryOptions: RegistryOptions
    @Option(help: "ImageFolder tree of newly labeled images (default: the labels given in the database since the champion was registered).") var data: String?
    @Option(help: "Images replayed from the first training's data.") var replay: Int = 500
    @Option(help: "Fine-tuning epochs.") var epochs: Int = 8
    @Option(help: "Per-defect catch rate the challenger may lose against the champion.") var recallTolerance: Double = 0.02
    @Option(help: "Upper 95% bound of the escape rate allowed.") var maxEscape: Double = 0.05
    @Option(help: "False-reject rate allowed.") var maxFalseReject: Double = 0.05
    @Flag(help: "Evaluate only: register nothing, promote nothing.") var dryRun = false
    @Flag(help: "Leave stage 2 as it is.") var stage1Only = false
    @Option(help: "How stage 2 is fine-tuned: its classifier 'head' only (at \(StagedOptions().headLearningRate)) or 'all' layers (at \(StagedOptions().fineTuneLearningRate)).") var stage2: String = StagedOptions().retrainStageTwo.rawValue
    @Option(help: "Nice level for this process (0 = normal; higher yields to the daemon).") var nice: Int32 = 10
    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        guard StageTwoRetraining(rawValue: stage2) != nil else { throw ValidationError("--stage2 must be head or all, not '\(stage2)'") }
    }

    func run() throws {
        let logger = Logger(label: "linesight.retrain")
        setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, nice)
        try compute.apply(logger)
        let (cfg, registry) = try registryOptions.open()
        guard let champion = try registry.store.champion(stage: 1) else {
            throw ValidationError("no stage-1 champion in the registry; run `linesight train --data DIR --config \(registryOptions.config)` first")
        }
        let modelsDir = (registry.paths.stage1 as NSString).deletingLastPathComponent
        let data = try self.data ?? collectLabels(since: champion, cfg, registry.store, into: modelsDir + "/retrain-labels")
        let golden = GoldenSet(directory: modelsDir)
        var inputs = Retrainer.Inputs(championPath: champion.file, newData: data, golden: try golden.load(passClass: "good"))
        inputs.replayData = golden.trainingData()
        inputs.replayCount = replay
        inputs.epochs = epochs
        inputs.options.retrainStageTwo = StageTwoRetraining(rawValue: stage2) ?? .head
        inputs.gates.recallTolerance = recallTolerance
        inputs.gates.maxEscapeRate = maxEscape
        inputs.gates.maxFalseRejectRate = maxFalseReject
        inputs.checkpoint = modelsDir + "/retrain-checkpoint.safetensors"
        let started = Date()
        let retrainer = Retrainer()
        let bar = ProgressBar()
        retrainer.onBatch = bar.update
        retrainer.onEpoch = { bar.finishEpoch($0, validationName: "new val") }
        retrainer.onStep = { print($0) }
        print("champion: stage 1 \(champion.version)")
        let r = try retrainer.run(inputs)
        try? FileManager.default.removeItem(atPath: inputs.checkpoint!)

        print("judged on \(r.counts.gate) images (golden set + new validation):")
        print("  gate                   result  figures")
        for c in r.checks {
            print("  " + c.gate.padding(toLength: 22, withPad: " ", startingAt: 0) + (c.passed ? " pass    " : " FAIL    ") + c.detail)
        }
        var report: [String: Any] = ["champion": champion.version, "passed": r.passed, "dry_run": dryRun,
                                     "checks": r.checks.map { ["gate": $0.gate, "passed": $0.passed, "detail": $0.detail] },
                                     "new_images": r.counts.new, "replayed": r.counts.replay, "gate_images": r.counts.gate]
        let two = try stageTwo(registry, inputs, bar)
        if let two { report["stage2"] = two }
        if dryRun {
            print(r.passed ? "dry run: the challenger would be promoted" : "dry run: the champion would stay")
            return
        }
        let file = modelsDir + "/retrained-\(StagedTrainCommand.stamp()).safetensors"
        var meta = r.challenger.metadata
        meta.provenance.parent = champion.version
        try ModelFile.save(r.challenger.network, meta, to: file)
        let status: String
        let challenger = try registry.register(file: file, stage: .one, status: .candidate, parent: champion.version)
        if r.passed {
            try registry.promote(challenger.version, by: "linesight retrain (\(whoAmI()))")
            status = "promoted"
            print("promoted stage 1 \(challenger.version) (parent \(champion.version)); a running daemon swaps it in")
        } else {
            try registry.store.setStatus(version: challenger.version, .rejected)
            status = "kept_champion"
            let failed = r.checks.filter { !$0.passed }.map(\.gate).joined(separator: ", ")
            print("kept the champion \(champion.version): the challenger \(challenger.version) failed \(failed)")
        }
        report["challenger"] = challenger.version
        try registry.store.recordTrainingRun(startedAt: started.timeIntervalSince1970, finishedAt: Date().timeIntervalSince1970,
                                             status: status, champion: champion.version, challenger: challenger.version,
                                             dataHash: r.dataHash, report: report)
        logger.notice("retraining finished", metadata: ["result": "\(status)", "champion": "\(champion.version)", "challenger": "\(challenger.version)"])
    }

    /// The frames labeled since `champion` was registered, as an ImageFolder tree in `dir`.
    private func collectLabels(since champion: ModelRecord, _ cfg: LineConfig, _ store: Store, into dir: String) throws -> String {
        let labels = try store.currentLabels(since: champion.createdAt)
        let when = utc(champion.createdAt)
        guard !labels.isEmpty else {
            throw CommandFailure("no labels given since the champion \(champion.version) was registered (\(when)): nothing new to learn. Label flagged frames with `linesight review`, or give --data DIR")
        }
        try? FileManager.default.removeItem(atPath: dir)
        let n = try LabelExport.writeImageFolder(labels, frames: cfg.framesDirectory, to: dir, framing: .current(cfg.currentFraming))
        print("collected \(n.defective + n.good) labels given since \(when) from the database (\(n.defective) defective, \(n.good) good) into \(dir)"
              + (n.skippedFraming > 0 ? "; \(n.skippedFraming) frames judged with another ROI than the camera's current one left out" : ""))
        return dir
    }

    /// Retrains stage 2 when it has a champion; registers and promotes it on its own gate.
    private func stageTwo(_ registry: ModelRegistry, _ stage1Inputs: Retrainer.Inputs, _ bar: ProgressBar) throws -> [String: Any]? {
        guard !stage1Only, let champion = try registry.store.champion(stage: 2) else { return nil }
        var inputs = stage1Inputs
        inputs.championPath = champion.file
        print("champion: stage 2 \(champion.version); fine-tuning \(inputs.options.retrainStageTwo.summary)")
        let retrainer = StageTwoRetrainer()
        retrainer.onBatch = bar.update
        retrainer.onEpoch = { bar.finishEpoch($0, validationName: "val") }
        let r: StageTwoRetrainer.Outcome
        do { r = try retrainer.run(inputs) } catch let e as TrainingError {
            print("stage 2 kept: \(e)")
            return ["skipped": "\(e)"]
        }
        for way in StageTwoRetraining.allCases { try? FileManager.default.removeItem(atPath: StageTwoRetrainer.checkpoint(inputs.checkpoint!, way)) }
        for c in r.checks {
            print("  " + c.gate.padding(toLength: 30, withPad: " ", startingAt: 0) + (c.passed ? " pass    " : " FAIL    ") + c.detail)
        }
        print(String(format: "  stage-2 macro-F1 on the gate images (not a gate): champion %.3f, challenger %.3f", r.championMacroF1, r.challengerMacroF1))
        var out: [String: Any] = ["champion": champion.version, "passed": r.passed, "fine_tuned": inputs.options.retrainStageTwo.rawValue,
                                  "macro_f1": ["champion": r.championMacroF1, "challenger": r.challengerMacroF1],
                                  "checks": r.checks.map { ["gate": $0.gate, "passed": $0.passed, "detail": $0.detail] }]
        guard !dryRun else {
            print(r.passed ? "dry run: the stage-2 challenger would be promoted" : "dry run: the stage-2 champion would stay")
            return out
        }
        let file = (registry.paths.stage1 as NSString).deletingLastPathComponent + "/retrained-stage2-\(StagedTrainCommand.stamp()).safetensors"
        var meta = r.challenger.metadata
        meta.provenance.parent = champion.version
        try ModelFile.save(r.challenger.network, meta, to: file)
        let challenger = try registry.register(file: file, stage: .two, parent: champion.version)
        out["challenger"] = challenger.version
        if r.passed {
            try registry.promote(challenger.version, by: "linesight retrain (\(whoAmI()))")
            print("promoted stage 2 \(challenger.version) (parent \(champion.version))")
        } else {
            try registry.store.setStatus(version: challenger.version, .rejected)
            print("kept the stage-2 champion \(champion.version)")
        }
        return out
    }
}
