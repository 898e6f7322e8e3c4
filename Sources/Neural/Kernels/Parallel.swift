import Dispatch

/// How many threads the engine's own kernels (im2col, batch norm, pooling, ...) use.
/// OpenBLAS has its own count (`BLASRuntime.setThreads`); the two never run at once.
public enum Parallel {
    nonisolated(unsafe) public static var workers = 1

    /// Runs `body(worker, range)` over `0..<count` split into at most `workers` contiguous
    /// chunks; `worker` is in `0..<workers`, for per-worker scratch buffers.
    @inline(__always)
    public static func forEachWorker(_ count: Int, workers: Int = Parallel.workers, _ body: (Int, Range<Int>) -> Void) {
        let chunks = min(workers, max(1, count))
        if chunks <= 1 {
            body(0, 0..<count)
            return
        }
        DispatchQueue.concurrentPerform(iterations: chunks) { i in
            let lo = count * i / chunks
            let hi = count * (i + 1) / chunks
            if lo < hi { body(i, lo..<hi) }
        }
    }

    /// Runs `body(range)` over `0..<count` split into at most `workers` contiguous chunks.
    @inline(__always)
    public static func forEachChunk(_ count: Int, minimumPerChunk: Int = 1, _ body: (Range<Int>) -> Void) {
        let chunks = min(workers, max(1, count / max(1, minimumPerChunk)))
        if chunks <= 1 {
            body(0..<count)
            return
        }
        DispatchQueue.concurrentPerform(iterations: chunks) { i in
            let lo = count * i / chunks
            let hi = count * (i + 1) / chunks
            if lo < hi { body(lo..<hi) }
        }
    }
}
