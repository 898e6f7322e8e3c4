import Foundation
import ServiceLifecycle

/// Lets a service whose job is done (every replay ended, --duration reached) end the daemon
/// the way SIGTERM does: it asks the group to shut down, then waits for its own turn like
/// every other service (a service that returned early while the group shuts down others
/// would make the group cancel the rest).
final class ShutdownRequest: @unchecked Sendable {
    private let lock = NSLock()
    private var group: ServiceGroup?

    func attach(_ group: ServiceGroup) { lock.withLock { self.group = group } }

    func request() async {
        let group = lock.withLock { self.group }
        await group?.triggerGracefulShutdown()
    }
}
