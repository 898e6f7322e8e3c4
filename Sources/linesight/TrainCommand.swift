import ArgumentParser
import Foundation
import Lifecycle
import Logging
import Neural
import Training

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train the staged inspection models (stage 1 pass/fail, stage 2 which defects) from labeled images.",
        discussion: """
        Trains both inspection stages from an ImageFolder tree (DIR/good/*.jpg, \
        DIR/<defect>/*.jpg, and DIR/labels.csv for parts with several defects, as `linesight \
        synth` writes it; good parts may also be in ok/, pass/ or normal/): stage 1 pass/fail \
        (small ResNet, AdamW, class-balanced sampling, synthetic defects painted on good parts) \
        and stage 2 which defects (multi-label, positive class weights, started from stage 1). \
        The split is 7:2:1 by a hash of each file's path (stable when data is added), or the \
        tree's own train/, val/, test/ when it comes split. Colour images train in RGB. The \
        line's operating point (stage 1's pass and fail thresholds, and how sure stage 2 must \
        be to fail a part it settles) is picked on the validation split for the fewest false \
        rejects within the escapes --target-recall allows; the escape and false-reject rates it \
        costs on the test split are printed with 95% intervals. Writes OUT/stage1.safetensors, \
        OUT/stage2.safetensors, OUT/report.json and OUT/test-scores.csv (OUT defaults to linesight-data/models), \
        with --unlabeled also OUT/self-training.csv.
          linesight synth --out data/parts --count 3000
          linesight train --data data/parts
        With --config the models are registered and promoted to the line's model paths (in a \
        new folder beside them) and the test split is frozen as the golden set retraining is judged on:
          linesight train --data data/parts --config /etc/linesight/linesight.toml
        With --labels and --config it trains from the frames people labeled in the line's \
        database instead (the current label of every kept frame):
          linesight train --labels --config /etc/linesight/linesight.toml
        Transfer learning from another line's models: --init DIR (--fine-tune head to train only the classifier).
        From weights you bring (e.g. ImageNet's): --torchvision resnet18.pth (a torchvision resnet18 \
        state dict, .pth or .safetensors; implies --arch resnet18):
          linesight train --data data/parts --torchvision resnet18-weights.pth
        From a model self-supervised on unlabeled frames (`linesight pretrain`): --pretrained FILE.
        The Fashion-MNIST proving ground of the engine is `linesight fashion-mnist`.
        """)

    @Option(help: "ImageFolder tree of inspection images: trains stage 1 and stage 2.") var data: String?
    @Flag(help: "Train both stages from the labeled frames in the database of --config (instead of --data).") var labels = false
    @Option(help: "The good parts' folder name in --data (default: whichever of good, ok, pass, normal is a folder there; else good).") var passClass: String?
    @Option(help: "Defect recall the line keeps on the validation split: with stage 2, the operating point allows the escapes it leaves and has the fewest false rejects within them; stage 1 alone keeps it with its pass threshold.") var targetRecall: Double = 0.99
    @Option(name: .customLong("init"), help: "Transfer learning from a models folder (stage1.safetensors, stage2.safetensors), e.g. another line's.")
    var initFrom: String?
    @Option(help: "Start stage 1 (and so stage 2) from a torchvision resnet18 state dict you bring, e.g. ImageNet weights: torch.save(model.state_dict(), FILE) (.pth) or a .safetensors file. Implies --arch resnet18; normalizes as ImageNet; the head starts fresh unless it has the right size.")
    var torchvision: String?
    @Option(help: "Start stage 1 (and so stage 2) from a model `linesight pretrain` learnt on unlabeled frames: every weight, at the full rate; its network and input are both stages' (leave out the options that shape them).")
    var pretrained: String?
    @Option(help: "Knowledge distillation: stage 1 also learns the softened logits of this teacher (a models folder, e.g. a ResNet18 set trained with --arch resnet18, or its stage1.safetensors) on each batch it sees, and stage 2 those of the folder's stage2.safetensors (each kind's sigmoid) when it names the same defect kinds. Same input size and colour as this training.")
    var teacher: String?
    @Option(help: "Semi-supervised stage 1 (self-training): a folder of unlabeled frames (JPEGs at any depth; folder names are not read; frames with the very pixels of a labelled image are left out). After stage 1 learns from the labels, it scores them; those it is sure of (good at or under the score under which validation has at most 1 % defective parts, defective at or over the one over which it has at most 5 % good), the surest of them up to as many as there are training labels, become pseudo-labels, and a fresh stage 1 learns from labels and pseudo-labels together (stage 1 takes two to three times as long). Stage 2 learns kinds from labels only. Each pseudo-labelled frame is listed in OUT/self-training.csv.")
    var unlabeled: String?
    @Option(help: "With --teacher: the temperature softening both logits, 1...20.") var distillTemperature: Float = 4
    @Option(help: "With --teacher: the soft targets' share of each stage's loss, (0, 1].") var distillWeight: Float = 0.5
    @Option(help: "With --init or --torchvision: fine-tune 'all' layers (at a low rate, \(StagedOptions().fineTuneLearningRate); the default) or only the 'head' (at \(StagedOptions().headLearningRate)).") var fineTune: String?
    @Flag(inversion: .prefixedNo, help: "Stage 1 scores each image as the mean of its four flips (original, left-right, top-bottom, both), in calibration, thresholds and the daemon alike: steadier on faint defects at four times stage 1's compute (--no-flip-average: one pass).")
    var flipAverage = true
    @OptionGroup var network: NetworkOptions
    @Option(help: "A line config; the models are registered and promoted to its model paths, and the test split becomes the golden set that retraining is judged on. A product whose stage2 path is another product's (shared in the config) trains stage 1 alone, its thresholds picked with that live stage 2.")
    var config: String?
    @OptionGroup var product: ProductOption
    @Option(help: "Passes over the training set, per stage (default: \(StagedOptions().stage1Epochs)).") var epochs: Int?
    @Option(help: "Images per optimizer step (default: \(StagedOptions().batchSize)).") var batchSize: Int?
    @Option(help: "Peak AdamW learning rate (default: \(StagedOptions().learningRate)).") var lr: Float?
    @Option(help: "The share (0-1) of good parts stage 1 sees with a synthetic defect painted on (a line, blob, spots, a dent or a foreign patch), learnt as defective: it learns what an irregularity on a surface is, not the surfaces themselves. 0 turns it off (default: \(StagedOptions().syntheticDefectRate)).")
    var syntheticDefects: Float?
    @Option(help: "The kinds of synthetic defect to paint, comma-separated: line, blob, spots, warp (a dent: the surface pushed in or out), patch (another part's texture) (default: all).")
    var syntheticKinds: String?
    @Option(help: "Seed for initialization, shuffling and augmentation.") var seed: UInt64 = 1
    @Option(help: "The folder for both stages and the report (not with --config, whose model paths decide).") var out: String?
    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        guard (data != nil) != labels else { throw ValidationError("give either --data DIR or --labels (with --config)") }
        if labels, config == nil { throw ValidationError("--labels reads the database of a line: give --config FILE") }
        if labels, passClass != nil, passClass != "good" { throw ValidationError("--pass-class applies to --data: the database's labels name good parts 'good'") }
        if product.product != nil, config == nil { throw ValidationError("--product names a product of a line config: give --config FILE") }
        if config != nil, out != nil { throw ValidationError("--out and --config: with --config the models go beside the line's model paths; leave out --out") }
        if let fineTune {
            guard initFrom != nil || torchvision != nil else { throw ValidationError("--fine-tune applies to --init and --torchvision only") }
            guard StagedOptions.FineTune(rawValue: fineTune) != nil else { throw ValidationError("--fine-tune must be all or head") }
        }
        if let epochs, epochs < 1 { throw ValidationError("--epochs must be at least 1") }
        try network.refuseSigmaWithoutHighPass(filterFromModel: initFrom != nil || torchvision != nil || pretrained != nil)
        let starts = [("--init", initFrom != nil), ("--torchvision", torchvision != nil), ("--pretrained", pretrained != nil)].filter(\.1).map(\.0)
        if starts.count > 1 { throw ValidationError("\(starts.joined(separator: " and ")): start from one of them") }
        if let torchvision {
            guard network.arch == nil || network.arch == "resnet18" else { throw ValidationError("--torchvision weights are a resnet18's: leave out --arch \(network.arch!) (or give resnet18)") }
            guard FileManager.default.isReadableFile(atPath: torchvision) else { throw ValidationError("--torchvision \(torchvision): no readable file there") }
            let ignored = network.shapingTheNetwork.filter { $0 != "--arch" && $0 != "--colour" } + (lr != nil ? ["--lr"] : [])
            if !ignored.isEmpty {
                throw ValidationError("\(ignored.joined(separator: ", ")) with --torchvision: the network is torchvision's resnet18 and its rate is --fine-tune's; leave \(ignored.count == 1 ? "it" : "them") out")
            }
        }
        if initFrom != nil {
            // the architecture and the fine-tuning rate come from the init model and --fine-tune
            let ignored = network.shapingTheNetwork + (lr != nil ? ["--lr"] : [])
            if !ignored.isEmpty {
                throw ValidationError("\(ignored.joined(separator: ", ")) with --init: the network is the init model's and its rate is --fine-tune's; leave \(ignored.count == 1 ? "it" : "them") out")
            }
        }
        if let pretrained {
            guard FileManager.default.isReadableFile(atPath: pretrained) else { throw ValidationError("--pretrained \(pretrained): no readable file there (`linesight pretrain` writes one)") }
            let ignored = network.shapingTheNetwork + (network.inputSize != "auto" ? ["--input-size"] : [])
            if !ignored.isEmpty {
                throw ValidationError("\(ignored.joined(separator: ", ")) with --pretrained: the network and its input are the pretrained model's; leave \(ignored.count == 1 ? "it" : "them") out")
            }
        }
        if let teacher {
            var isDir: ObjCBool = false
            let exists = FileManager.default.fileExists(atPath: teacher, isDirectory: &isDir)
            guard exists, !isDir.boolValue || FileManager.default.fileExists(atPath: teacher + "/stage1.safetensors") else {
                throw ValidationError("--teacher \(teacher): no model there (give a models folder with stage1.safetensors, or the file)")
            }
        }
        if let unlabeled {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: unlabeled, isDirectory: &isDir), isDir.boolValue else {
                throw ValidationError("--unlabeled \(unlabeled): no such folder (give a folder of unlabeled JPEG frames)")
            }
        }
        if teacher == nil, distillTemperature != 4 || distillWeight != 0.5 {
            throw ValidationError("--distill-temperature and --distill-weight apply to --teacher only")
        }
        guard distillTemperature.isFinite, (1...20).contains(distillTemperature) else { throw ValidationError("--distill-temperature must lie in 1...20") }
        guard distillWeight.isFinite, distillWeight > 0, distillWeight <= 1 else { throw ValidationError("--distill-weight must lie in (0, 1]") }
        guard targetRecall > 0 && targetRecall <= 1 else { throw ValidationError("--target-recall must be in (0, 1]") }
        if let syntheticDefects, !(0...1).contains(syntheticDefects) { throw ValidationError("--synthetic-defects must lie in 0...1 (0 turns it off)") }
        if let syntheticKinds {
            _ = try Self.syntheticKinds(syntheticKinds)
            if syntheticDefects == 0 { throw ValidationError("--synthetic-kinds paints nothing with --synthetic-defects 0") }
        }
        if let batchSize, batchSize < 1 { throw ValidationError("--batch-size must be at least 1") }
    }

    /// `--synthetic-kinds`: known kinds, each once, at least one.
    static func syntheticKinds(_ text: String) throws -> [SyntheticDefects.Kind] {
        let names = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let known = SyntheticDefects.Kind.allCases.map(\.rawValue).joined(separator: ", ")
        var kinds: [SyntheticDefects.Kind] = []
        for name in names {
            guard let kind = SyntheticDefects.Kind(rawValue: name) else {
                throw ValidationError("--synthetic-kinds: '\(name)' is no kind of synthetic defect (\(known))")
            }
            if !kinds.contains(kind) { kinds.append(kind) }
        }
        guard !kinds.isEmpty else { throw ValidationError("--synthetic-kinds: name at least one of \(known)") }
        return kinds
    }

    var options: StagedOptions {
        var o = StagedOptions()
        (o.passClass, o.targetRecall, o.seed, o.initFrom, o.pretrained) = (passClass ?? "good", targetRecall, seed, initFrom, pretrained)
        network.apply(to: &o)
        if let epochs { (o.stage1Epochs, o.stage2Epochs) = (epochs, epochs) }
        if let torchvision { (o.torchvisionWeights, o.architecture) = (torchvision, .resnet18) }
        if let syntheticDefects { o.syntheticDefectRate = syntheticDefects }
        if let syntheticKinds, let kinds = try? Self.syntheticKinds(syntheticKinds) { o.syntheticDefectKinds = kinds }
        if let batchSize { o.batchSize = batchSize }
        if let lr { o.learningRate = lr }
        o.flipAverage = flipAverage
        (o.teacher, o.distillTemperature, o.distillWeight) = (teacher, distillTemperature, distillWeight)
        o.unlabeled = unlabeled
        o.fineTune = fineTune.flatMap(StagedOptions.FineTune.init(rawValue:)) ?? .all
        return o
    }

    func run() throws {
        try compute.apply(Logger(label: "linesight.train"))
        var destination = FirstTraining.Destination.folder(out ?? "linesight-data/models")
        var data = self.data
        if let config {
            let (cfg, registry) = try RegistryOptions.open(config, product: product.product)
            // refused before the labels are exported or anything trained (FirstTraining checks again);
            // a stage 2 shared with its owner is left to it, stage 1 trained beside it
            try registry.checkWritable(.one)
            _ = try FirstTraining.sharedStageTwo(registry)
            let promotion = Promotion(registry: registry, who: "linesight train (\(whoAmI()))")
            destination = .registry(promotion)
            if labels {
                let (dir, n) = try FirstTraining.exportLabels(cfg, promotion)
                print("training on \(n.defective + n.good) labeled frames of \(registry.productName) from \(cfg.database) (\(n.defective) defective, \(n.good) good), exported to \(dir)"
                      + (n.skippedFraming > 0 ? "; \(n.skippedFraming) frames judged with another ROI than the camera's current one left out" : ""))
                data = dir
            }
        }
        var options = self.options
        if !labels { options.passClass = ImageFolder.passClass(data!, requested: passClass) }
        let training = FirstTraining(data: data!, options: options)
        let bar = ProgressBar(), loadBar = LoadProgress()
        training.onLoad = { done, total in loadBar.update(done, total) }
        training.onStage = { name, train, val in print(train == 0 && val == 0 ? name : "\(name): \(train) training images, \(val) validation images") }
        training.onBatch = bar.update
        training.onEpoch = { bar.finishEpoch($0, validationName: "val") }
        let r = try training.run(to: destination)
        TrainSummary.print(r.result, targetRecall: targetRecall)
        print("models written to \(r.stage1File)" + (r.stage2File.map { " and \($0)" } ?? "") + "; report in \(r.folder)/report.json, every test part's stage-1 score in test-scores.csv")
        if let m = r.promoted, case .registry(let p) = destination {
            print("registered and promoted stage 1 \(m.stage1.version)" + (m.stage2.map { ", stage 2 \($0.version)" } ?? "") + " -> \(p.registry.paths.stage1)")
        }
        if let golden = r.goldenFrozen {
            print("golden set frozen: \(r.result.testItems.count) test images (\(golden)); retraining is judged on them and never trains on them")
        }
    }
}
