import Foundation
import Inspection

/// One event of the live stream (/api/v1/events): a frame's verdict, a part's verdict, or the
/// operator screen's status (JSON, once a second when the screen is on).
enum LiveEvent: Sendable {
    case verdict(LiveVerdict)
    case part(PartVerdict)
    case status(String)
}

/// Fans live events out to the terminal feed and to /api/v1/events subscribers. A slow
/// subscriber loses its oldest events, never slows a pipeline.
final class EventHub: @unchecked Sendable {
    private let lock = NSLock()
    private var subscribers: [UUID: AsyncStream<LiveEvent>.Continuation] = [:]
    /// Shut down: a subscriber arriving now would wait for events that never come.
    private var finished = false
    /// Called for every verdict on the pipeline's thread (keep it cheap).
    var tap: (@Sendable (LiveVerdict) -> Void)?

    /// A verdict, without its frame (a subscriber's buffer must not hold images).
    func publish(_ v: LiveVerdict) {
        tap?(v)
        var light = v
        light.frame = nil
        publish(event: .verdict(light))
    }

    func publish(event v: LiveEvent) {
        lock.lock()
        let targets = Array(subscribers.values)
        lock.unlock()
        for c in targets { c.yield(v) }
    }

    /// A new subscription, or nil when `limit` subscribers are already there.
    func subscribe(limit: Int = .max) -> (id: UUID, stream: AsyncStream<LiveEvent>)? {
        let id = UUID()
        let (stream, continuation) = AsyncStream<LiveEvent>.makeStream(bufferingPolicy: .bufferingNewest(256))
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
