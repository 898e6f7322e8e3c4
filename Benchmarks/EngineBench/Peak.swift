import CPeak
import Dispatch
import Foundation

/// The machine's FP32 peak: one thread per worker runs the hand-written FMA burner at the
/// widest vector width the CPU has; the best of three tries. Each worker has a thread of
/// its own (`concurrentPerform` could run both burns one after the other on one thread
/// when its second thread wakes late, and read half the peak).
func fmaPeak(threads: Int, iterations: Int = 50_000_000) -> (gflops: Double, width: String) {
    let flops = UnsafeMutablePointer<Double>.allocate(capacity: threads)
    defer { flops.deallocate() }
    var best = 0.0
    for _ in 0..<3 {
        let done = DispatchSemaphore(value: 0)
        let start = Date()
        for w in 0..<threads {
            nonisolated(unsafe) let slot = flops + w
            Thread {
                slot.pointee = linesight_fma_burn(iterations)
                done.signal()
            }.start()
        }
        for _ in 0..<threads { done.wait() }
        let total = (0..<threads).reduce(0.0) { $0 + flops[$1] }
        best = max(best, total / Date().timeIntervalSince(start) / 1e9)
    }
    return (best, String(cString: linesight_fma_width()))
}
