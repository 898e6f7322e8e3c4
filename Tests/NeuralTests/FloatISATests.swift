import Foundation
import Testing
@testable import Neural

/// The one-binary promise: the package compiles for x86-64-v2 and chooses its kernels at
/// start. `scripts/check-baseline.sh` runs this suite (and the kernels' suites) under
/// `qemu-x86_64 -cpu Nehalem` with `LINESIGHT_TEST_CPU=baseline`, a CPU without AVX.
@Suite("Kernel dispatch")
struct FloatISATests {
    /// The flags of the CPU the tests run on: /proc/cpuinfo, unless the baseline check
    /// says the CPU is an emulated one (qemu-user shows the host's /proc/cpuinfo).
    static var emulatedBaseline: Bool { ProcessInfo.processInfo.environment["LINESIGHT_TEST_CPU"] == "baseline" }

    @Test("the fp32 kernels chosen are the best the CPU has, and every slower one runs too")
    func fp32Dispatch() {
        let best = FloatISA.best
        #expect(FloatISA.available.last == best && FloatISA.available.first == .baseline)
        #expect(FloatISA.current.isAvailable)
        if Self.emulatedBaseline {
            #expect(best == .baseline, "a CPU without AVX got \(best)")
            #expect(Int8ISA.best == .baseline, "a CPU without AVX got int8 \(Int8ISA.best)")
            return
        }
        let flags = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let has = { (flag: String) in flags.contains(" \(flag) ") || flags.contains(" \(flag)\n") }
        if has("avx512f") && has("avx512vl") { #expect(best == .avx512) }
        else if has("avx2") && has("fma") { #expect(best == .avx2) }
        else { #expect(best == .baseline) }
    }

    @Test("LINESIGHT_FP32_KERNELS names a variant; unknown names are not one")
    func names() {
        #expect(FloatISA(name: "baseline") == .baseline && FloatISA(name: "AVX2") == .avx2 && FloatISA(name: "avx512") == .avx512)
        #expect(FloatISA(name: "avx3") == nil && FloatISA(name: "") == nil)
    }
}
