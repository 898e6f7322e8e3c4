import Logging
import ServiceLifecycle

/// `serve --duration`: ends the daemon after that many seconds (demos and tests), the same
/// graceful way as SIGTERM.
struct DeadlineService: Service {
    let seconds: Double
    let shutdown: ShutdownRequest
    let logger: Logger

    func run() async throws {
        guard await tick(seconds) else { return }
        logger.info("stopping", metadata: ["reason": "--duration reached"])
        await shutdown.request()
        try? await gracefulShutdown()
    }
}
