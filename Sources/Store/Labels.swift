import Foundation
import GRDB
import LinesightCore

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
    /// JSON object defect kind -> stage-2 probability, when stage 2 ran.
    public var stage2Scores: String?
    public var stage1Model: String?
    /// Why the flag was raised, when there is more to say than its reason (suspect labels).
    public var note: String?
    /// The region of the frame the daemon judged (nil: the whole frame): what review shows.
    public var roi: FrameRegion?
    /// The part the frame was taken for (a station's view), once the part is decided: its id,
    /// station, serial and verdict.
    public var part: Int64?
    public var station: String?
    public var serial: String?
    public var partDecision: Decision?
    /// The product whose models judged the frame (nil: none was named).
    public var product: String?
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
    /// The camera that kept the frame, and the region of it the daemon judged (nil: whole frame).
    public var camera: String
    public var roi: FrameRegion?
    /// The product whose models judged the frame (nil: none was named).
    public var product: String?

    public init(labelId: Int64, frameId: Int64, defects: [String], who: String, labeledAt: Double, source: String, path: String,
                camera: String, roi: FrameRegion?) {
        (self.labelId, self.frameId, self.defects, self.who, self.labeledAt) = (labelId, frameId, defects, who, labeledAt)
        (self.source, self.path, self.camera, self.roi) = (source, path, camera, roi)
    }
}

extension Store {
    /// Open flags, most useful first (`reviewOrder`). Frames removed by retention are left out.
    public func openFlags(limit: Int = 100) throws -> [FlaggedFrame] {
        try pool.read { db in
            let rows = try Row.fetchAll(db, sql: """
                \(Self.flaggedColumns) WHERE f.status = 'open' AND fr.deleted_at IS NULL
                ORDER BY \(Self.reviewOrder) LIMIT ?
                """, arguments: [limit])
            return rows.map(Self.flagged)
        }
    }

    static let flaggedColumns = """
        SELECT f.id AS flag_id, fr.id AS frame_id, v.id AS verdict_id, f.reason, v.camera_id, v.captured_at,
               v.decision, v.stage1_score, v.defects, fr.path, v.stage2_scores, v.stage1_model, f.note,
               fr.roi_x, fr.roi_y, fr.roi_w, fr.roi_h, p.id AS part_id, p.station, p.serial, p.decision AS part_decision,
               v.product
        FROM flags f JOIN verdicts v ON v.id = f.verdict_id JOIN frames fr ON fr.verdict_id = v.id
        LEFT JOIN parts p ON p.id = v.part_id
        """
    /// Most useful first: the frames the daemon placed (`placeInReview`: the doubted frames
    /// in the order `[flagging] review_order` picks), then frames the model was unsure of,
    /// suspect labels, no-verdicts, drift samples, then audit samples; newest first within each.
    static let reviewOrder = """
        f.priority IS NULL, f.priority, CASE f.reason WHEN 'uncertain' THEN 0 WHEN 'low_stage2_confidence' THEN 1 WHEN 'suspect_label' THEN 2
                      WHEN 'no_verdict' THEN 3 WHEN 'drift' THEN 4 ELSE 5 END, v.captured_at DESC, f.id
        """

    static func flagged(_ r: Row) -> FlaggedFrame {
        FlaggedFrame(flagId: r["flag_id"], frameId: r["frame_id"], verdictId: r["verdict_id"],
                     reason: FlagReason(rawValue: r["reason"]) ?? .uncertain, camera: r["camera_id"], capturedAt: r["captured_at"],
                     decision: Decision(rawValue: r["decision"]) ?? .noVerdict, stage1Score: r["stage1_score"],
                     defects: r["defects"], path: r["path"], stage2Scores: r["stage2_scores"], stage1Model: r["stage1_model"],
                     note: r["note"], roi: region(r), part: r["part_id"], station: r["station"], serial: r["serial"],
                     partDecision: (r["part_decision"] as String?).flatMap(Decision.init(rawValue:)), product: r["product"])
    }

    /// The ROI columns of a frames row (roi_x, roi_y, roi_w, roi_h), nil when unset.
    static func region(_ r: Row) -> FrameRegion? {
        let x: Int? = r["roi_x"], y: Int? = r["roi_y"], w: Int? = r["roi_w"], h: Int? = r["roi_h"]
        guard let x, let y, let w, let h else { return nil }
        return FrameRegion(x: x, y: y, width: w, height: h)
    }

