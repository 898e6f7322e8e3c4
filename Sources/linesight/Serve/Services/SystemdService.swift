import Inspection
import LinesightCore
import Logging
import ServiceLifecycle
import Training

/// What systemd (Type=notify) hears: READY=1 once HTTP listens and the cameras run,
/// WATCHDOG=1 while every camera delivers verdicts, a STATUS= line (also on stderr unless
/// --live) every 2 s, and STOPPING=1 first thing on shutdown.
struct SystemdService: Service {
    let inspection: InspectionService
    let notifier: SystemdNotifier
    let startup: Startup
    let live: Bool
    let logger: Logger
    static let statusEvery = 2.0

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown { try await startup.camerasStarted.wait() }
        } catch {
            return  // never started: no READY, nothing to stop
        }
        notifier.send("READY=1\nSTATUS=inspecting, waiting for the first verdict")

        // systemd wants a ping within WATCHDOG_USEC; every half of it leaves room for a late one.
        let pingEvery = notifier.watchdogInterval.map { $0 / 2 } ?? .infinity
        var lastStatus = monotonicSeconds(), lastPing = 0.0, lastCount = totalVerdicts()
        var stalled = false
        while await tick(min(pingEvery, Self.statusEvery)) {
            let now = monotonicSeconds()
            let advancing = inspection.isAdvancing(now: now)
            if advancing, now - lastPing >= pingEvery * 0.9 {
                notifier.send("WATCHDOG=1")
                lastPing = now
            }
            if !advancing && !stalled { logger.warning("pipeline stalled, watchdog not fed") }
            if advancing && stalled { logger.notice("pipeline advancing again") }
            stalled = !advancing
            if now - lastStatus >= Self.statusEvery * 0.9 {
                let count = totalVerdicts()
                let status = inspection.statusLine(rate: Double(count - lastCount) / (now - lastStatus))
                notifier.send("STATUS=" + status)
                if !live { Console.status(status) }
                (lastStatus, lastCount) = (now, count)
            }
        }

        notifier.send("STOPPING=1\nSTATUS=draining queues and committing")
        logger.info("stopping", metadata: ["reason": "shutdown"])
    }

    private func totalVerdicts() -> UInt64 { inspection.pipelines.reduce(0) { $0 + $1.stats.verdicts } }
}
