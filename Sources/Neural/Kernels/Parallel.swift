import Dispatch

/// How many threads the engine's kernels use (GEMMs are split across them too; OpenBLAS
/// itself runs one thread per call). The process sets `defaultWorkers` once at start;
/// `with(workers:)` overrides it for one task's scope (tests, benchmarks) without
/// touching any other task.
public enum Parallel {
    nonisolated(unsafe) public static var defaultWorkers = 1
    @TaskLocal static var scopedWorkers: Int?
    /// Whether parallel regions run on the spinning kernel threads (`WorkerPool`) rather
    /// than on Dispatch's parked ones; off only to measure the difference.
    nonisolated(unsafe) public static var kernelThreads = true

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
        split(count, chunks) { i, range in body(i, range) }
    }

    /// Below this many scalar operations (about 25 us of one core's multiply-adds) a
    /// kernel runs on the calling thread: handing out the work costs more than it saves.
    /// Measured on the small ResNet at batch 1 with the kernel threads (2 cores): 2^22
    /// 1.02 ms, 2^20 0.89 ms, 300,000 0.98 ms (its 1x1 GEMMs split too finely).
    nonisolated(unsafe) public static var minimumParallelWork = 1 << 20

    /// Runs `body(range)` over `0..<count` split into at most `workers` contiguous chunks;
    /// serially when `work` (an estimate of the scalar operations) is below `threshold`.
    @inline(__always)
    public static func forEachChunk(_ count: Int, minimumPerChunk: Int = 1, work: Int = .max,
                                    threshold: Int = minimumParallelWork, _ body: (Range<Int>) -> Void) {
        let chunks = work < threshold ? 1 : min(workers, max(1, count / max(1, minimumPerChunk)))
        if chunks <= 1 {
            body(0..<count)
            return
        }
        split(count, chunks) { _, range in body(range) }
    }

    /// Runs `body(i, range)` for the `chunks` even parts of `0..<count` on the kernel
    /// threads (`WorkerPool`), or through Dispatch when those are busy with another job.
    @inline(__always)
    static func split(_ count: Int, _ chunks: Int, _ body: (Int, Range<Int>) -> Void) {
        let part = { (i: Int) in
            let lo = count * i / chunks, hi = count * (i + 1) / chunks
            if lo < hi { body(i, lo..<hi) }
        }
        if kernelThreads, WorkerPool.shared.run(chunks, part) { return }
        DispatchQueue.concurrentPerform(iterations: chunks, execute: part)
    }
}
