import CBLAS
import Foundation

/// What OpenBLAS is doing in this process, and a check that it computes correctly.
public enum BLASRuntime {
    /// The kernel family OpenBLAS picked at load time ("Haswell", "SkylakeX", "Prescott", ...).
    public static var coreName: String { String(cString: openblas_get_corename()) }
    public static var configuration: String { String(cString: openblas_get_config()) }
    public static var threads: Int { Int(openblas_get_num_threads()) }
    public static func setThreads(_ n: Int) { openblas_set_num_threads(Int32(max(1, n))) }

    /// Runs sgemm on awkward shapes, every transpose combination and beta 0/1, and
    /// compares with the naive Double twin. Throws if any result is off.
    public static func verifyKernels(seed: UInt64 = 7) throws {
        var rng = SeededGenerator(seed: seed)
        let shapes = [(1, 1, 1), (37, 53, 29), (64, 200, 147), (130, 96, 577)]
        for (m, n, k) in shapes {
            for ta in [false, true] {
                for tb in [false, true] {
                    for beta: Float in [0, 1] {
                        let a = (0..<(m * k)).map { _ in rng.uniform(-1, 1) }
                        let b = (0..<(k * n)).map { _ in rng.uniform(-1, 1) }
                        let c0 = (0..<(m * n)).map { _ in rng.uniform(-1, 1) }
                        var fast = c0, slow = c0
                        let lda = ta ? m : k, ldb = tb ? k : n
                        sgemm(ta, tb, m, n, k, 0.5, a, lda, b, ldb, beta, &fast, n)
                        sgemmNaive(ta, tb, m, n, k, 0.5, a, lda, b, ldb, beta, &slow, n)
                        for i in 0..<(m * n) where abs(fast[i] - slow[i]) > 1e-4 * Float(k) + 1e-5 {
                            throw NeuralError.kernelCheckFailed(core: coreName,
                                detail: "sgemm \(m)x\(n)x\(k) transA=\(ta) transB=\(tb) beta=\(beta): element \(i) is \(fast[i]), expected \(slow[i])")
                        }
                    }
                }
            }
        }
    }
}

/// CPU facts that decide which OpenBLAS kernels can run here.
public struct CPUFeatures: Equatable, Sendable {
    public var flags: Set<String>
    public var modelName: String

    public init(flags: Set<String>, modelName: String = "") {
        self.flags = flags
        self.modelName = modelName
    }

    /// Parses the first processor block of /proc/cpuinfo (x86 "flags", Arm "Features").
    public static func parse(cpuinfo: String) -> CPUFeatures {
        var flags: Set<String> = []
        var model = ""
        for line in cpuinfo.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2 else { continue }
            if (parts[0] == "flags" || parts[0] == "Features") && flags.isEmpty {
                flags = Set(parts[1].split(separator: " ").map(String.init))
            } else if parts[0] == "model name" && model.isEmpty {
                model = parts[1]
            }
        }
        return CPUFeatures(flags: flags, modelName: model)
    }

    /// These features less the vector extensions CPUID denies: /proc/cpuinfo describes the
    /// host, while an emulator (qemu-user) or a hypervisor may present a smaller CPU, and
    /// the kernels must fit the CPU the code runs on.
    public func confirmedByCPUID() -> CPUFeatures {
        #if arch(x86_64)
        let f = Int8ISA.cpu
        let cpuid: [(String, Int32)] = [("avx2", f.avx2), ("fma", f.fma), ("avx512f", f.avx512f), ("avx512bw", f.avx512bw),
                                        ("avx512vl", f.avx512vl)]
        var out = self
        for (flag, present) in cpuid where present == 0 { out.flags.remove(flag) }
        if f.avx512f == 0 { out.flags = out.flags.filter { !$0.hasPrefix("avx512") } }
        return out
        #else
        return self
        #endif
    }

    public var hasAVX512: Bool { ["avx512f", "avx512bw", "avx512vl", "avx512dq"].allSatisfy(flags.contains) }
    public var hasAVX2: Bool { flags.contains("avx2") && flags.contains("fma") }
}

/// What to do about the OpenBLAS core at start-up.
public enum CoreDecision: Equatable, Sendable {
    case keep(reason: String)
    /// Re-execute with `OPENBLAS_CORETYPE` set to this core.
    case switchTo(core: String, reason: String)
}

/// Chooses the OpenBLAS core for this CPU. OpenBLAS 0.3.21 does not know recent CPUs and
/// silently falls back to generic SSE3 kernels ("Prescott") that run 3-10x slower; when
/// the CPU can do better and the user has not chosen, ask for the best family it supports.
public func chooseOpenBLASCore(current: String, cpu: CPUFeatures, userSetting: String?) -> CoreDecision {
    if let userSetting, !userSetting.isEmpty {
        return .keep(reason: "OPENBLAS_CORETYPE=\(userSetting) set by the user")
    }
    let avx512Cores: Set<String> = ["SkylakeX", "Cooperlake", "SapphireRapids"]
    let avx2Cores: Set<String> = avx512Cores.union(["Haswell", "Zen"])
    if cpu.hasAVX512 && !avx512Cores.contains(current) && current != "Zen" {
        return .switchTo(core: "SkylakeX", reason: "CPU has AVX-512 but OpenBLAS picked \(current)")
    }
    if cpu.hasAVX2 && !avx2Cores.contains(current) {
        return .switchTo(core: "Haswell", reason: "CPU has AVX2/FMA but OpenBLAS picked \(current)")
    }
    return .keep(reason: "OpenBLAS picked \(current), which matches this CPU")
}
