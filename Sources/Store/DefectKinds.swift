import Foundation
import GRDB

/// A defect kind a reviewer named that the stage-2 model did not know. Naming is confirmed
/// once (`label --new-kind`, review's `n`), so a typo does not become a kind; from then on
/// anyone may label it, and `retrain` grows stage 2 for it.
public struct NamedDefectKind: Codable, Sendable, Equatable, FetchableRecord {
    public var name: String
    public var addedBy: String
    public var addedAt: Double

    enum CodingKeys: String, CodingKey {
        case name, addedBy = "added_by", addedAt = "added_at"
    }
}

extension Store {
    /// The kinds reviewers named, oldest first.
    public func namedDefectKinds() throws -> [NamedDefectKind] {
        try pool.read { db in try NamedDefectKind.fetchAll(db, sql: "SELECT name, added_by, added_at FROM defect_kinds ORDER BY added_at, name") }
    }

    /// Records `names` as defect kinds (a name already recorded keeps its first record).
    public func nameDefectKinds(_ names: [String], who: String, now: Double = Date().timeIntervalSince1970) throws {
        for n in names { try DefectKind.validate(n) }
        try pool.write { db in try Self.nameDefectKinds(names, who: who, now: now, db) }
    }

    static func nameDefectKinds(_ names: [String], who: String, now: Double, _ db: Database) throws {
        for n in names {
            try db.execute(sql: "INSERT OR IGNORE INTO defect_kinds(name, added_by, added_at) VALUES (?, ?, ?)", arguments: [n, who, now])
        }
    }

    /// Drops the named kind `name` when no current or past label names it (an undone label's typo).
    static func forgetUnusedKind(_ name: String, _ db: Database) throws {
        try db.execute(sql: """
            DELETE FROM defect_kinds WHERE name = ?1
              AND NOT EXISTS (SELECT 1 FROM labels WHERE ('+' || label || '+') LIKE ('%+' || ?1 || '+%'))
            """, arguments: [name])
    }
}
