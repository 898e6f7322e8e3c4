import ArgumentParser
import Foundation
import Inspection
import Lifecycle
import LinesightCore
import Logging
import Neural
import Store
import Training

struct QuantizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quantize",
        abstract: "Make an int8 model from a stage model, calibrated on real frames (post-training quantization).",
        discussion: """
        Weights become int8, symmetric per output channel, with batch norm folded in; each \
        stored activation becomes uint8 with a range measured on real frames: every JPEG \
        under --calibrate (labels not read), or with --config the frames the daemon kept, cut \
        to the region it judges. The range is clipped at a percentile of the values on each \
        side of zero (default 99.99), at the clip of least information loss (--method entropy, \
        as TensorRT calibrates), or not at all (minmax); the map a global maximum reads is \
        never clipped. Each conv's requantization is fused with its bias, the ResNet block's \
        residual and the ReLU. The int8 kernels are chosen at run time: AVX512-VNNI, AVX-VNNI \
        or AVX2, or plain C on CPUs without them (`linesight --version` says which).

        Frames held out of the calibration (one in ten) check the int8 model against the fp32 \
        one: the share of frames whose top class agrees, how far the scores move, and the \
        time of a frame in each. The file keeps the fp32 weights (the int8 ones are derived \
        from them when it is loaded, the same on every machine), so it can be exported or \
        quantized again. The daemon runs it like any model.

        With --config, the int8 form of the line's stage-1 or stage-2 champion is a challenger: \
        it is registered with the champion as its parent and judged on the golden set against \
        it, and promoted (the daemon swaps it in) only when its escapes and its false rejects \
        are each within 0.5 points of the fp32 champion's; else it is marked rejected and the \
        champion stays. For stage 2 those are the line's, the live stage 1 deciding with each \
        stage 2 as the daemon does, and each defect kind's recall may also drop at most 0.02. \
        It calibrates on the frames the daemon kept, or on --calibrate DIR. On a line of \
        several products the champion is the one of the product whose set MODEL belongs to, \
        and the frames are the ones judged for that product.

          linesight quantize --model models/stage1.safetensors --calibrate frames/
          linesight quantize --model /var/lib/linesight/models/stage1.safetensors --config /etc/linesight/linesight.toml
        """)

    @Option(help: "The fp32 model file to quantize (stage 1 or stage 2).") var model: String
    @Option(help: "A folder of frames (JPEG, any layout) to calibrate on.") var calibrate: String?
    @Option(help: "A line config: the int8 form of its stage-1 or stage-2 champion goes through the registry's gate (and calibrates on the frames its daemon kept, unless --calibrate).")
    var config: String?
    @Flag(help: "With --config: register the int8 model if it passes the gate, but leave the champion live.") var noPromote = false
    @Option(help: "The int8 model file to write (default: MODEL with .int8 before .safetensors).") var out: String?
    @Option(help: "How activation ranges are clipped: percentile, entropy or minmax.") var method: Quantization.Method = .percentile
    @Option(help: "For --method percentile: the share of values kept inside the range, 50...100.") var percentile: Double = 99.99
    @Option(help: "At most this many frames are read (spread over the folder), 1...2000.") var frames: Int = 500
    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        guard calibrate != nil || config != nil else { throw ValidationError("give --calibrate DIR or --config FILE (its kept frames), or both") }
        if noPromote && config == nil { throw ValidationError("--no-promote applies to --config only") }
        guard (50...100).contains(percentile) else { throw ValidationError("--percentile must be a number in 50...100") }
        if method != .percentile && percentile != 99.99 { throw ValidationError("--percentile applies to --method percentile only") }
        guard (1...2000).contains(frames) else { throw ValidationError("--frames must be between 1 and 2000") }
    }

    var destination: String {
        if let out { return out }
        let base = model.hasSuffix(".safetensors") ? String(model.dropLast(".safetensors".count)) : model
        return base + ".int8.safetensors"
    }

    func run() throws {
        try compute.apply(Logger(label: "linesight.quantize"))
        var (network, meta) = try ModelFile.load(path: model)
        if meta.quantization != nil {
            print("\(model) is an int8 model: its fp32 weights are quantized again, its old ranges replaced")
            meta.quantization = nil
        }
        guard destination != model else { throw ValidationError("--out must not be the fp32 model itself") }
        try PretrainCommand.checkWritable(destination)
        var folder = calibrate ?? "", source = calibrate.map { "folder \($0)" } ?? ""
        let line = try config.map { try Self.openRegistry($0, model: model) }
        if let (_, registry) = line {
            // refused before calibrating: the champion's live file is another product's to write
            let version = String(try Hashing.sha256(file: model).prefix(12))
            for stage in [Stage.one, .two] where try registry.champion(stage)?.version == version { try registry.checkWritable(stage) }
        }
        if let (cfg, registry) = line, calibrate == nil {
            let (dir, n) = try FirstTraining.exportPretrainingFrames(cfg, registry.store, product: registry.product)
            print("calibrating on \(n.good) frames the daemon kept for \(registry.productName) (\(cfg.database)), exported to \(dir)")
            folder = dir
            source = "frames kept by \(cfg.database)"
        }
        var quantizer = Quantizer()
        quantizer.method = method
        quantizer.percentile = percentile
        quantizer.maximumFrames = frames
        let loadBar = LoadProgress()
        quantizer.onLoad = { loadBar.update($0, $1) }
        quantizer.onStage = { print($0) }
        quantizer.onProgress = { pass, done, total in
            if done == total { print("  \(pass): \(total) frames") }
        }
        let (int8Meta, r) = try quantizer.run(network, meta, frames: folder, source: source)
        try ModelFile.save(network, int8Meta, to: destination)
        if !r.skipped.isEmpty { print("\(r.skipped.count) files could not be read and were left out, e.g. \(r.skipped[0])") }
        print(String(format: "checked on %d frames%@: top class agrees on %.1f %%, scores move by %.4f at most (mean %.4f)",
                     r.checked, r.heldOut ? " held out of the calibration" : " (the calibration frames)", r.topClassAgreement * 100,
                     r.maximumScoreChange, r.meanScoreChange))
        print(String(format: "one frame: fp32 %.2f ms, int8 %.2f ms (%.2fx) on %@", r.fp32Milliseconds, r.int8Milliseconds,
                     r.fp32Milliseconds / max(r.int8Milliseconds, 1e-9), r.isa.description))
        print("int8 model written to \(destination)")
        if let (cfg, registry) = line { try challenge(cfg, registry, network, meta, int8Meta) }
    }

    /// The line's registry for the product whose set `model` belongs to (a line of several
    /// products: each has its own champions); the `[models]` set's for a file it does not know.
    static func openRegistry(_ config: String, model: String) throws -> (LineConfig, ModelRegistry) {
        let (cfg, any) = try RegistryOptions.open(config)
        let version = String(try Hashing.sha256(file: model).prefix(12))
        guard let product = try any.store.model(version: version)?.product, !product.isEmpty, cfg.product(product) != nil else { return (cfg, any) }
        return try RegistryOptions.open(config, product: product)
    }

    /// The registry's gate for the int8 form of the stage-1 or stage-2 champion
    /// (`Promotion.int8Checks`, `Promotion.int8StageTwoChecks`).
    func challenge(_ cfg: LineConfig, _ registry: ModelRegistry, _ network: Network, _ fp32: ModelMetadata, _ int8: ModelMetadata) throws {
        let hash = try Hashing.sha256(file: model)
        let one = try registry.champion(.one), two = try registry.champion(.two)
        guard let one else {
            throw ValidationError("the registry has no stage-1 champion of \(registry.productName) yet: `linesight train --data DIR --config FILE` makes the first")
        }
        let stage: Stage, champion: ModelRecord
        if hash.hasPrefix(one.version) {
            (stage, champion) = (.one, one)
        } else if let two, hash.hasPrefix(two.version) {
            (stage, champion) = (.two, two)
            guard registry.paths.stage2 != nil else {
                throw ValidationError("\(model) is the stage-2 champion, but \(config ?? "the config") names no stage-2 model: the line cannot be judged with it")
            }
        } else {
            throw ValidationError("\(model) is neither the stage-1 champion (\(one.version), \(registry.paths.stage1)) nor the stage-2 champion"
                                  + (two.map { " (\($0.version), \(registry.paths.stage2 ?? "-"))" } ?? " (there is none)")
                                  + "; the int8 file is written but nothing was registered")
        }
        let promotion = Promotion(registry: registry, who: "linesight quantize (\(whoAmI()))")
        let golden = try promotion.golden.load(passClass: "good")
        let checks: [GateCheck]
        if stage == .one {
            print("judging fp32 champion \(champion.version) and its int8 form on \(golden.count) golden images")
            let (c, x) = try Quantizer.goldenFigures(network, fp32: fp32, int8: int8, golden: golden, passClass: "good")
            checks = Promotion.int8Checks(champion: c, challenger: x)
        } else {
            // the champion in fp32 (its weights as loaded, whatever precision the live file runs in) against its int8 form,
            // each with the stage 1 the daemon runs (the live file) and the config's thresholds
            let fp32File = FileManager.default.temporaryDirectory.appendingPathComponent("linesight-fp32-\(UUID().uuidString).safetensors").path
            var plain = fp32
            plain.quantization = nil
            try ModelFile.save(network, plain, to: fp32File)
            defer { try? FileManager.default.removeItem(atPath: fp32File) }
            print("judging the line on \(golden.count) golden images with stage-2 champion \(champion.version) in fp32 and in int8 "
                  + "(stage 1: the live \(registry.paths.stage1))")
            var withFP32 = registry.paths, withInt8 = registry.paths
            (withFP32.stage2, withInt8.stage2) = (fp32File, destination)
            let c = try StagedEvaluation.golden(paths: withFP32, items: golden), x = try StagedEvaluation.golden(paths: withInt8, items: golden)
            checks = Promotion.int8StageTwoChecks(champion: c, challenger: x)
        }
        let width = checks.map(\.gate.count).max() ?? 0
        for check in checks { print("  \(check.gate.padding(toLength: width, withPad: " ", startingAt: 0))  \(check.passed ? "pass" : "FAIL")  \(check.detail)") }
        let d = try promotion.settleInt8(file: destination, stage: stage, champion: champion, checks: checks, promote: !noPromote)
        if d.promoted {
            print("promoted int8 \(d.challenger.version) over fp32 \(champion.version): the daemon swaps it in; `linesight models rollback --stage \(stage.rawValue)\(registry.product.isEmpty ? "" : " --product \(registry.product)")` undoes it")
        } else if d.failedGates.isEmpty {
            print("registered int8 \(d.challenger.version) as a candidate (--no-promote); `linesight models promote \(d.challenger.version)` puts it live")
        } else {
            print("kept the fp32 champion \(champion.version): int8 \(d.challenger.version) rejected (\(d.failedGates.joined(separator: ", ")))")
        }
    }
}

extension Quantization.Method: ExpressibleByArgument {}
extension QuantizeCommand: ComputeCommand {}
