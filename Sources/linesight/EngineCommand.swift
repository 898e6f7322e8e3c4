import ArgumentParser
import Foundation
import Logging
import Neural

struct EngineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engine",
        abstract: "Show which OpenBLAS kernels run on this CPU and check that they compute correctly.",
        discussion: """
        OpenBLAS 0.3.21 does not recognise some recent CPUs and silently falls back to slow
        generic kernels. Linesight notices and restarts itself with OPENBLAS_CORETYPE set to
        the best family the CPU supports (unless you set OPENBLAS_CORETYPE yourself). Every
        compute command then multiplies test matrices with the chosen kernels and compares
        them with a plain reference before it starts.
        """)

    @OptionGroup var compute: ComputeOptions

    func run() throws {
        let logger = Logger(label: "linesight.engine")
        try compute.apply(logger)
        let cpu = OpenBLASBootstrap.cpuFeatures()
        let env = ProcessInfo.processInfo.environment
        print("cpu            \(cpu.modelName.isEmpty ? "unknown" : cpu.modelName)")
        print("vector units   \(cpu.hasAVX512 ? "AVX-512" : cpu.hasAVX2 ? "AVX2+FMA" : "SSE (no AVX2)")")
        print("openblas       \(BLASRuntime.configuration)")
        print("core in use    \(BLASRuntime.coreName)")
        if let switched = env[OpenBLASBootstrap.guardVariable] {
            print("core choice    switched to \(switched) at start (OpenBLAS picked a generic core)")
        } else if let user = env["OPENBLAS_CORETYPE"] {
            print("core choice    OPENBLAS_CORETYPE=\(user), set by you")
        } else if case .keep(let reason) = OpenBLASBootstrap.decision() {
            print("core choice    kept: \(reason)")
        }
        print("threads        \(BLASRuntime.threads) (OpenBLAS), \(Parallel.workers) (engine)")
        print("kernel check   passed (sgemm vs naive reference, all transposes)")
        print(String(format: "sgemm speed    %.1f GFLOP/s (1024^3, %d worker%@)", Self.gemmSpeed(), Parallel.workers,
                     Parallel.workers == 1 ? "" : "s"))
    }

    /// GFLOP/s of a 1024^3 single-precision GEMM with the engine's threading, best of 5.
    static func gemmSpeed() -> Double {
        let n = 1024
        let a = [Float](repeating: 0.5, count: n * n)
        var c = a
        var best = Double.infinity
        for _ in 0..<5 {
            let start = Date()
            sgemm(false, false, n, n, n, 1, a, n, a, n, 0, &c, n)
            best = min(best, Date().timeIntervalSince(start))
        }
        return 2 * Double(n * n * n) / best / 1e9
    }
}
