import ArgumentParser
import Foundation
import Lifecycle
import Logging
import Neural
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
        quantized again. The daemon runs it like any model; put it through the registry as a \
        challenger (`linesight models register`, then the gates of `retrain`) before it goes live.

          linesight quantize --model models/stage1.safetensors --calibrate frames/
          linesight quantize --model models/stage1.safetensors --config /etc/linesight/linesight.toml --method entropy
        """)

    @Option(help: "The fp32 model file to quantize (stage 1 or stage 2).") var model: String
    @Option(help: "A folder of frames (JPEG, any layout) to calibrate on.") var calibrate: String?
    @Option(help: "A line config: calibrate on the frames its daemon kept.") var config: String?
    @Option(help: "The int8 model file to write (default: MODEL with .int8 before .safetensors).") var out: String?
    @Option(help: "How activation ranges are clipped: percentile, entropy or minmax.") var method: Quantization.Method = .percentile
    @Option(help: "For --method percentile: the share of values kept inside the range, 50...100.") var percentile: Double = 99.99
    @Option(help: "At most this many frames are read (spread over the folder).") var frames: Int = 500
    @OptionGroup var compute: ComputeOptions

    func validate() throws {
        guard (calibrate != nil) != (config != nil) else { throw ValidationError("give either --calibrate DIR or --config FILE (its kept frames)") }
        guard (50...100).contains(percentile) else { throw ValidationError("--percentile must be a number in 50...100") }
        if method != .percentile && percentile != 99.99 { throw ValidationError("--percentile applies to --method percentile only") }
        guard (1...100_000).contains(frames) else { throw ValidationError("--frames must be between 1 and 100000") }
    }

    var destination: String {
        if let out { return out }
        let base = model.hasSuffix(".safetensors") ? String(model.dropLast(".safetensors".count)) : model
        return base + ".int8.safetensors"
    }

    func run() throws {
        try compute.apply(Logger(label: "linesight.quantize"))
        let (network, meta) = try ModelFile.load(path: model)
        guard meta.quantization == nil else { throw ValidationError("\(model) is already an int8 model; quantize its fp32 original") }
        guard destination != model else { throw ValidationError("--out must not be the fp32 model itself") }
        try PretrainCommand.checkWritable(destination)
        var folder = calibrate ?? "", source = calibrate.map { "folder \($0)" } ?? ""
        if let config {
            let (cfg, registry) = try RegistryOptions.open(config)
            let (dir, n) = try FirstTraining.exportPretrainingFrames(cfg, registry.store)
            print("calibrating on \(n.good) frames the daemon kept (\(cfg.database)), exported to \(dir)")
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
    }
}

extension Quantization.Method: ExpressibleByArgument {}
extension QuantizeCommand: ComputeCommand {}