    /// Labels frames: `defects` empty = good. Supersedes each frame's earlier label and closes
    /// its open flags. All or nothing: an unknown frame id rejects the whole call.
    /// `newKinds` are recorded as named defect kinds in the same transaction.
    public func label(frames: [Int64], defects: [String], who: String, source: String = "review", newKinds: [String] = [],
                      now: Double = Date().timeIntervalSince1970) throws {
        try label(frames.map { ($0, defects) }, who: who, source: source, newKinds: newKinds, now: now)
    }

    /// Labels several frames, each with its own defects, in one transaction. `confirmed`:
    /// frames whose label was given again as it is: no new label, but their flags close.
    public func label(_ items: [(frame: Int64, defects: [String])], who: String, source: String, newKinds: [String] = [],
                      confirmed: [Int64] = [], now: Double = Date().timeIntervalSince1970) throws {
        for n in newKinds { try DefectKind.validate(n) }
        try pool.write { db in
            try Self.nameDefectKinds(newKinds, who: who, now: now, db)
            for id in confirmed { try Self.closeFlags(frame: id, db) }
            for (id, defects) in items {
                guard try Int.fetchOne(db, sql: "SELECT 1 FROM frames WHERE id = ?", arguments: [id]) != nil else {
                    throw StoreError.notFound("frame \(id)")
                }
                let previous = try Int64.fetchOne(db, sql: "SELECT id FROM labels WHERE frame_id = ? ORDER BY id DESC LIMIT 1", arguments: [id])
                try db.execute(sql: "INSERT INTO labels(frame_id, label, who, labeled_at, source, supersedes) VALUES (?, ?, ?, ?, ?, ?)",
                               arguments: [id, defects.isEmpty ? "good" : defects.joined(separator: "+"), who, now, source, previous])
                try Self.closeFlags(frame: id, db)
            }
        }
    }

    /// The frame's open flags, closed as labelled.
    private static func closeFlags(frame id: Int64, _ db: Database) throws {
        try db.execute(sql: """
            UPDATE flags SET status = 'labeled' WHERE status = 'open'
              AND verdict_id = (SELECT verdict_id FROM frames WHERE id = ?)
            """, arguments: [id])
    }

    /// The id of every kept frame (what a label import may name).
    public func frameIds() throws -> Set<Int64> {
        try pool.read { db in Set(try Int64.fetchAll(db, sql: "SELECT id FROM frames")) }
    }

    /// Sends a labeled frame back to review as a suspect label, with why (reopens an earlier
    /// suspect flag of the same frame). False when the frame does not exist.
    @discardableResult
    public func flagSuspectLabel(frame: Int64, note: String, now: Double = Date().timeIntervalSince1970) throws -> Bool {
        try pool.write { db in
            try db.execute(sql: """
                INSERT INTO flags(verdict_id, reason, status, created_at, note)
                SELECT verdict_id, 'suspect_label', 'open', ?, ? FROM frames WHERE id = ?
                ON CONFLICT(verdict_id, reason) DO UPDATE SET status = 'open', note = excluded.note, created_at = excluded.created_at,
                    leased_by = NULL, lease_until = NULL
                """, arguments: [now, note, frame])
            return db.changesCount > 0
        }
    }

