import Foundation
import GRDB

/// A flagged frame waiting for a person, with what the model said.
public struct FlaggedFrame: Codable, Equatable, Sendable {
    public var flagId: Int64
    public var frameId: Int64
    public var verdictId: Int64
    public var reason: FlagReason
    public var camera: String
    public var capturedAt: Double
    public var decision: Decision
    public var stage1Score: Double?
    public var defects: String
    public var path: String
}

/// The current label of a frame (the newest; earlier ones are superseded).
public struct FrameLabel: Codable, Equatable, Sendable {
    public var labelId: Int64
    public var frameId: Int64
    /// Defect kinds; empty means the part is good.
    public var defects: [String]
    public var who: String
    public var labeledAt: Double
    public var source: String
    public var path: String
}

extension Store {
    /// Open flags, most useful first: uncertain and low-confidence frames, then no-verdicts,
    /// then audit samples; newest first within each. Frames removed by retention are left out.
    public func openFlags(limit: Int = 100) throws -> [FlaggedFrame] {
        try pool.read { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT f.id AS flag_id, fr.id AS frame_id, v.id AS verdict_id, f.reason, v.camera_id, v.captured_at,
                       v.decision, v.stage1_score, v.defects, fr.path
                FROM flags f JOIN verdicts v ON v.id = f.verdict_id JOIN frames fr ON fr.verdict_id = v.id
                WHERE f.status = 'open' AND fr.deleted_at IS NULL
                ORDER BY CASE f.reason WHEN 'uncertain' THEN 0 WHEN 'low_stage2_confidence' THEN 1 WHEN 'no_verdict' THEN 2 ELSE 3 END,
                         v.captured_at DESC
                LIMIT ?
                """, arguments: [limit])
            return rows.map { r in
                FlaggedFrame(flagId: r["flag_id"], frameId: r["frame_id"], verdictId: r["verdict_id"],
                             reason: FlagReason(rawValue: r["reason"]) ?? .uncertain, camera: r["camera_id"], capturedAt: r["captured_at"],
                             decision: Decision(rawValue: r["decision"]) ?? .noVerdict, stage1Score: r["stage1_score"],
                             defects: r["defects"], path: r["path"])
            }
        }
    }

    /// Labels frames: `defects` empty = good. Supersedes each frame's earlier label and closes
    /// its open flags. All or nothing: an unknown frame id rejects the whole call.
    public func label(frames: [Int64], defects: [String], who: String, source: String = "review",
                      now: Double = Date().timeIntervalSince1970) throws {
        try label(frames.map { ($0, defects) }, who: who, source: source, now: now)
    }

    /// Labels several frames, each with its own defects, in one transaction.
    public func label(_ items: [(frame: Int64, defects: [String])], who: String, source: String,
                      now: Double = Date().timeIntervalSince1970) throws {
        try pool.write { db in
            for (id, defects) in items {
                guard try Int.fetchOne(db, sql: "SELECT 1 FROM frames WHERE id = ?", arguments: [id]) != nil else {
                    throw StoreError.notFound("frame \(id)")
                }
                let previous = try Int64.fetchOne(db, sql: "SELECT id FROM labels WHERE frame_id = ? ORDER BY id DESC LIMIT 1", arguments: [id])
                try db.execute(sql: "INSERT INTO labels(frame_id, label, who, labeled_at, source, supersedes) VALUES (?, ?, ?, ?, ?, ?)",
                               arguments: [id, defects.isEmpty ? "good" : defects.joined(separator: "+"), who, now, source, previous])
                try db.execute(sql: """
                    UPDATE flags SET status = 'labeled' WHERE status = 'open'
                      AND verdict_id = (SELECT verdict_id FROM frames WHERE id = ?)
                    """, arguments: [id])
            }
        }
    }

    /// The current label of every labeled frame still on disk, labeled at or after `since`.
    public func currentLabels(since: Double? = nil) throws -> [FrameLabel] {
        try pool.read { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT l.id, l.frame_id, l.label, l.who, l.labeled_at, l.source, fr.path
                FROM labels l JOIN frames fr ON fr.id = l.frame_id
                WHERE l.id = (SELECT max(id) FROM labels WHERE frame_id = l.frame_id)
                  AND fr.deleted_at IS NULL AND l.labeled_at >= ?
                ORDER BY l.frame_id
                """, arguments: [since ?? 0])
            return rows.map { r in
                let label: String = r["label"]
                return FrameLabel(labelId: r["id"], frameId: r["frame_id"], defects: label == "good" ? [] : label.split(separator: "+").map(String.init),
                                  who: r["who"], labeledAt: r["labeled_at"], source: r["source"], path: r["path"])
            }
        }
    }
}
