import Inspection
import Logging
import ServiceLifecycle

/// The cameras: one pipeline each (capture, judge, flag, hand to the committer). They start
/// once the HTTP API listens. A camera that fails is retried and counted by its pipeline and
/// never ends the group; when every source has ended (replays played once) the daemon stops.
/// On shutdown the cameras stop reading and every frame already queued is judged.
struct CameraService: Service {
    let inspection: InspectionService
    let startup: Startup
    let shutdown: ShutdownRequest
    let logger: Logger

    func run() async throws {
        defer { startup.camerasStopped.reach() }  // the store closes only after this
        do {
            try await cancelWhenGracefulShutdown { try await startup.httpListening.wait() }
        } catch {
            return  // shut down before the API listened: no camera was started
        }
        inspection.start()
        startup.camerasStarted.reach()

        let ended = Milestone()
        inspection.whenEveryCameraEnded { ended.reach() }
        if (try? await cancelWhenGracefulShutdown { try await ended.wait() }) != nil {
            logger.info("stopping", metadata: ["reason": "every source ended"])
            await shutdown.request()
            try? await gracefulShutdown()
        }
        await blocking("linesight-cameras-stop") { inspection.stopCameras() }
    }
}
