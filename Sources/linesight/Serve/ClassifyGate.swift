import Dispatch
import Foundation

/// Runs the API's blocking work (judging a posted image, reloading models) on one thread of
/// its own, never on the HTTP server's shared threads, and admits at most `capacity`
/// classify requests at once (one runs, the next waits): the one after gets a 503 at once. The camera
/// pipelines have their own threads and locks, so nothing here can hold them up.
final class ClassifyGate: @unchecked Sendable {
    let capacity: Int
    private let queue = DispatchQueue(label: "linesight-api-work")
    private let lock = NSLock()
    private var admitted = 0

    init(capacity: Int = 2) { self.capacity = capacity }

    /// A place among the admitted requests, given back when it goes away.
    final class Admission: @unchecked Sendable {
        private let gate: ClassifyGate
        fileprivate init(gate: ClassifyGate) { self.gate = gate }
        deinit { gate.leave() }
    }

    /// Admits one request, or throws `APIError` 503 when `capacity` are in already. Taken
    /// before the body is read, so refused clients never get to park 8 MiB each.
    func admit() throws -> Admission {
        guard lock.withLock({ admitted < capacity ? { admitted += 1; return true }() : false }) else {
            throw APIError(status: .serviceUnavailable, message: "\(capacity) classify requests are already in (one runs, one waits); try again shortly",
                           headers: [.retryAfter: "1"])
        }
        return Admission(gate: self)
    }

    fileprivate func leave() { lock.withLock { admitted -= 1 } }

    /// `work`'s result, or its error, as a `Result`, run on the gate's thread.
    func classify<T>(_ admission: Admission, _ work: @escaping @Sendable () throws -> T) async -> Result<T, Error> {
        await offload { Result { try work() } }
    }

    /// Runs `work` on the gate's thread (not admitted against `capacity`).
    func offload<T>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: work()) }
        }
    }
}
