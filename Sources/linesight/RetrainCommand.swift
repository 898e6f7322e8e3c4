import ArgumentParser
import Foundation
import Lifecycle
import Logging
import Training

struct RetrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retrain",
        abstract: "Fine-tune the live models on new labels; promote each only if it passes its gates.",
        discussion: """
        Warm-starts from the live stage-1 model (the champion) on the new labels (by default \
        the frames people labeled in the database since the champion was registered; or an \
        ImageFolder tree given with --data) plus a bounded replay sample of the first training's data, recalibrates it \
        and picks its thresholds for the line as a whole (the live stage 2 settling the parts \
        between pass and fail, as train picks them), then judges champion and challenger on the same images: the \
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
        A kind reviewers named that stage 2 does not know (`label --new-kind`) is learned \
        once the new labels hold \(StageTwoRetrainer.newKindMinimum) parts of it: stage 2's head grows \
        for it (the old kinds' weights kept), some of its parts are held out, and its own gate \
        needs a recall of --new-kind-recall on them. Until then stage 1 fails such parts. \
        On a line of several products each product's set retrains on its own: --product ID \
        learns from the frames judged for that product, is judged on the golden set frozen when \
        that product was first trained, and promotes onto its own model paths. \
        --dry-run only evaluates. Interrupted runs resume from their checkpoint when started \
        again with the same data. Runs at low CPU priority so a live daemon keeps its share. \
        The whole promotion policy is in Sources/Lifecycle/Promotion.swift.
          # labels from the database
          linesight retrain --config /etc/linesight/linesight.toml
          # an ImageFolder tree
          linesight retrain --config /etc/linesight/linesight.toml --data DIR
        """)

    @OptionGroup var registryOptions: RegistryOptions
    @OptionGroup var product: ProductOption
    @Option(help: "ImageFolder tree of newly labeled images (default: the labels given in the database since the champion was registered).") var data: String?
    @Option(help: "Images replayed from the first training's data.") var replay: Int = 500
    @Option(help: "Fine-tuning epochs.") var epochs: Int = 8
    @Option(help: "Per-defect catch rate the challenger may lose against the champion.") var recallTolerance: Double = 0.02
    @Option(help: "Upper 95% bound of the escape rate allowed.") var maxEscape: Double = 0.05
    @Option(help: "False-reject rate allowed.") var maxFalseReject: Double = 0.05
    @Option(help: "Recall a new defect kind must reach on its held-out labels the first time stage 2 learns it.") var newKindRecall: Double = 0.5
    @Flag(help: "Evaluate only: register nothing, promote nothing.") var dryRun = false
    @Flag(help: "Leave stage 2 as it is.") var stage1Only = false
    @Option(help: "How stage 2 is fine-tuned: its classifier 'head' only (at \(StagedOptions().headLearningRate)) or 'all' layers (at \(StagedOptions().fineTuneLearningRate)) (default: \(StagedOptions().retrainStageTwo.rawValue)).") var stage2: String?
    @Option(help: "Nice level for this process (0 = normal; higher yields to the daemon).") var nice: Int32 = 10
    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        if let stage2, StageTwoRetraining(rawValue: stage2) == nil { throw ValidationError("--stage2 must be head or all, not '\(stage2)'") }
        if stage1Only, stage2 != nil { throw ValidationError("--stage2 and --stage1-only: stage 2 is left as it is; leave out --stage2") }
        for (name, v) in [("--recall-tolerance", recallTolerance), ("--max-escape", maxEscape), ("--max-false-reject", maxFalseReject), ("--new-kind-recall", newKindRecall)]
            where !(0...1).contains(v) { throw ValidationError("\(name) must be between 0 and 1") }
    }

    var settings: RetrainRound.Settings {
        var s = RetrainRound.Settings()
        (s.data, s.replay, s.epochs, s.stage1Only, s.dryRun) = (data, replay, epochs, stage1Only, dryRun)
        s.stageTwo = stage2.flatMap(StageTwoRetraining.init(rawValue:)) ?? StagedOptions().retrainStageTwo
        (s.gates.recallTolerance, s.gates.maxEscapeRate, s.gates.maxFalseRejectRate) = (recallTolerance, maxEscape, maxFalseReject)
        s.gates.newKindRecall = newKindRecall
        return s
    }

    func run() throws {
        let logger = Logger(label: "linesight.retrain")
        setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, nice)
        try compute.apply(logger)
        let (cfg, registry) = try registryOptions.open(product: product.product)
        let round = try RetrainRound(config: cfg, promotion: Promotion(registry: registry, who: "linesight retrain (\(whoAmI()))"),
                                     configPath: registryOptions.config)
        let bar = ProgressBar()
        round.onBatch = bar.update
        round.onEpoch = { bar.finishEpoch($0, validationName: $1) }
        round.onEvent = { RetrainPrinter(dryRun: dryRun).print($0) }
        var data = self.data
        if data == nil {
            let (dir, n, older) = try round.collectLabels()
            print("collected \(n.defective + n.good) labels given since \(utc(round.champion.createdAt)) from the database for \(registry.productName) (\(n.defective) defective, \(n.good) good) into \(dir)"
                  + (older > 0 ? "; \(older) of them older labels of kinds reviewers named, which every round replays" : "")
                  + (n.skippedFraming > 0 ? "; \(n.skippedFraming) frames judged with another ROI than the camera's current one left out" : ""))
            data = dir
        }
        let summary = try round.run(data: data!, settings)
        guard let d = summary.decision else {
            return print(summary.checks.passed ? "dry run: the challenger would be promoted" : "dry run: the champion would stay")
        }
        if d.promoted {
            print("promoted stage 1 \(d.challenger.version) of \(registry.productName) (parent \(d.champion.version)) -> \(registry.paths.stage1); a running daemon swaps it in")
        } else {
            print("kept the champion \(d.champion.version): the challenger \(d.challenger.version) failed \(d.failedGates.joined(separator: ", "))")
        }
        logger.notice("retraining finished", metadata: ["result": "\(d.promoted ? "promoted" : "kept_champion")",
                                                        "champion": "\(d.champion.version)", "challenger": "\(d.challenger.version)"])
    }
}

