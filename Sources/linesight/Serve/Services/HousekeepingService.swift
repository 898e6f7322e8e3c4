import Inspection
import ServiceLifecycle

/// Retention: every 2 s it checks whether a retention run is due (retention.every_minutes)
/// and applies it on a thread of its own, so a long run delays nothing else. A run in
/// progress finishes before the store closes.
struct HousekeepingService: Service {
    let inspection: InspectionService

    func run() async throws {
        while await tick(2) {
            guard inspection.isRetentionDue() else { continue }  // a clock read; a run gets a thread
            await blocking("linesight-retention") { inspection.applyRetentionIfDue() }
        }
    }
}
