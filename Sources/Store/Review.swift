import Foundation
import GRDB

/// What undoing a review decision restores.
public enum ReviewDecision: Equatable, Sendable {
    /// A label was written (its id); undo deletes it and reopens the flags it closed.
    case labeled(labelId: Int64, flagIds: [Int64])
    /// The frame's flags were marked unsure; undo reopens them.
    case unsure(flagIds: [Int64])
}

/// The review queue for people: each reviewer leases the frame they look at (all its open
/// flags), so two reviewers never get the same frame; a lease that is not renewed expires
/// (a closed laptop).
extension Store {
    /// Leases the next flagged frame nobody else holds, most useful first, skipping
    /// `excluding` (verdict ids this reviewer skipped). Nil when the queue is empty for them.
    public func leaseNext(reviewer: String, seconds: Double = 600, excluding: Set<Int64> = [],
                          now: Double = Date().timeIntervalSince1970) throws -> FlaggedFrame? {
        try pool.write { db in
            let skip = excluding.isEmpty ? "" : "AND f.verdict_id NOT IN (\(excluding.map(String.init).joined(separator: ",")))"
            guard let row = try Row.fetchOne(db, sql: """
                \(Self.flaggedColumns)
                WHERE f.status = 'open' AND fr.deleted_at IS NULL \(skip)
                  AND NOT EXISTS (SELECT 1 FROM flags g WHERE g.verdict_id = f.verdict_id AND g.status = 'open'
                                  AND g.leased_by != ? AND g.lease_until >= ?)
                ORDER BY coalesce(f.leased_by = ? AND f.lease_until >= ?, 0) DESC, \(Self.reviewOrder) LIMIT 1
                """, arguments: [reviewer, now, reviewer, now]) else { return nil }
            let frame = Self.flagged(row)
            try db.execute(sql: "UPDATE flags SET leased_by = ?, lease_until = ? WHERE verdict_id = ? AND status = 'open'",
                           arguments: [reviewer, now + seconds, frame.verdictId])
            return frame
        }
    }

    /// Gives a frame's lease back (skip, quit).
    public func release(_ f: FlaggedFrame, reviewer: String) throws {
        try pool.write { db in
            try db.execute(sql: "UPDATE flags SET leased_by = NULL, lease_until = NULL WHERE verdict_id = ? AND leased_by = ?",
                           arguments: [f.verdictId, reviewer])
        }
    }

    /// Frames waiting for review, and how many of them other reviewers hold right now.
    public func queueSize(reviewer: String, now: Double = Date().timeIntervalSince1970) throws -> (open: Int, heldByOthers: Int) {
        try pool.read { db in
            let row = try Row.fetchOne(db, sql: """
                SELECT count(DISTINCT f.verdict_id),
                       count(DISTINCT CASE WHEN f.leased_by != ? AND f.lease_until >= ? THEN f.verdict_id END)
                FROM flags f JOIN frames fr ON fr.verdict_id = f.verdict_id WHERE f.status = 'open' AND fr.deleted_at IS NULL
                """, arguments: [reviewer, now])!
            return (row[0], row[1])
        }
    }

    /// Extends this reviewer's lease on the frame, changing nothing else (the toggles on their
    /// screen stay). False when the lease was lost: someone else holds the frame now, or it was decided.
    public func renew(_ f: FlaggedFrame, reviewer: String, seconds: Double = 600, now: Double = Date().timeIntervalSince1970) throws -> Bool {
        do {
            return try pool.write { db in
                try Self.checkLease(db, f, reviewer: reviewer, now: now)
                try db.execute(sql: "UPDATE flags SET leased_by = ?, lease_until = ? WHERE verdict_id = ? AND status = 'open'",
                               arguments: [reviewer, now + seconds, f.verdictId])
                return db.changesCount > 0
            }
        } catch StoreError.conflict {
            return false
        }
    }

    /// Only the lease holder decides: the frame's open flags must be leased to `reviewer`
    /// (a lapsed lease of theirs that nobody took since still counts).
    static func checkLease(_ db: Database, _ f: FlaggedFrame, reviewer: String, now: Double) throws {
        let rows = try Row.fetchAll(db, sql: "SELECT leased_by, lease_until FROM flags WHERE verdict_id = ? AND status = 'open'",
                                    arguments: [f.verdictId])
        guard !rows.isEmpty else {
            let by = try String.fetchOne(db, sql: "SELECT who FROM labels WHERE frame_id = ? ORDER BY id DESC LIMIT 1", arguments: [f.frameId])
            throw StoreError.conflict("frame \(f.frameId) was already decided\(by.map { " by \($0)" } ?? ""); your decision was not recorded")
        }
        for r in rows {
            let holder: String? = r["leased_by"], until: Double? = r["lease_until"]
            if let holder, holder != reviewer {
                let live = (until ?? 0) >= now
                throw StoreError.conflict("frame \(f.frameId) is \(live ? "being reviewed" : "held") by \(holder); your decision was not recorded")
            }
            if holder == nil { throw StoreError.conflict("frame \(f.frameId) is not leased to you (take it with `review` first); your decision was not recorded") }
        }
    }

