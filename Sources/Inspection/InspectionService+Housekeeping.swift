import Foundation
import Store

extension InspectionService {
    public var lastRetention: RetentionReport? { lock.withLock { retention } }

    // MARK: Housekeeping

    /// Applies retention when it is due. Called from one thread at a time (the housekeeping service).
    /// Whether a retention run is due (retention.every_minutes since the last).
    public func isRetentionDue(now: Date = Date()) -> Bool {
        now.timeIntervalSince(lastRetentionAt) >= config.retentionEveryMinutes * 60
    }

    public func applyRetentionIfDue(now: Date = Date()) {
        guard now.timeIntervalSince(lastRetentionAt) >= config.retentionEveryMinutes * 60 else { return }
        lastRetentionAt = now
        do {
            let r = try store.applyRetention(config.retention, framesDirectory: config.framesDirectory,
                                             now: now.timeIntervalSince1970)
            lock.withLock { retention = r }
            if r.bytesOverBudget > 0 {
                logger.warning("frame budget exceeded by frames under review", metadata: [
                    "bytes.over_budget": "\(r.bytesOverBudget)",
                    "hint": "review the flagged frames, raise retention.frame_budget_mb, or set retention.keep_frames_under_review = false"])
            }
            if r.framesDeleted > 0 || r.verdictsDeleted > 0 {
                logger.info("retention applied", metadata: ["frames.deleted": "\(r.framesDeleted)", "bytes.freed": "\(r.bytesFreed)",
                                                           "verdicts.deleted": "\(r.verdictsDeleted)", "bytes.over_budget": "\(r.bytesOverBudget)",
                                                           "file.errors": "\(r.fileErrors)"])
            }
        } catch {
            logger.error("retention failed", metadata: ["error": "\(error)"])
        }
    }
}
