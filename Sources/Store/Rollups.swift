import Foundation
import GRDB

/// Hourly per-camera counters, kept up to date in the same transaction as each verdict,
/// so statistics survive the deletion of old verdict rows.
enum Rollups {
    static func add(_ v: VerdictRecord, _ db: Database) throws {
        let hour = Int64((v.capturedAt / 3600).rounded(.down))
        try db.execute(sql: """
            INSERT INTO hourly_rollups(camera_id, hour, frames, passes, fails, no_verdicts, flagged, total_ms_sum)
            VALUES (?, ?, 1, ?, ?, ?, ?, ?)
            ON CONFLICT(camera_id, hour) DO UPDATE SET
                frames = frames + 1, passes = passes + excluded.passes, fails = fails + excluded.fails,
                no_verdicts = no_verdicts + excluded.no_verdicts, flagged = flagged + excluded.flagged,
                total_ms_sum = total_ms_sum + excluded.total_ms_sum
            """, arguments: [v.cameraId, hour, v.decision == .pass ? 1 : 0, v.decision == .fail ? 1 : 0,
                             v.decision == .noVerdict ? 1 : 0, v.flags.isEmpty ? 0 : 1, v.totalMs])
        for defect in v.defectList {
            try db.execute(sql: """
                UPDATE hourly_rollups SET defects = json_set(defects, '$.' || json_quote(?),
                    coalesce(json_extract(defects, '$.' || json_quote(?)), 0) + 1)
                WHERE camera_id = ? AND hour = ?
                """, arguments: [defect, defect, v.cameraId, hour])
        }
    }
}
