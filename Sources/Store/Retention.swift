import Foundation
import GRDB

/// Limits on what the store keeps.
public struct RetentionPolicy: Equatable, Sendable {
    /// Bytes of saved JPEGs to keep; the oldest unlabeled audit frames go first, then
    /// failed, then flagged frames, and labeled frames last.
    public var frameBudgetBytes: Int64
    /// Verdict rows older than this many days are deleted (their counts live on in the
    /// hourly rollups). Verdicts whose frame carries a label are kept.
    public var verdictDays: Double
    /// Frames under review (an open flag, a live review lease, or a label) are never deleted,
    /// nor their verdicts; false lets the frame budget take them too, labeled ones last.
    public var keepFramesUnderReview = true
    /// Rows per transaction, and the most frames and verdicts one run deletes: a run never
    /// holds the write lock long (the group commit waits behind it) and always ends.
    public var batch = 256
    public var maxPerRun = 20_000

    public init(frameBudgetBytes: Int64 = 20 << 30, verdictDays: Double = 90) {
        self.frameBudgetBytes = frameBudgetBytes
        self.verdictDays = verdictDays
    }
}

public struct RetentionReport: Equatable, Sendable {
    public var framesDeleted = 0
    public var bytesFreed: Int64 = 0
    public var verdictsDeleted = 0
    /// Bytes still over the budget after the run: frames under review, or the run's limit reached.
    public var bytesOverBudget: Int64 = 0
    /// Frame files whose removal failed (already gone, or permissions); their rows say deleted.
    public var fileErrors = 0
}

extension Store {
    /// Bytes of saved frames still on disk.
    public func savedFrameBytes() throws -> Int64 {
        try pool.read { db in try Int64.fetchOne(db, sql: "SELECT coalesce(sum(bytes), 0) FROM frames WHERE deleted_at IS NULL") ?? 0 }
    }

    /// Applies the policy in bounded batches: marks frames over the budget deleted (oldest
    /// unlabeled audit frames first, then failed, then flagged, labeled last), removes their
    /// files once that is committed, deletes old verdict rows, then checkpoints the WAL and
    /// returns free pages to the OS. Frames under review stay unless the policy says otherwise.
    public func applyRetention(_ policy: RetentionPolicy, framesDirectory: String,
                               now: Double = Date().timeIntervalSince1970) throws -> RetentionReport {
        var report = RetentionReport()
        let underReview = """
            (EXISTS (SELECT 1 FROM labels l WHERE l.frame_id = f.id)
             OR EXISTS (SELECT 1 FROM flags g WHERE g.verdict_id = f.verdict_id AND (g.status = 'open' OR g.lease_until > :now)))
            """
        let protection = policy.keepFramesUnderReview ? "AND NOT \(underReview)" : ""
        var excess = try savedFrameBytes() - policy.frameBudgetBytes
        while excess > 0 && report.framesDeleted < policy.maxPerRun {
            // Chosen in a read (the sort touches every kept frame), marked in a short write.
            let rows = try pool.read { db in
                try Row.fetchAll(db, sql: """
                    SELECT f.id, f.path, f.bytes FROM frames f
                    WHERE f.deleted_at IS NULL \(protection)
                    ORDER BY EXISTS (SELECT 1 FROM labels l WHERE l.frame_id = f.id),
                             CASE f.kept_because WHEN 'audit' THEN 0 WHEN 'failed' THEN 1 ELSE 2 END,
                             f.id
                    LIMIT :batch
                    """, arguments: ["now": now, "batch": policy.batch])
            }
            var picked: [(id: Int64, path: String, bytes: Int64)] = []
            var left = excess
            for r in rows where left > 0 {
                picked.append((r["id"], r["path"], r["bytes"]))
                left -= r["bytes"] as Int64
            }
            let victims: [(id: Int64, path: String, bytes: Int64)] = try pool.write { db in
                guard !picked.isEmpty else { return [] }
                let list = picked.map { String($0.id) }.joined(separator: ",")
                // Still deletable now (a reviewer may have opened or labeled one since the read).
                let still = Set(try Int64.fetchAll(db, sql: """
                    SELECT f.id FROM frames f WHERE f.id IN (\(list)) AND f.deleted_at IS NULL \(protection)
                    """, arguments: ["now": now]))
                let chosen = picked.filter { still.contains($0.id) }
                if !chosen.isEmpty {
                    try db.execute(sql: "UPDATE frames SET deleted_at = ?, defect_map = NULL WHERE id IN (\(chosen.map { String($0.id) }.joined(separator: ",")))",
                                   arguments: [now])
                }
                return chosen
            }
            if victims.isEmpty { break }
            for v in victims {
                excess -= v.bytes
                report.framesDeleted += 1
                report.bytesFreed += v.bytes
            }
            report.fileErrors += removeFiles(victims.map(\.path), framesDirectory)
        }
        report.bytesOverBudget = max(0, excess)
        let cutoff = now - policy.verdictDays * 86400
        let keepVerdict = policy.keepFramesUnderReview ? "AND NOT EXISTS (SELECT 1 FROM frames f WHERE f.verdict_id = v.id AND \(underReview))"
            : "AND NOT EXISTS (SELECT 1 FROM frames f JOIN labels l ON l.frame_id = f.id WHERE f.verdict_id = v.id)"
        while report.verdictsDeleted < policy.maxPerRun {
            let (deleted, files): (Int, [String]) = try pool.write { db in
                let ids = try Int64.fetchAll(db, sql: "SELECT v.id FROM verdicts v WHERE v.captured_at < :cutoff \(keepVerdict) LIMIT :batch",
                                             arguments: policy.keepFramesUnderReview ? ["cutoff": cutoff, "batch": policy.batch, "now": now]
                                                 : ["cutoff": cutoff, "batch": policy.batch])
                guard !ids.isEmpty else { return (0, []) }
                let list = ids.map(String.init).joined(separator: ",")
                let files = try String.fetchAll(db, sql: "SELECT path FROM frames WHERE deleted_at IS NULL AND verdict_id IN (\(list))")
                try db.execute(sql: "DELETE FROM verdicts WHERE id IN (\(list))")
                return (db.changesCount, files)
            }
            if deleted == 0 { break }
            report.verdictsDeleted += deleted
            report.fileErrors += removeFiles(files, framesDirectory)
        }
        try pool.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)")
            try db.execute(sql: "PRAGMA incremental_vacuum(2000)")
        }
        return report
    }

    /// Removes frame files (after their rows are committed); returns how many could not be.
    private func removeFiles(_ paths: [String], _ framesDirectory: String) -> Int {
        var errors = 0
        for p in paths {
            do { try FileManager.default.removeItem(atPath: (framesDirectory as NSString).appendingPathComponent(p)) } catch { errors += 1 }
        }
        return errors
    }
}
