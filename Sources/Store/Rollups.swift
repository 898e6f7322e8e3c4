import Foundation
import GRDB

/// Hourly counters per camera, stage-1 model and product, kept up to date in the same transaction
/// as each verdict, so statistics survive the deletion of old verdict rows and answer
/// from a few thousand rows however long the history.
enum Rollups {
    static func add(_ v: VerdictRecord, _ db: Database) throws {
        let hour = Store.hour(v.capturedAt, .down)
        let model = v.stage1Model ?? "", product = v.product ?? ""
        try db.execute(sql: """
            INSERT INTO rollups(camera_id, hour, model, product, frames, passes, fails, no_verdicts, flagged, total_ms_sum)
            VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?, ?)
            ON CONFLICT(hour, camera_id, model, product) DO UPDATE SET
                frames = frames + 1, passes = passes + excluded.passes, fails = fails + excluded.fails,
                no_verdicts = no_verdicts + excluded.no_verdicts, flagged = flagged + excluded.flagged,
                total_ms_sum = total_ms_sum + excluded.total_ms_sum
            """, arguments: [v.cameraId, hour, model, product, v.decision == .pass ? 1 : 0, v.decision == .fail ? 1 : 0,
                             v.decision == .noVerdict ? 1 : 0, v.flags.isEmpty ? 0 : 1, v.totalMs])
        for defect in v.defectList {
            try db.execute(sql: """
                INSERT INTO rollup_defects(camera_id, hour, model, product, defect, count) VALUES (?, ?, ?, ?, ?, 1)
                ON CONFLICT(hour, camera_id, model, product, defect) DO UPDATE SET count = count + 1
                """, arguments: [v.cameraId, hour, model, product, defect])
        }
    }
}
