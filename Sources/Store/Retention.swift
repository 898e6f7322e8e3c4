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

    public init(frameBudgetBytes: Int64 = 20 << 30, verdictDays: Double = 90) {
        self.frameBudgetBytes = frameBudgetBytes
        self.verdictDays = verdictDays
    }
}

public struct RetentionReport: Equatable, Sendable {
    public var framesDeleted = 0
    public var bytesFreed: Int64 = 0
    public var verdictsDeleted = 0
}

extension Store {
    /// Bytes of saved frames still on disk.
    public func savedFrameBytes() throws -> Int64 {
        try pool.read { db in try Int64.fetchOne(db, sql: "SELECT coalesce(sum(bytes), 0) FROM frames WHERE deleted_at IS NULL") ?? 0 }
    }

    /// Applies the policy: deletes frame files (under `framesDirectory`) over the budget,
    /// old verdict rows, then checkpoints the WAL and returns free pages to the OS.
    public func applyRetention(_ policy: RetentionPolicy, framesDirectory: String,
                               now: Double = Date().timeIntervalSince1970) throws -> RetentionReport {
        var report = RetentionReport()
        var excess = try savedFrameBytes() - policy.frameBudgetBytes
        while excess > 0 {
            let victims = try pool.read { db in
                try Row.fetchAll(db, sql: """
                    SELECT f.id, f.path, f.bytes FROM frames f
                    WHERE f.deleted_at IS NULL
                    ORDER BY EXISTS (SELECT 1 FROM labels l WHERE l.frame_id = f.id),
                             CASE f.kept_because WHEN 'audit' THEN 0 WHEN 'failed' THEN 1 ELSE 2 END,
                             f.id
                    LIMIT 256
                    """)
            }
            if victims.isEmpty { break }
            var deleted: [Int64] = []
            for row in victims where excess > 0 {
                let path: String = row["path"], bytes: Int64 = row["bytes"]
                try? FileManager.default.removeItem(atPath: (framesDirectory as NSString).appendingPathComponent(path))
                deleted.append(row["id"])
                excess -= bytes
                report.framesDeleted += 1
                report.bytesFreed += bytes
            }
            try pool.write { db in
                try db.execute(sql: "UPDATE frames SET deleted_at = ? WHERE id IN (\(deleted.map(String.init).joined(separator: ",")))",
                               arguments: [now])
            }
        }
        let cutoff = now - policy.verdictDays * 86400
        report.verdictsDeleted = try pool.write { db in
            let victims = try String.fetchAll(db, sql: """
                SELECT f.path FROM frames f JOIN verdicts v ON v.id = f.verdict_id
                WHERE v.captured_at < ? AND f.deleted_at IS NULL
                  AND NOT EXISTS (SELECT 1 FROM labels l WHERE l.frame_id = f.id)
                """, arguments: [cutoff])
            for p in victims { try? FileManager.default.removeItem(atPath: (framesDirectory as NSString).appendingPathComponent(p)) }
            try db.execute(sql: """
                DELETE FROM verdicts WHERE captured_at < ? AND id NOT IN (
                    SELECT f.verdict_id FROM frames f JOIN labels l ON l.frame_id = f.id)
                """, arguments: [cutoff])
            return db.changesCount
        }
        try pool.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)")
            try db.execute(sql: "PRAGMA incremental_vacuum(2000)")
        }
        return report
    }
}
