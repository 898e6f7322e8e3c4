import CPeak
import Dispatch
import Foundation

/// The machine's FP32 peak: every worker runs the hand-written FMA burner at the widest
/// vector width the CPU has.
func fmaPeak(threads: Int, iterations: Int = 100_000_000) -> (gflops: Double, width: String) {
    let start = Date()
    let flops = UnsafeMutablePointer<Double>.allocate(capacity: threads)
    defer { flops.deallocate() }
    DispatchQueue.concurrentPerform(iterations: threads) { w in flops[w] = linesight_fma_burn(iterations) }
    let total = (0..<threads).reduce(0.0) { $0 + flops[$1] }
    return (total / Date().timeIntervalSince(start) / 1e9, String(cString: linesight_fma_width()))
}
