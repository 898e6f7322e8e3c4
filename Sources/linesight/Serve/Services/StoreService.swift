import Inspection
import ServiceLifecycle

/// The store: its group committer writes verdicts while the daemon runs. It is shut down
/// last, when the cameras have stopped and handed over every verdict, so closing it commits
/// all of them before SQLite closes.
struct StoreService: Service {
    let inspection: InspectionService

    func run() async throws {
        try? await gracefulShutdown()
        await blocking("linesight-store-close") { inspection.closeStore() }
    }
}
