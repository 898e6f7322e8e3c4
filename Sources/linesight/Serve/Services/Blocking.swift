import Foundation
import ServiceLifecycle

/// Runs blocking work (draining cameras, the last commit, retention, a model reload) on a
/// thread of its own, so it never holds a thread of Swift's shared pool.
func blocking<T: Sendable>(_ name: String, _ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        let t = Thread { continuation.resume(returning: body()) }
        t.name = name
        t.start()
    }
}

/// Sleeps `seconds`; false once the group shuts this service down (or the task is cancelled),
/// so periodic work reads `while await tick(2) { ... }`.
func tick(_ seconds: Double) async -> Bool {
    guard !Task.isShuttingDownGracefully else { return false }
    do {
        try await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(seconds)) }
    } catch {
        return false
    }
    return !Task.isShuttingDownGracefully
}
