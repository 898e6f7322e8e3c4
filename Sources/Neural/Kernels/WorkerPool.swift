import Foundation
import Synchronization

/// Helper threads that stay awake between the engine's parallel regions, so a layer of
/// 0.05-0.2 ms splits across cores for real. Waking a parked thread takes 30-40 us on a
/// virtual machine (measured here: a 130 us job took 95 us on two threads through
/// `DispatchQueue.concurrentPerform`, and 63 us on a helper that was already spinning),
/// which is as long as a small conv layer's share.
///
/// - Jobs are chunks `0..<count`; every thread, the caller included, claims the next
///   unclaimed chunk until none are left. A helper that is late (parked, or its core busy
///   with the daemon's other work) simply claims fewer chunks: the caller never waits for
///   a chunk nobody has started, so a job never takes longer than running it serially.
///   The ranges are the caller's, so results do not depend on which thread ran what.
/// - After its last chunk a helper spins for `spinWindow` in case another job follows (the
///   next layer), then parks on a condition until one does: an idle daemon burns no CPU.
/// - One job at a time: a caller that finds the pool busy (another thread's job, or a
///   nested call from inside a chunk) gets `false` from `run` and falls back.
final class WorkerPool: @unchecked Sendable {
    /// How long a helper keeps spinning for the next job after its last chunk.
    static let spinWindow: UInt64 = 200_000   // ns

    /// The job word: generation (upper 32 bits), chunk count (16 bits), next unclaimed chunk (16 bits).
    private let state = Atomic<UInt64>(0)
    private let finished = Atomic<Int>(0)
    private let busy = Atomic<Bool>(false)
    private let sleepers = Atomic<Int>(0)
    private let retired = Atomic<Bool>(false)
    private let condition = NSCondition()
    /// The running job's body; written before the state word publishes it, read only
    /// after a successful claim of one of its chunks.
    private var body: ((Int) -> Void)?
    private var helperCount = 0
    private let maximumHelpers: Int
    private let name: String

    /// `name`: the helper threads' (numbered; keep it under 13 characters, Linux keeps 15);
    /// `generation`: the last job's number, for tests of the wrap-around.
    init(maximumHelpers: Int, name: String = "ls-kernel", generation: UInt32 = 0) {
        self.maximumHelpers = max(0, maximumHelpers)
        self.name = name
        state.store(UInt64(generation) << 32, ordering: .relaxed)
    }

    /// Runs `chunk(i)` for every `i` in `0..<count` on the caller and up to `count - 1`
    /// helpers, and returns when all are done; `false` (nothing run) if the pool is busy
    /// or has no helpers to offer.
    func run(_ count: Int, _ chunk: (Int) -> Void) -> Bool {
        precondition(count > 0 && count < 1 << 16, "chunk count out of range")
        guard maximumHelpers > 0, busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            return false
        }
        defer { busy.store(false, ordering: .releasing) }
        startHelpers(min(count - 1, maximumHelpers))
        withoutActuallyEscaping(chunk) { chunk in
            body = chunk
            finished.store(0, ordering: .relaxed)
            // 32 bits of generation wrap after 4 billion jobs (weeks of a busy daemon)
            let generation = ((state.load(ordering: .relaxed) >> 32) &+ 1) & 0xFFFF_FFFF
            state.store(generation << 32 | UInt64(count) << 16, ordering: .sequentiallyConsistent)
            if sleepers.load(ordering: .sequentiallyConsistent) > 0 { wakeParked() }
            work(generation, chunk)
            while finished.load(ordering: .acquiring) < count {}
            body = nil
        }
        return true
    }

    /// Runs chunks of job `generation` until none is left unclaimed.
    private func work(_ generation: UInt64, _ chunk: (Int) -> Void) {
        while let i = claim(generation) {
            chunk(i)
            finished.add(1, ordering: .releasing)
        }
    }

    /// The next unclaimed chunk of job `generation`, or nil when it has none left (or a
    /// later job replaced it).
    private func claim(_ generation: UInt64) -> Int? {
        var s = state.load(ordering: .acquiring)
        while true {
            let next = s & 0xFFFF, count = (s >> 16) & 0xFFFF
            guard s >> 32 == generation, next < count else { return nil }
            let (exchanged, seen) = state.compareExchange(expected: s, desired: s + 1, ordering: .acquiringAndReleasing)
            if exchanged { return Int(next) }
            s = seen
        }
    }

    private func startHelpers(_ wanted: Int) {
        while helperCount < wanted {
            // The generation before the job about to be published, so that a helper that
            // starts late still takes part in it.
            let seen = state.load(ordering: .relaxed) >> 32
            let label = "\(name)-\(helperCount + 1)"
            // Named from inside, and on Linux through /proc as well: Foundation's
            // `Thread.name` reaches the kernel (ps, top, /proc) only if the new thread runs
            // after `start()` has returned, which on a loaded machine it may not.
            Thread {
                #if os(Linux)
                try? label.write(toFile: "/proc/thread-self/comm", atomically: false, encoding: .utf8)
                #endif
                Thread.current.name = label
                self.helperLoop(after: seen)
            }.start()
            helperCount += 1
        }
    }

    /// Lets the helpers end (they hold the pool until then; `KernelThreads` calls this
    /// when the last `Compute` holding the pool goes). Jobs after this run on the caller alone.
    func retire() {
        retired.store(true, ordering: .sequentiallyConsistent)
        wakeParked()
    }

    private func wakeParked() {
        condition.lock()
        condition.broadcast()
        condition.unlock()
    }

    private func helperLoop(after generation: UInt64) {
        var seen = generation
        while true {
            guard let generation = waitForJob(after: seen) else { return }
            seen = generation
            // the body is read only after a claim: until all chunks finish it is this job's
            work(generation) { body!($0) }
        }
    }

    /// Spins for a job newer than `seen` for `spinWindow`, then parks until one comes;
    /// nil once the pool is retired.
    private func waitForJob(after seen: UInt64) -> UInt64? {
        let deadline = DispatchTime.now().uptimeNanoseconds + Self.spinWindow
        var spins = 0
        while true {
            let generation = state.load(ordering: .acquiring) >> 32
            if generation != seen { return generation }
            spins &+= 1
            if spins & 255 == 0 && DispatchTime.now().uptimeNanoseconds > deadline { break }
        }
        condition.lock()
        defer { condition.unlock() }
        sleepers.add(1, ordering: .sequentiallyConsistent)
        defer { sleepers.subtract(1, ordering: .sequentiallyConsistent) }
        while true {
            if retired.load(ordering: .sequentiallyConsistent) { return nil }
            let generation = state.load(ordering: .sequentiallyConsistent) >> 32
            if generation != seen { return generation }
            condition.wait()
        }
    }
}
