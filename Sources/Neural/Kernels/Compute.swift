import Foundation

/// Which conv kernels `ConvKernelChoice.choose` may pick. Everything is on in production;
/// benchmarks and tests turn kernels off to compare them (all give the same results to
/// float rounding).
public struct ConvKernelOptions: Sendable, Equatable {
    /// Winograd F(2x2, 3x3) for 3x3 stride-1 convs (NCHW at inference, channel-blocked
    /// in training and in inference segments).
    public var winograd: Bool
    /// The register-blocked direct kernel (NCHW) for inference at small batches.
    public var direct: Bool
    /// The channel-blocked kernels: training's batched conv passes, and inference's runs
    /// of convs, pools and ResNet blocks (`BlockedSegment`, which needs `direct` too).
    public var blocked: Bool
    /// Inference: a ResNet block's sum and ReLU in its last direct conv's output write.
    public var fuseResiduals: Bool

    public init(winograd: Bool = true, direct: Bool = true, blocked: Bool = true, fuseResiduals: Bool = true) {
        self.winograd = winograd
        self.direct = direct
        self.blocked = blocked
        self.fuseResiduals = fuseResiduals
    }

    public static let all = ConvKernelOptions()
}

/// How the engine computes: the threads its kernels split across, the kernel threads
/// (`WorkerPool`) that run those splits, the work below which a kernel stays on one
/// thread, and which conv kernels it may choose. One value, made by the executable from
/// its options (`--threads`) and passed down: `InferenceNetwork` and the trainers keep the
/// one they were given and run their layers inside `run(_:)`, where every kernel reads it
/// (`Compute.current()`). Nothing here is global or mutable; code that was given no
/// `Compute` runs `serial`.
public struct Compute: Sendable {
    /// Threads for the kernels (GEMMs are split across them too; OpenBLAS itself runs one
    /// thread per call).
    public let threads: Int
    /// Below this many scalar operations (about 25 us of one core's multiply-adds) a
    /// kernel runs on the calling thread: handing out the work costs more than it saves.
    /// Measured on the small ResNet at batch 1 with the kernel threads (2 cores): 2^22
    /// 1.02 ms, 2^20 0.89 ms, 300,000 0.98 ms (its 1x1 GEMMs split too finely).
    public let minimumParallelWork: Int
    public let kernels: ConvKernelOptions
    /// The spinning helper threads, owned by this value and its copies (they end when the
    /// last copy goes); nil: splits run through Dispatch.
    let kernelThreads: KernelThreads?

    public static let defaultMinimumParallelWork = 1 << 20

    /// `kernelThreads`: whether splits run on spinning helper threads (`WorkerPool`)
    /// rather than on Dispatch's parked ones; off only to measure the difference.
    public init(threads: Int, kernelThreads: Bool = true, minimumParallelWork: Int = Compute.defaultMinimumParallelWork,
                kernels: ConvKernelOptions = .all) {
        self.threads = max(1, threads)
        self.minimumParallelWork = minimumParallelWork
        self.kernels = kernels
        // never more helpers than cores: on 2 cores, 8 threads split 8 ways onto caller + 1
        let helpers = min(self.threads, ProcessInfo.processInfo.activeProcessorCount) - 1
        self.kernelThreads = kernelThreads && helpers > 0 ? KernelThreads(helpers: helpers) : nil
    }

    private init(_ base: Compute, kernels: ConvKernelOptions) {
        threads = base.threads
        minimumParallelWork = base.minimumParallelWork
        kernelThreads = base.kernelThreads
        self.kernels = kernels
    }

    /// One thread, every kernel: what code runs with when nobody passed it a `Compute`.
    public static let serial = Compute(threads: 1)

    /// The same threads (and kernel threads) with other conv kernels allowed.
    public func with(kernels: ConvKernelOptions) -> Compute { Compute(self, kernels: kernels) }

    /// Whether splits run on the spinning kernel threads.
    public var usesKernelThreads: Bool { kernelThreads != nil }

    /// Runs `body` with this value as the engine's `Compute` for the calling task (or
    /// thread): every kernel `body` reaches reads it. Scoped: nothing outside `body` sees it.
    public func run<T>(_ body: () throws -> T) rethrows -> T {
        try Compute.scope.withValue(self, operation: body)
    }

    /// The `Compute` the calling code runs under (`run(_:)`), `serial` outside any.
    public static func current() -> Compute { scope.get() ?? .serial }

    private static let scope = TaskLocal<Compute?>(wrappedValue: nil)
}

/// A `WorkerPool` that lets its helper threads end when the last `Compute` holding it goes.
final class KernelThreads: Sendable {
    let pool: WorkerPool

    init(helpers: Int) { pool = WorkerPool(maximumHelpers: helpers) }

    deinit { pool.retire() }
}