    /// Labels the leased frame (`defects` empty = good), closing its open flags. Throws
    /// `conflict` unless `reviewer` holds the frame's lease.
    /// `newKinds` (kinds the reviewer named here for the first time) are recorded with the label.
    public func decide(_ f: FlaggedFrame, defects: [String], reviewer: String, newKinds: [String] = [],
                       now: Double = Date().timeIntervalSince1970) throws -> ReviewDecision {
        for n in newKinds { try DefectKind.validate(n) }
        return try pool.write { db in
            try Self.checkLease(db, f, reviewer: reviewer, now: now)
            try Self.nameDefectKinds(newKinds, who: reviewer, now: now, db)
            let flags = try Int64.fetchAll(db, sql: "SELECT id FROM flags WHERE verdict_id = ? AND status = 'open'", arguments: [f.verdictId])
            let previous = try Int64.fetchOne(db, sql: "SELECT id FROM labels WHERE frame_id = ? ORDER BY id DESC LIMIT 1", arguments: [f.frameId])
            try db.execute(sql: "INSERT INTO labels(frame_id, label, who, labeled_at, source, supersedes) VALUES (?, ?, ?, ?, 'review', ?)",
                           arguments: [f.frameId, defects.isEmpty ? "good" : defects.joined(separator: "+"), reviewer, now, previous])
            let id = db.lastInsertedRowID
            try db.execute(sql: """
                UPDATE flags SET status = 'labeled', leased_by = NULL, lease_until = NULL WHERE verdict_id = ? AND status = 'open'
                """, arguments: [f.verdictId])
            return .labeled(labelId: id, flagIds: flags)
        }
    }

    /// The reviewer cannot tell: the frame leaves the queue as 'unsure' (for someone who can).
    /// Throws `conflict` unless `reviewer` holds the frame's lease.
    public func markUnsure(_ f: FlaggedFrame, reviewer: String, now: Double = Date().timeIntervalSince1970) throws -> ReviewDecision {
        try pool.write { db in
            try Self.checkLease(db, f, reviewer: reviewer, now: now)
            let flags = try Int64.fetchAll(db, sql: "SELECT id FROM flags WHERE verdict_id = ? AND status = 'open'", arguments: [f.verdictId])
            try db.execute(sql: "UPDATE flags SET status = 'unsure', note = ?, leased_by = NULL, lease_until = NULL WHERE verdict_id = ? AND status = 'open'",
                           arguments: ["unsure: \(reviewer)", f.verdictId])
            return .unsure(flagIds: flags)
        }
    }

    /// Undoes a decision of this reviewer; the frame's flags are open again, leased to them.
    /// `namedKinds`: kinds the undone label recorded as new; they are forgotten again unless
    /// another label names them.
    public func undo(_ d: ReviewDecision, reviewer: String, seconds: Double = 600, namedKinds: [String] = [],
                     now: Double = Date().timeIntervalSince1970) throws {
        try pool.write { db in
            defer { for k in namedKinds { try? Self.forgetUnusedKind(k, db) } }
            switch d {
            case .labeled(let labelId, let flagIds):
                guard try Int.fetchOne(db, sql: "SELECT count(*) FROM labels WHERE supersedes = ?", arguments: [labelId]) == 0 else {
                    throw StoreError.conflict("label \(labelId) was superseded since; label the frame again instead")
                }
                try db.execute(sql: "DELETE FROM labels WHERE id = ? AND who = ?", arguments: [labelId, reviewer])
                guard db.changesCount == 1 else { throw StoreError.notFound("label \(labelId) by \(reviewer)") }
                for id in flagIds {
                    try db.execute(sql: "UPDATE flags SET status = 'open', leased_by = ?, lease_until = ? WHERE id = ?",
                                   arguments: [reviewer, now + seconds, id])
                }
            case .unsure(let flagIds):
                for id in flagIds {
                    try db.execute(sql: "UPDATE flags SET status = 'open', note = NULL, leased_by = ?, lease_until = ? WHERE id = ?",
                                   arguments: [reviewer, now + seconds, id])
                }
            }
        }
    }
}

extension Store {
    /// Defect kinds seen in verdicts and labels, for review without a stage-2 model.
    public func knownDefectKinds() throws -> [String] {
        try pool.read { db in
            var kinds = Set(try String.fetchAll(db, sql: "SELECT DISTINCT defect FROM rollup_defects"))
            for l in try String.fetchAll(db, sql: "SELECT DISTINCT label FROM labels WHERE label != 'good'") {
                kinds.formUnion(l.split(separator: "+").map(String.init))
            }
            return kinds.sorted()
        }
    }
}
