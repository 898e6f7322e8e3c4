import Foundation
import Inspection
import Logging
import ServiceLifecycle

/// Retention and the review queue's order: every 2 s it checks whether a retention run is
/// due (retention.every_minutes) and applies it on a thread of its own, so a long run delays
/// nothing else; at most every 10 s, when flags, labels or the models changed, it places the doubted
/// frames in review order (`[flagging] review_order`). A run in progress finishes before
/// the store closes.
struct HousekeepingService: Service {
    let inspection: InspectionService
    let logger: Logger
    /// Seconds between two placings of the review queue, at least.
    static let reviewOrderEvery = 10.0

    func run() async throws {
        var lastOrder = Date.distantPast, lastStamp: [String] = []
        while await tick(2) {
            if Date().timeIntervalSince(lastOrder) >= Self.reviewOrderEvery {
                lastOrder = Date()
                let seen = lastStamp
                lastStamp = await blocking("linesight-review-order") { () -> [String] in
                    do {
                        // flags, labels, and the stage-1 model whose embeddings count
                        let stamp = try inspection.store.reviewQueueStamp().map(String.init) + [inspection.pipelines.first?.modelVersions.0 ?? ""]
                        guard stamp != seen else { return seen }
                        try inspection.orderReviewQueue()
                        return stamp
                    } catch {
                        logger.error("review queue order failed", metadata: ["error": "\(error)"])
                        return []
                    }
                }
            }
            guard inspection.isRetentionDue() else { continue }  // a clock read; a run gets a thread
            await blocking("linesight-retention") { inspection.applyRetentionIfDue() }
        }
    }
}
