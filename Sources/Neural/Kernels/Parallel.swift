import Dispatch

/// The engine's parallel loops, split across the threads of the `Compute` in force
/// (`Compute.current()`: the one the network or trainer running this code was given).
public enum Parallel {
    /// Runs `body(worker, range)` over `0..<count` split into at most `workers` contiguous
    /// chunks; `worker` is in `0..<workers`, for per-worker scratch buffers.
    @inline(__always)
    public static func forEachWorker(_ count: Int, workers: Int? = nil, _ body: (Int, Range<Int>) -> Void) {
        let c = Compute.current()
        let chunks = min(workers ?? c.threads, max(1, count))
        if chunks <= 1 {
            body(0, 0..<count)
            return
        }
        split(count, chunks, c) { i, range in body(i, range) }
    }

    /// Runs `body(range)` over `0..<count` split into at most `workers` contiguous chunks;
    /// serially when `work` (an estimate of the scalar operations) is below `threshold`
    /// (default: the `Compute`'s `minimumParallelWork`).
    @inline(__always)
    public static func forEachChunk(_ count: Int, minimumPerChunk: Int = 1, work: Int = .max,
                                    threshold: Int? = nil, _ body: (Range<Int>) -> Void) {
        let c = Compute.current()
        let chunks = work < (threshold ?? c.minimumParallelWork) ? 1 : min(c.threads, max(1, count / max(1, minimumPerChunk)))
        if chunks <= 1 {
            body(0..<count)
            return
        }
        split(count, chunks, c) { _, range in body(range) }
    }

    /// Runs `body(i, range)` for the `chunks` even parts of `0..<count` on the kernel
    /// threads (`WorkerPool`), or through Dispatch when there are none or they are busy
    /// with another job.
    @inline(__always)
    static func split(_ count: Int, _ chunks: Int, _ c: Compute, _ body: (Int, Range<Int>) -> Void) {
        let part = { (i: Int) in
            let lo = count * i / chunks, hi = count * (i + 1) / chunks
            if lo < hi { body(i, lo..<hi) }
        }
        if let threads = c.kernelThreads, threads.pool.run(chunks, part) { return }
        DispatchQueue.concurrentPerform(iterations: chunks, execute: part)
    }
}
