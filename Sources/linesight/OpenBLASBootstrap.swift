import Foundation
import Logging
import Neural

/// Makes sure OpenBLAS runs kernels that fit this CPU. OpenBLAS reads
/// OPENBLAS_CORETYPE only while it loads, so when it picked a generic core on a CPU
/// that can do better (and the user chose nothing), Linesight re-executes itself once
/// with the setting, before doing any work.
enum OpenBLASBootstrap {
    static let guardVariable = "LINESIGHT_OPENBLAS_REEXEC"

    static func cpuFeatures() -> CPUFeatures {
        let text = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        return CPUFeatures.parse(cpuinfo: text).confirmedByCPUID()
    }

    /// For tests on machines whose OpenBLAS already fits the CPU: pretend it picked this core.
    static let pretendVariable = "LINESIGHT_TEST_PRETEND_OPENBLAS_CORE"

    static func decision() -> CoreDecision {
        let env = ProcessInfo.processInfo.environment
        let current = env[guardVariable] == nil ? env[pretendVariable] ?? BLASRuntime.coreName : BLASRuntime.coreName
        return chooseOpenBLASCore(current: current, cpu: cpuFeatures(), userSetting: env["OPENBLAS_CORETYPE"])
    }

    static func ensureBestCore() {
        let env = ProcessInfo.processInfo.environment
        guard env[guardVariable] == nil, case .switchTo(let core, _) = decision() else { return }
        setenv("OPENBLAS_CORETYPE", core, 1)
        setenv(guardVariable, core, 1)
        let args = CommandLine.arguments.map { strdup($0) } + [nil]
        execv("/proc/self/exe", args)
        // exec failed: carry on with the kernels we have; `verify` will say which.
        unsetenv("OPENBLAS_CORETYPE")
    }

    /// Logs the core in use and checks its results against the naive GEMM.
    static func verify(_ logger: Logger) throws {
        let env = ProcessInfo.processInfo.environment
        var meta: Logger.Metadata = ["openblas.core": "\(BLASRuntime.coreName)", "openblas.threads": "\(BLASRuntime.threads)"]
        if let chosen = env[guardVariable] { meta["openblas.switched_to"] = "\(chosen)" }
        if let user = env["OPENBLAS_CORETYPE"], env[guardVariable] == nil { meta["openblas.user_setting"] = "\(user)" }
        do {
            try BLASRuntime.verifyKernels()
        } catch {
            logger.error("OpenBLAS kernels failed the correctness check", metadata: meta.merging(["error": "\(error)"]) { a, _ in a })
            throw error
        }
        logger.info("OpenBLAS kernels verified", metadata: meta)
        let cpu = cpuFeatures()
        if let user = env["OPENBLAS_CORETYPE"], env[guardVariable] == nil, cpu.hasAVX512,
           !["SkylakeX", "Cooperlake", "SapphireRapids"].contains(BLASRuntime.coreName) {
            logger.notice("OPENBLAS_CORETYPE keeps OpenBLAS on AVX2 kernels on a CPU with AVX-512; unset it (or set SkylakeX) for about twice the GEMM speed",
                          metadata: ["openblas.user_setting": "\(user)"])
        }
    }
}
