import Inspection
import LinesightCore
import ServiceLifecycle
import UnixSignals

/// SIGHUP reloads the models (systemd's ExecReload), reported as RELOADING=1 then READY=1.
/// The group owns SIGTERM and SIGINT; this service owns SIGHUP.
struct ReloadSignalService: Service {
    let inspection: InspectionService
    let notifier: SystemdNotifier

    func run() async throws {
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        for await _ in hangups.cancelOnGracefulShutdown() {
            notifier.send("RELOADING=1\nMONOTONIC_USEC=\(UInt64(monotonicSeconds() * 1e6))")
            _ = await blocking("linesight-reload") { inspection.reloadModels(reason: "SIGHUP") }
            notifier.send("READY=1")
        }
    }
}
