import Inspection
import ServiceLifecycle

/// Reloads the models when a model file changes (size or modification time), checked every
/// 2 s when models.watch is on. A broken file is refused and the running models stay.
struct ModelWatcherService: Service {
    let inspection: InspectionService

    func run() async throws {
        guard inspection.config.watchModels else {
            try? await gracefulShutdown()
            return
        }
        while await tick(2) {
            // the check is two stat calls; only a reload (seconds) gets a thread of its own
            guard inspection.modelFilesChanged() else { continue }
            await blocking("linesight-model-reload") { inspection.checkModelFiles() }
        }
    }
}
