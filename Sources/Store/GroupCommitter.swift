import Foundation
import Logging

/// Batches verdicts into one transaction every `interval` seconds (or `maxBatch` rows),
/// so thousands of verdicts per second cost a few fsyncs. `submit` never blocks the
/// pipeline. If the database fails (disk full, locked), batches are kept and retried;
/// only beyond `maxPending` are the oldest dropped, counted and logged.
public final class GroupCommitter: @unchecked Sendable {
    public struct Stats: Sendable, Equatable {
        /// Verdict rows committed (parts are counted apart).
        public var committed: UInt64 = 0
        public var partsCommitted: UInt64 = 0
        public var batches: UInt64 = 0
        public var failedCommits: UInt64 = 0
        public var dropped: UInt64 = 0
        /// Verdict rows SQLite refused (a CHECK, bad JSON): each recorded as a no-verdict instead.
        public var refused: UInt64 = 0
        public var pending = 0
        public var lastBatchMs: Double = 0
        /// True while commits are failing.
        public var failing = false
    }

    private let store: Store
    private let interval: Double
    private let maxBatch: Int
    private let maxPending: Int
    private let logger: Logger
    private let condition = NSCondition()
    private var queue: [StoreRow] = []
    private var head = 0
    private var inFlight = 0
    private var stopping = false
    private var stopped = false
    private var _stats = Stats()
    private var thread: Thread?

    public init(store: Store, interval: Double = 0.1, maxBatch: Int = 1000, maxPending: Int = 200_000,
                logger: Logger = Logger(label: "linesight.store")) {
        self.store = store
        self.interval = interval
        self.maxBatch = maxBatch
        self.maxPending = maxPending
        self.logger = logger
        let t = Thread { [weak self] in self?.loop() }
        t.name = "linesight-commit"
        thread = t
        t.start()
    }

    public var stats: Stats {
        condition.lock(); defer { condition.unlock() }
        var s = _stats
        s.pending = queue.count - head + inFlight
        return s
    }

    public func submit(_ bundle: VerdictBundle) { submit(row: .verdict(bundle)) }

    /// A decided part, committed in the same order as the verdicts around it.
    public func submit(part: PartRecord) { submit(row: .part(part)) }

    private func submit(row: StoreRow) {
        condition.lock()
        queue.append(row)
        if queue.count - head > maxPending {
            head += 1
            _stats.dropped += 1
            if _stats.dropped == 1 || _stats.dropped % 10_000 == 0 {
                logger.error("verdict backlog full, oldest dropped", metadata: ["dropped.total": "\(_stats.dropped)"])
            }
        }
        if queue.count - head >= maxBatch { condition.signal() }
        condition.unlock()
    }

    /// Blocks until everything submitted before the call is committed (or `timeout` passes).
    @discardableResult
    public func flush(timeout: Double = 30) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        condition.lock(); defer { condition.unlock() }
        condition.signal()
        while queue.count - head + inFlight > 0 && !stopped {
            if !condition.wait(until: deadline) { return false }
        }
        return queue.count - head + inFlight == 0
    }

    /// Commits what is pending and stops the writer thread.
    public func close(timeout: Double = 30) {
        flush(timeout: timeout)
        condition.lock()
        stopping = true
        condition.broadcast()
        while !stopped { if !condition.wait(until: Date().addingTimeInterval(timeout)) { break } }
        condition.unlock()
    }

    private func loop() {
        var failingSince: Date?
        while true {
            condition.lock()
            if queue.count - head < maxBatch && !stopping {
                _ = condition.wait(until: Date().addingTimeInterval(interval))
            }
            if stopping && queue.count - head == 0 {
                stopped = true
                condition.broadcast()
                condition.unlock()
                return
            }
            let n = min(maxBatch, queue.count - head)
            let batch = Array(queue[head..<(head + n)])
            head += n
            inFlight = n
            if head > 4096 && head * 2 > queue.count { queue.removeFirst(head); head = 0 }
            condition.unlock()
            guard n > 0 else { continue }

            let start = Date()
            var ok = true
            var refused: [RefusedVerdict] = []
            do {
                refused = try store.insert(rows: batch)
            } catch {
                ok = false
                if failingSince == nil {
                    failingSince = Date()
                    logger.error("verdict commit failed, will retry", metadata: ["error": "\(error)", "rows": "\(n)"])
                }
            }
            condition.lock()
            inFlight = 0
            if ok {
                for r in refused {
                    if let part = r.part {
                        logger.error("part row refused by the database; its frames' verdicts stand",
                                     metadata: ["station": "\(r.camera)", "part": "\(part)", "error": "\(r.reason)"])
                        continue
                    }
                    logger.error("verdict row refused by the database, recorded as a no-verdict",
                                 metadata: ["camera": "\(r.camera)", "frame": "\(r.sequence)", "error": "\(r.reason)",
                                            "recorded": "\(r.recordedAsNoVerdict)"])
                }
                _stats.refused += UInt64(refused.count)
                _stats.dropped += UInt64(refused.filter { !$0.recordedAsNoVerdict && $0.part == nil }.count)
                let parts = batch.filter { if case .part = $0 { true } else { false } }.count
                _stats.partsCommitted += UInt64(parts - refused.filter { $0.part != nil }.count)
                _stats.committed += UInt64(n - parts - refused.filter { !$0.recordedAsNoVerdict && $0.part == nil }.count)
                _stats.batches += 1
                _stats.lastBatchMs = Date().timeIntervalSince(start) * 1000
                _stats.failing = false
                if let since = failingSince {
                    logger.notice("verdict commits recovered", metadata: ["failed.seconds": "\(Int(Date().timeIntervalSince(since)))"])
                    failingSince = nil
                }
            } else {
                // Put the batch back in front and wait a little before the retry.
                queue.insert(contentsOf: batch, at: head)
                _stats.failedCommits += 1
                _stats.failing = true
                if stopping {
                    logger.error("shutting down with uncommitted verdicts", metadata: ["rows": "\(queue.count - head)"])
                    stopped = true
                    condition.broadcast()
                    condition.unlock()
                    return
                }
                _ = condition.wait(until: Date().addingTimeInterval(max(interval, 0.5)))
            }
            condition.broadcast()
            condition.unlock()
        }
    }
}
