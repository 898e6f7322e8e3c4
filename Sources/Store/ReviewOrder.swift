import Foundation
import GRDB

/// An open flag the review queue's order places: one per frame, with what the order needs.
public struct ReviewCandidate: Equatable, Sendable {
    public var verdictId: Int64
    public var stage1Score: Double?
    /// JSON `{"kind": score}` when stage 2 ran.
    public var stage2Scores: String?
    public var embedding: Data?
    public var embeddingModel: String?

    public init(verdictId: Int64, stage1Score: Double?, stage2Scores: String?, embedding: Data?, embeddingModel: String?) {
        (self.verdictId, self.stage1Score, self.stage2Scores) = (verdictId, stage1Score, stage2Scores)
        (self.embedding, self.embeddingModel) = (embedding, embeddingModel)
    }
}

extension Store {
    /// Frames with an open uncertain or low-stage-2 flag and their file still kept, newest
    /// first, at most `limit`.
    public func reviewCandidates(limit: Int = 1000) throws -> [ReviewCandidate] {
        try pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT v.id AS verdict_id, v.stage1_score, v.stage2_scores, fr.embedding, fr.embedding_model
                FROM verdicts v JOIN frames fr ON fr.verdict_id = v.id
                WHERE v.id IN (SELECT verdict_id FROM flags WHERE status = 'open' AND reason IN ('uncertain', 'low_stage2_confidence'))
                  AND fr.deleted_at IS NULL
                ORDER BY v.id DESC LIMIT ?
                """, arguments: [max(0, limit)]).map {
                ReviewCandidate(verdictId: $0["verdict_id"], stage1Score: $0["stage1_score"], stage2Scores: $0["stage2_scores"],
                                embedding: $0["embedding"], embeddingModel: $0["embedding_model"])
            }
        }
    }

    /// Embeddings by stage-1 model `model` of frames someone labelled (their files may be
    /// gone), newest first, at most `limit`: what the queue's first frames should differ from.
    public func labelledEmbeddings(model: String, limit: Int = 1000) throws -> [Data] {
        try pool.read { db in
            try Data.fetchAll(db, sql: """
                SELECT fr.embedding FROM frames fr
                WHERE fr.id IN (SELECT DISTINCT frame_id FROM labels) AND fr.embedding_model = ? AND fr.embedding IS NOT NULL
                ORDER BY fr.id DESC LIMIT ?
                """, arguments: [model, max(0, limit)])
        }
    }

    /// What changes when the queue's order may: the newest flag, the open flags, the newest
    /// label (one cheap read; equal stamps mean nothing to place again).
    public func reviewQueueStamp() throws -> [Int64] {
        try pool.read { db in
            let r = try Row.fetchOne(db, sql: """
                SELECT (SELECT coalesce(max(id), 0) FROM flags), (SELECT count(*) FROM flags WHERE status = 'open'),
                       (SELECT coalesce(max(id), 0) FROM labels)
                """)!
            return [r[0], r[1], r[2]]
        }
    }

    /// Places the frames `verdicts` first in the review queue, in that order (each by its
    /// first open uncertain or low-stage-2 flag); every other open flag loses its place. One
    /// transaction: a reviewer never sees half an order.
    public func placeInReview(_ verdicts: [Int64]) throws {
        try pool.write { db in
            try db.execute(sql: "UPDATE flags SET priority = NULL WHERE priority IS NOT NULL AND status = 'open'")
            // one flag per frame takes the place (the frame's first doubted flag): a frame with two
            // such flags is listed once among the placed, its other flag where it was before
            let stmt = try db.makeStatement(sql: """
                UPDATE flags SET priority = ? WHERE id = (SELECT min(id) FROM flags WHERE verdict_id = ? AND status = 'open'
                                                          AND reason IN ('uncertain', 'low_stage2_confidence'))
                """)
            for (i, v) in verdicts.enumerated() { try stmt.execute(arguments: [i, v]) }
        }
    }
}
