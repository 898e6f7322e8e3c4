import Foundation

/// A one-time event services wait for ("HTTP is bound", "the cameras run"): `reach()` it
/// once, `wait()` for it from any number of tasks.
final class Milestone: @unchecked Sendable {
    private let lock = NSLock()
    private var done = false
    private var waiters: [UUID: CheckedContinuation<Void, Error>] = [:]

    var isReached: Bool { lock.withLock { done } }

    func reach() {
        let ready = lock.withLock {
            done = true
            defer { waiters = [:] }
            return Array(waiters.values)
        }
        for w in ready { w.resume() }
    }

    /// Returns once reached, even if the task is cancelled meanwhile: for steps that must
    /// happen in order whatever happens to the group (the store closes after the cameras).
    func waitEvenIfCancelled() async {
        _ = try? await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, Error>) in
            lock.lock()
            if done { lock.unlock(); c.resume(); return }
            waiters[UUID()] = c
            lock.unlock()
        }
    }

    /// Returns once reached; throws `CancellationError` when the task is cancelled first.
    func wait() async throws {
        let id = UUID()
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, Error>) in
                lock.lock()
                if done { lock.unlock(); c.resume(); return }
                if Task.isCancelled { lock.unlock(); c.resume(throwing: CancellationError()); return }
                waiters[id] = c
                lock.unlock()
            }
        } onCancel: {
            let w = lock.withLock { waiters.removeValue(forKey: id) }
            w?.resume(throwing: CancellationError())
        }
    }
}

/// What the daemon's services wait for: the cameras start once HTTP listens, systemd hears
/// READY=1 once the cameras run, and the store closes once the cameras have stopped (or
/// never started).
struct Startup: Sendable {
    let httpListening = Milestone()
    let camerasStarted = Milestone()
    let camerasStopped = Milestone()
}
