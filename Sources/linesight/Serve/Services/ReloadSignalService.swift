import Inspection
import LinesightCore
import ServiceLifecycle
import UnixSignals

/// SIGHUP reloads the models (systemd's ExecReload), reported as RELOADING=1 then READY=1.
/// The group owns SIGTERM and SIGINT; this service owns SIGHUP. It traps SIGHUP from the
/// start (so an early one does not end the process) but reloads only once the cameras run,
/// and it sits below SystemdService in the group, so it stops before STOPPING=1: systemd
/// never hears READY=1 before the daemon is ready or while it drains.
struct ReloadSignalService: Service {
    let inspection: InspectionService
    let notifier: SystemdNotifier
    let startup: Startup

    func run() async throws {
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        do {
            try await cancelWhenGracefulShutdown { try await startup.camerasStarted.wait() }
        } catch {
            return  // shut down before the cameras ran: nothing to reload
        }
        for await _ in hangups.cancelOnGracefulShutdown() {
            notifier.send("RELOADING=1\nMONOTONIC_USEC=\(UInt64(monotonicSeconds() * 1e6))")
            _ = await blocking("linesight-reload") { inspection.reloadModels(reason: "SIGHUP") }
            notifier.send("READY=1")
        }
    }
}