/// How `retrain` shows a round as it happens.
struct RetrainPrinter {
    var dryRun: Bool

    func print(_ event: RetrainRound.Event) {
        switch event {
        case .stage1Champion(let m): Swift.print("champion: stage 1 \(m.version)")
        case .message(let text): Swift.print(text)
        case .stage1Judged(let r, let checks):
            Swift.print("judged on \(r.counts.gate) images (golden set + new validation):")
            Swift.print("  gate                   result  figures")
            table(checks, width: 22)
        case .stage2Champion(let m, let way): Swift.print("champion: stage 2 \(m.version); fine-tuning \(way.summary)")
        case .stage2Kept(let reason): Swift.print("stage 2 kept: \(reason)")
        case .stage2Judged(let r, let checks):
            for k in r.newKinds { Swift.print("stage 2 learned a new kind: \(k.kind) (\(k.trained) labelled parts trained on, \(k.heldOut) held out); the old kinds' weights kept") }
            for w in r.waiting {
                Swift.print("kind \(w.kind) (\(w.labels) labelled part\(w.labels == 1 ? "" : "s")) not learned by stage 2 this round: \(w.reason); stage 1 fails such parts")
            }
            table(checks, width: 30)
            Swift.print(String(format: "  stage-2 macro-F1 on the gate images (not a gate): champion %.3f, challenger %.3f", r.championMacroF1, r.challengerMacroF1))
            if dryRun { Swift.print(checks.passed ? "dry run: the stage-2 challenger would be promoted" : "dry run: the stage-2 champion would stay") }
        case .stage2Decided(let d):
            Swift.print(d.promoted ? "promoted stage 2 \(d.challenger.version) (parent \(d.champion.version))" : "kept the stage-2 champion \(d.champion.version)")
        }
    }

    private func table(_ checks: [GateCheck], width: Int) {
        let width = max(width, checks.map(\.gate.count).max() ?? 0)
        for c in checks {
            Swift.print("  " + c.gate.padding(toLength: width, withPad: " ", startingAt: 0) + (c.passed ? " pass    " : " FAIL    ") + c.detail)
        }
    }
}
