import Dispatch

/// How many threads the engine's kernels use (GEMMs are split across them too; OpenBLAS
/// itself runs one thread per call). The process sets `defaultWorkers` once at start;
/// `with(workers:)` overrides it for one task's scope (tests, benchmarks) without
/// touching any other task.
public enum Parallel {
    nonisolated(unsafe) public static var defaultWorkers = 1
    @TaskLocal static var scopedWorkers: Int?

    /// The worker count in force for the calling task.
    public static var workers: Int { scopedWorkers ?? defaultWorkers }

    /// Runs `body` with `workers` threads for the engine's kernels.
    public static func with<T>(workers: Int, _ body: () throws -> T) rethrows -> T {
        try $scopedWorkers.withValue(max(1, workers), operation: body)
    }

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

    /// Below this many scalar operations a kernel runs on the calling thread: waking a
    /// second thread costs more than it saves (batch-1 inference of small networks).
    public static let minimumParallelWork = 1 << 22

    /// Runs `body(range)` over `0..<count` split into at most `workers` contiguous chunks;
    /// serially when `work` (an estimate of the scalar operations) is small.
    @inline(__always)
    public static func forEachChunk(_ count: Int, minimumPerChunk: Int = 1, work: Int = .max, _ body: (Range<Int>) -> Void) {
        let chunks = work < minimumParallelWork ? 1 : min(workers, max(1, count / max(1, minimumPerChunk)))
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
