import Neural

extension Parallel {
    /// Runs `body` with `workers` threads for the engine's kernels (the rest of the
    /// `Compute` in force kept): for tests that compare worker counts. Each call starts its
    /// own kernel threads, which end with it.
    public static func with<T>(workers: Int, _ body: () throws -> T) rethrows -> T {
        let c = Compute.current()
        return try Compute(threads: workers, kernelThreads: c.usesKernelThreads, minimumParallelWork: c.minimumParallelWork,
                           kernels: c.kernels).run(body)
    }
}
