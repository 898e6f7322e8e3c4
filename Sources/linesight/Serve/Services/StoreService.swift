import Inspection
import ServiceLifecycle

/// The store: its group committer writes verdicts while the daemon runs. It is shut down
/// last, and it closes only once the cameras have stopped and handed over every verdict
/// (`camerasStopped`, waited for even if the group is cancelled), so closing it commits all
/// of them before SQLite closes.
struct StoreService: Service {
    let inspection: InspectionService
    let startup: Startup

    func run() async throws {
        try? await gracefulShutdown()
        await startup.camerasStopped.waitEvenIfCancelled()
        await blocking("linesight-store-close") { inspection.closeStore() }
    }
}
