import Dispatch
import Foundation

/// Runs the API's blocking work (judging a posted image, reloading models) on one thread of
/// its own, never on the HTTP server's shared threads, and admits at most `capacity` such
/// requests at once: the next gets a 503 at once instead of waiting in line. The camera
/// pipelines have their own threads and locks, so nothing here can hold them up.
final class ClassifyGate: @unchecked Sendable {
    let capacity: Int
    private let queue = DispatchQueue(label: "linesight-api-work")
    private let lock = NSLock()
    private var admitted = 0

    init(capacity: Int = 2) { self.capacity = capacity }

    /// `work`'s result, or its error, as a `Result`; throws `APIError` 503 when full.
    func classify<T>(_ work: @escaping @Sendable () throws -> T) async throws -> Result<T, Error> {
        guard lock.withLock({ admitted < capacity ? { admitted += 1; return true }() : false }) else {
            throw APIError(status: .serviceUnavailable, message: "\(capacity) classify requests are already running; try again shortly",
                           headers: [.retryAfter: "1"])
        }
        defer { lock.withLock { admitted -= 1 } }
        return await offload { Result { try work() } }
    }

    /// Runs `work` on the gate's thread (not admitted against `capacity`).
    func offload<T>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: work()) }
        }
    }
}
