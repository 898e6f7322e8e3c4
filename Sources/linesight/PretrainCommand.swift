import ArgumentParser
import Foundation
import Lifecycle
import Logging
import Neural
import Training

struct PretrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pretrain",
        abstract: "Pretrain stage 1 on unlabeled frames (self-supervised), for train --pretrained.",
        discussion: """
        A line has many frames nobody labeled, nearly all of good parts. Stage 1's network learns \
        from them, without labels, to tell a frame as it came from the same frame with a \
        synthetic defect painted on (a line, a blob, dots, a dent, a foreign patch): what an \
        irregularity on this line's surfaces is. `train --pretrained FILE` then starts stage 1 \
        (and so stage 2) from it. The frames: every JPEG under --data (labels, if any, \
        are not read), or with --config the frames the daemon kept that are good as far as \
        anyone knows (labeled good, or unlabeled and passed by the model), cut to the region \
        the daemon judges. One frame in ten is held out and judged as it came and painted; the \
        ROC AUC of telling them apart is printed (of this task, not of the line's defects). \
        The network options are train's; give the same ones to both (train takes the network \
        from the file). On surface-dev (pretrained on its 1,400 good training images, \
        --input-filter both) the pretrained model alone, which never saw a labeled defect, \
        told good from defective parts at a validation ROC AUC of 0.750 (the supervised stage \
        1: 0.81); started from it, stage 1 was ahead early (0.776 after one epoch against \
        0.63) but not at the end: 0.796 against 0.784 after 20 epochs without the stem pool, \
        and the same test ROC AUC (0.791) after 30 epochs of train with it.
          linesight pretrain --data frames/ --out pretrained.safetensors
          linesight train --data parts/ --pretrained pretrained.safetensors
          linesight pretrain --config /etc/linesight/linesight.toml
        """)

    @Option(help: "A folder of frames (JPEG), any layout (labels are not read).") var data: String?
    @Option(help: "A line config: pretrain on the frames its daemon kept (good as far as anyone knows); the model goes beside the line's models unless --out says otherwise.")
    var config: String?
    @Option(help: "The model file to write (default: pretrained.safetensors beside the line's models with --config, else linesight-data/models/pretrained.safetensors).")
    var out: String?
    @OptionGroup var network: NetworkOptions
    @Option(help: "Passes over the frames.") var epochs: Int = 20
    @Option(help: "Images per optimizer step (default: \(StagedOptions().batchSize)).") var batchSize: Int?
    @Option(help: "Peak AdamW learning rate (default: \(StagedOptions().learningRate)).") var lr: Float?
    @Option(help: "Seed for initialization, shuffling, augmentation and the painted defects.") var seed: UInt64 = 1
    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        guard (data != nil) != (config != nil) else { throw ValidationError("give either --data DIR or --config FILE (its kept frames)") }
        if epochs < 1 { throw ValidationError("--epochs must be at least 1") }
        if let batchSize, batchSize < 1 { throw ValidationError("--batch-size must be at least 1") }
        if let lr, !(lr > 0 && lr.isFinite) { throw ValidationError("--lr must be a positive number") }
        try network.refuseSigmaWithoutHighPass(filterFromModel: false)
    }

    var options: StagedOptions {
        var o = StagedOptions()
        network.apply(to: &o)
        (o.stage1Epochs, o.seed) = (epochs, seed)
        if let batchSize { o.batchSize = batchSize }
        if let lr { o.learningRate = lr }
        return o
    }

    /// The destination is checked before the work, not after it.
    static func checkWritable(_ destination: String) throws {
        let parent = (destination as NSString).deletingLastPathComponent
        if !parent.isEmpty { try? FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true) }
        guard FileManager.default.isWritableFile(atPath: parent.isEmpty ? "." : parent) else {
            throw ValidationError("--out \(destination): its folder cannot be created or written to")
        }
    }

    func run() throws {
        try compute.apply(Logger(label: "linesight.pretrain"))
        var destination = out ?? "linesight-data/models/pretrained.safetensors"
        var isDir: ObjCBool = false
        if let data, !(FileManager.default.fileExists(atPath: data, isDirectory: &isDir) && isDir.boolValue) {
            throw ValidationError("--data \(data): no such folder")
        }
        let line = try config.map { try RegistryOptions.open($0) }
        if let (cfg, _) = line, out == nil { destination = (cfg.models.stage1 as NSString).deletingLastPathComponent + "/pretrained.safetensors" }
        try Self.checkWritable(destination)
        var folder = data ?? ""
        if let (cfg, registry) = line {
            let (dir, n) = try FirstTraining.exportPretrainingFrames(cfg, registry.store)
            print("pretraining on \(n.good) frames the daemon kept (\(cfg.database)), exported to \(dir)"
                  + (n.skippedFraming > 0 ? "; \(n.skippedFraming) judged with another ROI than the camera's current one left out" : ""))
            folder = dir
        }
        let pretrainer = Pretrainer(directory: folder, options: options)
        let bar = ProgressBar(), loadBar = LoadProgress()
        pretrainer.onLoad = { done, total in loadBar.update(done, total) }
        pretrainer.onStage = { print($0) }
        pretrainer.onBatch = bar.update
        pretrainer.onEpoch = { bar.finishEpoch($0, validationName: "held out, as came and painted") }
        let started = Date()
        let r = try pretrainer.run()
        try ModelFile.save(r.stage.network, r.stage.metadata, to: destination)
        if !r.skipped.isEmpty { print("\(r.skipped.count) files could not be read and were left out, e.g. \(r.skipped[0])") }
        print(String(format: "pretrained on %d frames in %.0f s; held out %d: as they came against painted, ROC AUC %@",
                     r.trainImages, Date().timeIntervalSince(started), r.heldOutImages, r.heldOutAUC.map { String(format: "%.3f", $0) } ?? "n/a"))
        print("model written to \(destination); start a training from it: linesight train --data DIR --pretrained \(destination)")
    }
}
