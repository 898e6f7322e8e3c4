import Foundation
import Inspection

/// Fans live verdicts out to the terminal feed and to /api/v1/events subscribers. A slow
/// subscriber loses its oldest events, never slows a pipeline.
final class EventHub: @unchecked Sendable {
    private let lock = NSLock()
    private var subscribers: [UUID: AsyncStream<LiveVerdict>.Continuation] = [:]
    /// Shut down: a subscriber arriving now would wait for events that never come.
    private var finished = false
    /// Called for every verdict on the pipeline's thread (keep it cheap).
    var tap: (@Sendable (LiveVerdict) -> Void)?

    func publish(_ v: LiveVerdict) {
        tap?(v)
        lock.lock()
        let targets = Array(subscribers.values)
        lock.unlock()
        for c in targets { c.yield(v) }
    }

    /// A new subscription, or nil when `limit` subscribers are already there.
    func subscribe(limit: Int = .max) -> (id: UUID, stream: AsyncStream<LiveVerdict>)? {
        let id = UUID()
        let (stream, continuation) = AsyncStream<LiveVerdict>.makeStream(bufferingPolicy: .bufferingNewest(256))
        let admitted = lock.withLock {
            guard subscribers.count < limit, !finished else { return false }
            subscribers[id] = continuation
            return true
        }
        guard admitted else { continuation.finish(); return nil }
        continuation.onTermination = { [weak self] _ in self?.unsubscribe(id) }
        return (id, stream)
    }

    func unsubscribe(_ id: UUID) {
        _ = lock.withLock { subscribers.removeValue(forKey: id) }
    }

    /// Ends every stream (shutdown).
    func finishAll() {
        let all = lock.withLock { let a = Array(subscribers.values); subscribers = [:]; finished = true; return a }
        for c in all { c.finish() }
    }

    var subscriberCount: Int { lock.withLock { subscribers.count } }
}
