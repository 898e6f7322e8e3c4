import Foundation
import Synchronization
import TestSupport
import Testing
@testable import Neural

/// The kernel threads (`WorkerPool`), each test on a pool of its own so that the other
/// tests' parallel kernels (Swift Testing runs suites concurrently) cannot interfere.
@Suite("Kernel threads")
struct WorkerPoolTests {
    @Test("every chunk runs exactly once, for any count, job after job")
    func everyChunkOnce() {
        let pool = WorkerPool(maximumHelpers: 1)
        defer { pool.retire() }
        for count in [1, 2, 3, 7, 64, 1000] {
            let runs = Mutex([Int](repeating: 0, count: count))
            let ran = pool.run(count) { i in runs.withLock { $0[i] += 1 } }
            #expect(ran)
            #expect(runs.withLock { $0 } == [Int](repeating: 1, count: count), "count \(count)")
        }
    }

    @Test("job numbers wrap around after 2^32 jobs and every chunk still runs once")
    func generationWraps() {
        let pool = WorkerPool(maximumHelpers: 1, generation: .max - 2)
        defer { pool.retire() }
        for job in 0..<6 {
            let runs = Mutex([Int](repeating: 0, count: 8))
            #expect(pool.run(8) { i in runs.withLock { $0[i] += 1 } })
            #expect(runs.withLock { $0 } == [Int](repeating: 1, count: 8), "job \(job)")
        }
    }

    @Test("a helper runs chunks beside the caller, also after it has parked")
    func helperRunsBesideCaller() {
        let pool = WorkerPool(maximumHelpers: 1)
        defer { pool.retire() }
        for round in 0..<3 {
            // Each chunk waits for the other to start: only two threads at once can finish.
            let started = Atomic<Int>(0)
            let bothRan = Atomic<Int>(0)
            let ran = pool.run(2) { _ in
                started.add(1, ordering: .sequentiallyConsistent)
                let deadline = Date().addingTimeInterval(10)
                while started.load(ordering: .sequentiallyConsistent) < 2 && Date() < deadline {}
                if started.load(ordering: .sequentiallyConsistent) == 2 { bothRan.add(1, ordering: .relaxed) }
            }
            #expect(ran)
            #expect(bothRan.load(ordering: .relaxed) == 2, "round \(round): the two chunks did not run at the same time")
            Thread.sleep(forTimeInterval: 0.05)   // far past the spin window: the helper parks
        }
    }

    @Test("an idle pool burns no CPU: after its spin window a helper parks")
    func idleHelperParks() throws {
        let pool = WorkerPool(maximumHelpers: 1, name: "idle-test")
        defer { pool.retire() }
        let sum = Atomic<Int>(0)
        for _ in 0..<20 { #expect(pool.run(4) { i in sum.add(i, ordering: .relaxed) }) }
        #expect(sum.load(ordering: .relaxed) == 20 * 6)
        // On a loaded machine (the whole suite on 2 cores) the helper may start late: wait
        // for it, then past its spin window (0.2 ms).
        let deadline = Date().addingTimeInterval(60)
        while try helperTicks("idle-test-1") == nil && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        Thread.sleep(forTimeInterval: 0.05)
        let before = try #require(try helperTicks("idle-test-1"), "the helper thread never started")
        Thread.sleep(forTimeInterval: 1)
        let after = try #require(try helperTicks("idle-test-1"))
        // a helper that kept spinning would use most of the second (about 100 ticks)
        #expect(after - before <= 10, "the idle helper used \(after - before) ticks in 1 s")
    }

    @Test("a nested or concurrent job is refused (the caller falls back), never deadlocks")
    func busyPoolRefuses() {
        let pool = WorkerPool(maximumHelpers: 1)
        defer { pool.retire() }
        let nested = Mutex<[Bool]>([])
        let ran = pool.run(4) { _ in
            let inner = pool.run(2) { _ in }
            nested.withLock { $0.append(inner) }
        }
        #expect(ran)
        #expect(nested.withLock { $0 } == [false, false, false, false])
        #expect(!WorkerPool(maximumHelpers: 0).run(2) { _ in })
    }

    @Test("forEachChunk and forEachWorker cover 0..<count once, with concurrent callers", arguments: [1, 2])
    func parallelCoversRange(_ workers: Int) async {
        await withTaskGroup(of: [Int].self) { group in
            for caller in 0..<6 {
                group.addTask {
                    let count = 5_000 + caller
                    let hits = Mutex([Int](repeating: 0, count: count))
                    Parallel.with(workers: workers) {
                        Parallel.forEachChunk(count, work: .max) { r in hits.withLock { h in for i in r { h[i] += 1 } } }
                        Parallel.forEachWorker(count) { w, r in
                            precondition(w < workers)
                            hits.withLock { h in for i in r { h[i] += 1 } }
                        }
                    }
                    return hits.withLock { $0 }
                }
            }
            for await hits in group {
                #expect(hits.allSatisfy { $0 == 2 })
            }
        }
    }
}

/// CPU time (user + system, in clock ticks) of this process's thread named `name`, from
/// /proc/self/task/*/stat; nil while there is no such thread.
private func helperTicks(_ name: String) throws -> Int? {
    let tasks = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")
    for task in tasks {
        let comm = (try? String(contentsOfFile: "/proc/self/task/\(task)/comm", encoding: .utf8)) ?? ""
        guard comm.trimmingCharacters(in: .whitespacesAndNewlines) == name else { continue }
        let stat = try String(contentsOfFile: "/proc/self/task/\(task)/stat", encoding: .utf8)
        // fields after the ")" that closes the name: state is field 3, utime 14, stime 15
        let fields = stat[stat.index(after: stat.lastIndex(of: ")")!)...].split(separator: " ")
        return Int(fields[11])! + Int(fields[12])!
    }
    return nil
}
