import ArgumentParser
import Foundation
import Logging
import Neural
import Training

@main
struct Linesight: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "linesight",
        abstract: "Visual quality inspection for production lines: staged CNN verdicts, human review, monthly retraining.",
        discussion: """
        A staged CNN judges every camera frame (pass/fail, then which defects), verdicts go \
        to SQLite, frames the model was unsure about wait for a person to label them, and a \
        retrain (monthly, by timer or by hand) promotes a new model only when it is proven \
        no worse than the live one. A first afternoon on a line:
          # grab frames for a first dataset (or make one: linesight synth --out DIR)
          linesight capture --camera DEV --count 500 --out DIR
          # sort it into DIR/good and DIR/<defect>, then train both stages
          linesight train --data DIR
          # inspect: every camera of the config, verdicts into the database
          linesight serve --config linesight.toml
          # label the frames the model was unsure about, one key per decision
          linesight review --config linesight.toml
          # fine-tune on the new labels; the gates decide what goes live
          linesight retrain --config linesight.toml
          # yield, defect Pareto, control charts, the model as a gauge
          linesight stats --config linesight.toml
        The whole loop on a demo camera, no hardware needed: make demo (see README.md). \
        The machine: linesight cameras (V4L2 devices), linesight engine (OpenBLAS kernels), \
        linesight fashion-mnist (the engine's proving ground).
        """,
        version: Linesight.versionText,
        subcommands: [TrainCommand.self, PretrainCommand.self, FashionMNISTCommand.self, EvaluateCommand.self, EngineCommand.self,
                      SynthCommand.self, CamerasCommand.self, CaptureCommand.self, ServeCommand.self, ModelsCommand.self, RetrainCommand.self,
                      FlaggedCommand.self, LabelCommand.self, LabelsCommand.self, ReviewCommand.self, StatsCommand.self, AuditLabelsCommand.self,
                      DatabaseCommand.self, ExportCommand.self, QuantizeCommand.self, PruneCommand.self])

    /// The release; packages add the commit date and hash (scripts/make-deb.sh).
    static let version = "0.1.0"

    /// `linesight --version`: the release, and the kernels this binary runs on this CPU.
    static var versionText: String {
        """
        linesight \(version)
        built for: \(builtFor)
        fp32 kernels: \(FloatISA.current)\(FloatISA.current == .best ? "" : " (LINESIGHT_FP32_KERNELS; the CPU has \(FloatISA.best))"), chosen at start for this CPU; OpenBLAS picks its own
        int8 kernels: \(Int8ISA.best), chosen at start for this CPU
        cpu: \(Int8ISA.cpuSummary)
        """
    }

    #if arch(x86_64)
    static let builtFor = "x86-64-v2 (SSE4.2; no AVX needed)"
    #else
    static let builtFor = "this architecture's baseline (the fp32 and int8 kernels in plain C)"
    #endif

    /// A `LINESIGHT_FP32_KERNELS` that names no variant, or one this CPU lacks, said once on stderr.
    static func warnAboutKernelChoice() {
        guard let asked = ProcessInfo.processInfo.environment["LINESIGHT_FP32_KERNELS"] else { return }
        let isa = FloatISA(name: asked)
        guard isa == nil || isa?.isAvailable == false else { return }
        let why = isa == nil ? "names no variant (baseline, avx2, avx512)" : "is not on this CPU"
        FileHandle.standardError.write(Data("linesight: LINESIGHT_FP32_KERNELS=\(asked) \(why); running \(FloatISA.current)\n".utf8))
    }

    static func main() {
        warnAboutKernelChoice()
        OpenBLASBootstrap.ensureBestCore()
        Console.lineBuffered()
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = ProcessInfo.processInfo.environment["LINESIGHT_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
            return h
        }
        do {
            var command = try parseAsRoot()
            // the engine's threads and kernels, in force for everything the command runs
            let compute = try (command as? ComputeCommand)?.compute.make() ?? .serial
            try compute.run { try command.run() }
        } catch {
            exit(withError: error)
        }
    }
}

/// Options every compute-heavy command shares.
struct ComputeOptions: ParsableArguments {
    @Option(help: "Threads for the engine's kernels (default: all cores). Its helper threads stay awake 0.2 ms after each layer for the next one, then sleep.")
    var threads: Int?

    /// The engine's `Compute` for these options; `Linesight.main` runs the command inside it.
    func make() throws -> Compute {
        let n = threads ?? ProcessInfo.processInfo.activeProcessorCount
        guard n >= 1 && n <= 256 else { throw ValidationError("--threads must be between 1 and 256") }
        return Compute(threads: n)
    }

    func apply(_ logger: Logger) throws {
        // A command that has these options but is not a `ComputeCommand` would run serial
        // whatever --threads says: refuse that here, where every such command passes.
        let wanted = threads ?? ProcessInfo.processInfo.activeProcessorCount
        guard Compute.current().threads == wanted else {
            throw ValidationError("internal: this command's --threads did not reach the engine (declare it a ComputeCommand)")
        }
        // The engine splits GEMMs across its own workers; OpenBLAS runs one thread per call.
        BLASRuntime.setThreads(1)
        try OpenBLASBootstrap.verify(logger)
    }
}

/// A command with `ComputeOptions`: `Linesight.main` runs it inside their `Compute`.
protocol ComputeCommand { var compute: ComputeOptions { get } }
extension TrainCommand: ComputeCommand {}
extension PretrainCommand: ComputeCommand {}
extension EvaluateCommand: ComputeCommand {}
extension EngineCommand: ComputeCommand {}
extension ServeCommand: ComputeCommand {}
extension RetrainCommand: ComputeCommand {}
extension AuditLabelsCommand: ComputeCommand {}
extension FashionMNISTCommand: ComputeCommand {}
extension PruneCommand: ComputeCommand {}
