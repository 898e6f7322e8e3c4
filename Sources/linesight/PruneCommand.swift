import ArgumentParser
import Foundation
import Lifecycle
import Logging
import Neural
import Training

struct PruneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Make a staged model set smaller and faster: structured channel pruning, then fine-tuning on labelled images.",
        discussion: """
        Each residual block's inner channels (the first conv's outputs, which only its batch \
        norm and the second conv read) are ranked, by the batch norm's |gamma| (--criterion \
        bn, the default) or by the first conv's filter size, sum |w| (l1); the weakest \
        --ratio of them are removed and the network rebuilt narrower, the survivors keeping \
        their weights. The count kept is a multiple of --multiple (8 or 16 keep the fast \
        channel-blocked kernels); a block too narrow to lose a whole multiple keeps all. \
        Both stages are pruned; then both are fine-tuned on --data (an ImageFolder tree like \
        `linesight train --data`'s) as `linesight train --init` would, every layer at the \
        fine-tuning rate, and their thresholds calibrated again on its validation split.

        It prints, per stage, the multiply-adds and parameters before and after and the time \
        of one frame (fp32, flip-averaged if the model is), and the fine-tuned set's test \
        figures. The pruned models before fine-tuning stay in OUT/pruned/ (not for the line: \
        their thresholds are the unpruned model's). An int8 set comes out fp32: quantize it \
        again. Compare the sets with `linesight evaluate --models DIR --data DIR`.

          linesight prune --models models/ --data parts/ --out models-pruned/
          linesight prune --models models/ --data parts/ --out models-pruned/ --ratio 0.6 --epochs 10
        """)

    @Option(help: "The staged model set to prune (a folder with stage1.safetensors and, if any, stage2.safetensors).") var models: String
    @Option(help: "ImageFolder tree of labelled inspection images to fine-tune on.") var data: String
    @Option(help: "The folder for the pruned, fine-tuned set and its report.") var out: String
    @Option(help: "The share of each residual block's inner channels to remove, in (0, 1).") var ratio: Double = 0.5
    @Option(help: "How channels are ranked: bn (batch norm |gamma|) or l1 (sum |w| of the filter).") var criterion: ChannelPruning.Criterion = .bn
    @Option(help: "Channels are kept in multiples of this, 1...64 (16: the blocked kernels' block).") var multiple: Int = 16
    @Option(help: "Fine-tuning passes over the training set, per stage (on surface-dev 10 were too few to hold the line's escapes after removing 75 % of the inner channels; 30 held them).") var epochs: Int = 30
    @Option(help: "Defect recall the line keeps on the validation split when the thresholds are calibrated again (as `train --target-recall`).")
    var targetRecall: Double = 0.99
    @Option(help: "The good parts' folder name in --data (default: whichever of good, ok, pass, normal is a folder there; else good).") var passClass: String?
    @Option(help: "Seed for shuffling and augmentation.") var seed: UInt64 = 1
    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        guard ratio > 0, ratio < 1 else { throw ValidationError("--ratio must lie strictly between 0 and 1") }
        guard (1...64).contains(multiple) else { throw ValidationError("--multiple must be between 1 and 64") }
        guard epochs >= 1 else { throw ValidationError("--epochs must be at least 1") }
        guard FileManager.default.fileExists(atPath: models + "/stage1.safetensors") else {
            throw ValidationError("--models \(models): no stage1.safetensors there")
        }
        let path = { (p: String) in URL(fileURLWithPath: p).standardizedFileURL.resolvingSymlinksInPath().path }
        guard path(out) != path(models), path(out + "/pruned") != path(models) else {
            throw ValidationError("--out must differ from --models (and from its parent when --models is a pruned/ folder): the set you prune stays as it is")
        }
        guard !FileManager.default.fileExists(atPath: out + "/stage1.safetensors") else {
            throw ValidationError("--out \(out) already holds a model set: choose an empty or new folder")
        }
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: data, isDirectory: &isDir), isDir.boolValue else {
            throw ValidationError("--data \(data): no such folder")
        }
        guard targetRecall > 0 && targetRecall <= 1 else { throw ValidationError("--target-recall must be in (0, 1]") }
    }

    func run() throws {
        try compute.apply(Logger(label: "linesight.prune"))
        let staging = out + "/pruned"
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        var flips = true
        var reports: [(String, Pruner.Report)] = []
        for stage in ["stage1", "stage2"] {
            let file = "\(models)/\(stage).safetensors"
            guard FileManager.default.fileExists(atPath: file) else { continue }
            let (net, meta, report) = try Pruner.prune(path: file, ratio: ratio, criterion: criterion, multiple: multiple)
            if stage == "stage1" { flips = meta.flipAverage == true }
            if report.wasInt8 {
                print("\(stage): the source is an int8 model; the pruned one is fp32 (times below are fp32): `linesight quantize` it after")
            }
            try ModelFile.save(net, meta, to: "\(staging)/\(stage).safetensors")
            Self.show(stage, report)
            reports.append((stage, report))
        }
        print("pruned (not yet fine-tuned) models in \(staging)/; fine-tuning on \(data) ...")
        var o = StagedOptions()
        (o.initFrom, o.fineTune, o.seed, o.flipAverage, o.targetRecall) = (staging, .all, seed, flips, targetRecall)
        (o.stage1Epochs, o.stage2Epochs) = (epochs, epochs)
        o.passClass = ImageFolder.passClass(data, requested: passClass)
        let training = FirstTraining(data: data, options: o)
        let bar = ProgressBar(), loadBar = LoadProgress()
        training.onLoad = { done, total in loadBar.update(done, total) }
        training.onStage = { name, train, val in Swift.print(train == 0 && val == 0 ? name : "\(name): \(train) training images, \(val) validation images") }
        training.onBatch = bar.update
        training.onEpoch = { bar.finishEpoch($0, validationName: "val") }
        let r = try training.run(to: .folder(out))
        let prunedStages = Set(reports.map(\.0))
        if r.stage2File != nil, !prunedStages.contains("stage2") {
            print("stage 2 was trained afresh at full width: --models has no stage2.safetensors and --data has defect kinds")
        } else if r.stage2File == nil, prunedStages.contains("stage2") {
            print("stage 2 was left out: --data has no defect kinds to fine-tune it on")
        }
        // the fine-tuned files say they were pruned, as the pruned ones did
        let notes = Dictionary(uniqueKeysWithValues: reports.map { ($0.0, $0.1.note) })
        for file in [r.stage1File] + (r.stage2File.map { [$0] } ?? []) {
            let stage = URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
            guard let note = notes[stage] else { continue }
            let (net, meta) = try ModelFile.load(path: file)
            var m = meta
            m.provenance.notes = [meta.provenance.notes, note, "fine-tuned \(epochs) epochs on \(data)"].compactMap { $0 }
                .joined(separator: "\n").suffix(4096).description
            try ModelFile.save(net, m, to: file)
        }
        TrainSummary.print(r.result, targetRecall: o.targetRecall)
        for (stage, report) in reports where stage == "stage1" || r.stage2File != nil { Self.show(stage, report) }
        print("pruned and fine-tuned models written to \(r.stage1File)" + (r.stage2File.map { " and \($0)" } ?? "") + "; report in \(r.folder)/report.json")
    }

    static func show(_ stage: String, _ r: Pruner.Report) {
        let blocks = r.blocks.map { "\($0.before)->\($0.after)" }.joined(separator: " ")
        let macs = 1 - Double(r.multiplyAdds.after) / Double(max(1, r.multiplyAdds.before))
        Swift.print(String(format: "%@: blocks %@; multiply-adds %@ -> %@ (%.0f %% fewer), parameters %@ -> %@, one frame %.2f -> %.2f ms (%.2fx)",
                           stage, blocks.isEmpty ? "none narrow enough to prune" : blocks,
                           Self.count(r.multiplyAdds.before), Self.count(r.multiplyAdds.after), macs * 100,
                           Self.count(r.parameters.before), Self.count(r.parameters.after),
                           r.milliseconds.before, r.milliseconds.after, r.milliseconds.before / max(1e-9, r.milliseconds.after)))
    }

    static func count(_ n: Int) -> String {
        n >= 1_000_000 ? String(format: "%.1fM", Double(n) / 1e6) : n >= 1000 ? String(format: "%.1fk", Double(n) / 1e3) : "\(n)"
    }
}

extension ChannelPruning.Criterion: ExpressibleByArgument {}
