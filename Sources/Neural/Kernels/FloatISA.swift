import CKernels
import Foundation

/// The instruction set of the engine's own fp32 conv kernels (`CKernels/fconv.c`): the
/// Swift code is compiled for the x86-64-v2 baseline, and the kernels that carry the
/// multiply-adds are compiled once per instruction set and chosen here, at start, from
/// CPUID. `LINESIGHT_FP32_KERNELS=baseline|avx2|avx512` picks a slower one (a CPU that
/// clocks down under AVX-512, or a check of the baseline on a newer machine); a faster
/// one than the CPU has is refused at start and the best is used.
public enum FloatISA: Int, Sendable, CaseIterable, CustomStringConvertible {
    /// SSE up to 4.2: any x86-64-v2 CPU (Nehalem, 2008, and every Atom and Celeron since Silvermont).
    case baseline = 0
    /// AVX2 and FMA (x86-64-v3: Haswell, Zen and newer).
    case avx2 = 1
    /// AVX-512 F and VL: 16 channels in one register (Skylake-SP, Ice Lake, Zen 4 and newer).
    case avx512 = 2

    /// The fastest variant this CPU allows.
    public static let best = FloatISA(rawValue: Int(ls_fp32_best_isa())) ?? .baseline

    /// The variant the engine runs: the best, or the one `LINESIGHT_FP32_KERNELS` names if
    /// the CPU has it.
    public static let current: FloatISA = {
        guard let asked = ProcessInfo.processInfo.environment["LINESIGHT_FP32_KERNELS"].flatMap(FloatISA.init(name:)),
              asked.isAvailable else { return best }
        return asked
    }()

    /// Whether this CPU can run the variant.
    public var isAvailable: Bool { ls_fp32_isa_available(Int32(rawValue)) != 0 }

    /// Every variant this CPU can run, slowest first.
    public static var available: [FloatISA] { allCases.filter(\.isAvailable) }

    /// `baseline`, `avx2` or `avx512`.
    public init?(name: String) {
        switch name.lowercased() {
        case "baseline", "sse", "sse4.2": self = .baseline
        case "avx2": self = .avx2
        case "avx512", "avx-512": self = .avx512
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .baseline:
            #if arch(x86_64)
            "baseline (SSE4.2)"
            #else
            "baseline (plain C)"
            #endif
        case .avx2: "AVX2 + FMA"
        case .avx512: "AVX-512"
        }
    }

    var code: Int32 { Int32(rawValue) }
}
