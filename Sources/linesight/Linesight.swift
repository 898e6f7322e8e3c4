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
        The engine is Linesight's own CNN library on OpenBLAS. Start with:
          linesight engine                         which OpenBLAS kernels run here, and a correctness check
          linesight train --dataset fashion-mnist  train the small ResNet on Fashion-MNIST with a progress bar
          linesight evaluate --model FILE          test accuracy, per-class F1 and the confusion matrix
          linesight synth --out DIR --count N      a labelled dataset of synthetic parts with defects
          linesight cameras                        V4L2 cameras, formats, frame rates and controls
          linesight capture --camera DEV --count N --out DIR   grab frames for a first dataset
        """,
        subcommands: [TrainCommand.self, EvaluateCommand.self, EngineCommand.self,
                      SynthCommand.self, CamerasCommand.self, CaptureCommand.self, ServeCommand.self, ModelsCommand.self, RetrainCommand.self,
                      FlaggedCommand.self, LabelCommand.self, LabelsCommand.self, ReviewCommand.self, StatsCommand.self, AuditLabelsCommand.self])

    static func main() {
        OpenBLASBootstrap.ensureBestCore()
        Console.lineBuffered()
        LoggingSystem.bootstrap { label in
            var h = StreamLogHandler.standardError(label: label)
            h.logLevel = ProcessInfo.processInfo.environment["LINESIGHT_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
            return h
        }
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            exit(withError: error)
        }
    }
}

/// Options every compute-heavy command shares.
struct ComputeOptions: ParsableArguments {
    @Option(help: "Threads for OpenBLAS and the engine's own kernels (default: all cores).")
    var threads: Int?

    func apply(_ logger: Logger) throws {
        let n = threads ?? ProcessInfo.processInfo.activeProcessorCount
        guard n >= 1 && n <= 256 else { throw ValidationError("--threads must be between 1 and 256") }
        Parallel.defaultWorkers = n
        // The engine splits GEMMs across its own workers; OpenBLAS runs one thread per call.
        BLASRuntime.setThreads(1)
        try OpenBLASBootstrap.verify(logger)
    }
}