    /// The current label of every labeled frame still on disk, labeled at or after `since`.
    public func currentLabels(since: Double? = nil) throws -> [FrameLabel] {
        try pool.read { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT l.id, l.frame_id, l.label, l.who, l.labeled_at, l.source, fr.path, v.camera_id,
                       fr.roi_x, fr.roi_y, fr.roi_w, fr.roi_h, v.product
                FROM labels l JOIN frames fr ON fr.id = l.frame_id JOIN verdicts v ON v.id = fr.verdict_id
                WHERE l.id = (SELECT max(id) FROM labels WHERE frame_id = l.frame_id)
                  AND fr.deleted_at IS NULL AND l.labeled_at >= ?
                ORDER BY l.frame_id
                """, arguments: [since ?? 0])
            return rows.map { r in
                let label: String = r["label"]
                var f = FrameLabel(labelId: r["id"], frameId: r["frame_id"], defects: label == "good" ? [] : label.split(separator: "+").map(String.init),
                                   who: r["who"], labeledAt: r["labeled_at"], source: r["source"], path: r["path"],
                                   camera: r["camera_id"], roi: Self.region(r))
                f.product = r["product"]
                return f
            }
        }
    }
}

extension Store {
    /// Kept frames still on disk that are good as far as anyone knows: labeled good, or
    /// unlabeled and passed by the model (flagged or audited passes; failed frames are mostly
    /// defective, and no-verdicts are unknown). The
    /// unlabeled frames self-supervised pretraining learns from; `labelId` is 0 for a frame
    /// nobody labeled, and `defects` is empty.
    public func framesForPretraining() throws -> [FrameLabel] {
        try pool.read { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT fr.id AS frame_id, fr.path, v.decision, v.camera_id, v.captured_at, fr.roi_x, fr.roi_y, fr.roi_w, fr.roi_h, v.product,
                       (SELECT l.id FROM labels l WHERE l.frame_id = fr.id ORDER BY l.id DESC LIMIT 1) AS label_id,
                       (SELECT l.label FROM labels l WHERE l.frame_id = fr.id ORDER BY l.id DESC LIMIT 1) AS label
                FROM frames fr JOIN verdicts v ON v.id = fr.verdict_id
                WHERE fr.deleted_at IS NULL
                ORDER BY fr.id
                """)
            return rows.compactMap { r -> FrameLabel? in
                let label: String? = r["label"], decision: String = r["decision"]
                guard label == "good" || (label == nil && decision == Decision.pass.rawValue) else { return nil }
                var f = FrameLabel(labelId: r["label_id"] ?? 0, frameId: r["frame_id"], defects: [], who: "", labeledAt: r["captured_at"],
                                   source: label == nil ? "unlabeled" : "labeled good", path: r["path"], camera: r["camera_id"], roi: Self.region(r))
                f.product = r["product"]
                return f
            }
        }
    }
}

/// A verdict a person has labeled: what the model said next to what the person said.
public struct LabeledVerdict: Equatable, Sendable {
    public var verdictId: Int64
    public var frameId: Int64
    public var camera: String
    public var capturedAt: Double
    public var decision: Decision
    public var modelDefects: [String]
    /// The stage-1 model version ("" when unknown).
    public var model: String
    public var flags: [FlagReason]
    /// The current label's defect kinds; empty means good.
    public var humanDefects: [String]
    /// The product the line was making ("" when none was configured).
    public var product: String = ""
}

extension Store {
    /// Every labeled verdict captured in [since, until), with its current label.
    public func labeledVerdicts(since: Double? = nil, until: Double? = nil) throws -> [LabeledVerdict] {
        try pool.read { db in
            let rows = try Row.fetchCursor(db, sql: """
                SELECT v.id, fr.id, v.camera_id, v.captured_at, v.decision, v.defects, coalesce(v.stage1_model, ''), v.flags, l.label,
                       coalesce(v.product, '')
                FROM labels l JOIN frames fr ON fr.id = l.frame_id JOIN verdicts v ON v.id = fr.verdict_id
                WHERE l.id = (SELECT max(id) FROM labels WHERE frame_id = l.frame_id)
                  AND v.captured_at >= ? AND v.captured_at < ?
                ORDER BY v.id
                """, arguments: [since ?? -Double.greatestFiniteMagnitude, until ?? Double.greatestFiniteMagnitude])
            var out: [LabeledVerdict] = []
            while let r = try rows.next() {
                let label: String = r[8]
                let defects: String = r[5]
                let flags: String = r[7]
                out.append(LabeledVerdict(verdictId: r[0], frameId: r[1], camera: r[2], capturedAt: r[3],
                                          decision: Decision(rawValue: r[4]) ?? .noVerdict,
                                          modelDefects: defects.isEmpty ? [] : defects.split(separator: ",").map(String.init), model: r[6],
                                          flags: flags.split(separator: ",").compactMap { FlagReason(rawValue: String($0)) },
                                          humanDefects: label == "good" ? [] : label.split(separator: "+").map(String.init)))
                out[out.count - 1].product = r[9]
            }
            return out
        }
    }
}
