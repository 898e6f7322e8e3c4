import Foundation
import GRDB

/// The inspection database: one SQLite file in WAL mode. The daemon writes through a
/// `GroupCommitter`; readers (CLI, HTTP) use snapshots and never block it.
public final class Store: Sendable {
    public let path: String
    public let pool: DatabasePool

    /// Opens (or creates) the database, refuses a damaged one, and migrates it.
    /// `quickCheck`: run SQLite's quick_check on an existing file first (the daemon does at
    /// start; it reads every page, seconds on a big history, so commands that only read or
    /// add a few rows skip it).
    /// `migrate`: bring an existing database's schema up to date (the daemon, at start, and
    /// `linesight db migrate`); false refuses one that needs it with `.olderSchema`, since a
    /// daemon of the older version may be writing it (every other command). A new file is
    /// always created whole.
    public convenience init(path: String, busyTimeout: Double = 5, quickCheck: Bool = true, migrate: Bool = true) throws {
        try self.init(path: path, busyTimeout: busyTimeout, schemaUpTo: nil, quickCheck: quickCheck, migrate: migrate)
    }

    /// `schemaUpTo`: stop after this migration (tests of later migrations on old data).
    init(path: String, busyTimeout: Double, schemaUpTo: String?, quickCheck: Bool = true, migrate: Bool = true) throws {
        self.path = path
        let exists = FileManager.default.fileExists(atPath: path)
        var config = Configuration()
        config.busyMode = .timeout(busyTimeout)
        config.foreignKeysEnabled = true
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        do {
            let dir = (path as NSString).deletingLastPathComponent
            if !dir.isEmpty { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
            pool = try DatabasePool(path: path, configuration: config)
        } catch let e as DatabaseError where e.resultCode == .SQLITE_NOTADB || e.resultCode == .SQLITE_CORRUPT {
            throw StoreError.corrupt(path: path, detail: e.message ?? "not a database")
        } catch {
            throw StoreError.io(path: path, detail: "\(error)")
        }
        if exists {
            if quickCheck { try check() }
        } else {
            // Must precede the first table: lets retention hand free pages back to the OS.
            try? pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA auto_vacuum = INCREMENTAL") }
        }
        try self.migrate(upTo: schemaUpTo, existing: exists && !migrate)
    }

    /// SQLite's quick_check: "ok" or the damage it found.
    public func check() throws {
        try classifyingErrors {
            let result = try pool.read { db in try String.fetchAll(db, sql: "PRAGMA quick_check") }
            guard result == ["ok"] else { throw StoreError.corrupt(path: path, detail: result.prefix(3).joined(separator: "; ")) }
        }
    }

    /// Runs `body`, turning SQLite's "not a database"/"corrupt" into `.corrupt` and anything else into `.io`.
    private func classifyingErrors(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch let e as StoreError {
            throw e
        } catch let e as DatabaseError where e.resultCode == .SQLITE_NOTADB || e.resultCode == .SQLITE_CORRUPT {
            throw StoreError.corrupt(path: path, detail: e.message ?? "not a database")
        } catch {
            throw StoreError.io(path: path, detail: "\(error)")
        }
    }

    private func migrate(upTo last: String?, existing refusePending: Bool) throws {
        let migrator = Schema.migrator
        try classifyingErrors {
            let applied = try pool.read { db in try migrator.appliedIdentifiers(db) }
            let unknown = applied.subtracting(migrator.migrations)
            if !unknown.isEmpty { throw StoreError.newerSchema(path: path, migrations: unknown.sorted()) }
            let pending = migrator.migrations.filter { !applied.contains($0) }
            if refusePending, !applied.isEmpty, !pending.isEmpty { throw StoreError.olderSchema(path: path, pending: pending) }
            if let last { try migrator.migrate(pool, upTo: last) } else { try migrator.migrate(pool) }
        }
    }

    /// Adds the camera if it is new (verdicts reference it).
    public func register(camera id: String, source: String) throws {
        try pool.write { db in
            try db.execute(sql: "INSERT INTO cameras(id, source, created_at) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET source = excluded.source",
                           arguments: [id, source, Date().timeIntervalSince1970])
        }
    }

    /// Writes bundles in one transaction (the group commit), with their hourly rollups.
    /// A bundle SQLite refuses (a CHECK, bad JSON, a type it will not store) is rolled back
    /// alone, recorded in its place as a no-verdict naming the refusal, and returned; only a
    /// failure of the database itself (I/O, disk full, busy) throws, and then nothing is written.
    @discardableResult
    public func insert(_ bundles: [VerdictBundle]) throws -> [RefusedVerdict] {
        try insert(rows: bundles.map { .verdict($0) })
    }

    /// Verdicts and parts in one transaction, in order (`insert(_:)`); a part row SQLite
    /// refuses is left out and returned (its frames' verdicts stand).
    @discardableResult
    public func insert(rows: [StoreRow]) throws -> [RefusedVerdict] {
        guard !rows.isEmpty else { return [] }
        var refused: [RefusedVerdict] = []
        try pool.write { db in
            refused = []
            for row in rows {
                let b: VerdictBundle
                switch row {
                case .verdict(let v): b = v
                case .part(let p):
                    do {
                        try db.inSavepoint { try p.insert(db); return .commit }
                    } catch let e as DatabaseError where Self.isRowProblem(e) {
                        refused.append(RefusedVerdict(camera: p.station, sequence: p.id, reason: e.message ?? "\(e.resultCode)",
                                                      recordedAsNoVerdict: false, part: p.id))
                    }
                    continue
                }
                do {
                    do {
                        try db.inSavepoint { try Self.insert(b, db); return .commit }
                    } catch let e as DatabaseError where Self.isRowProblem(e) && (b.frame?.defectMap != nil || b.frame?.embedding != nil) {
                        // the kept map and embedding are extras: one the schema refuses does not cost the verdict
                        var plain = b
                        plain.frame?.defectMap = nil
                        plain.frame?.embedding = nil
                        plain.frame?.embeddingModel = nil
                        try db.inSavepoint { try Self.insert(plain, db); return .commit }
                    }
                } catch let e as DatabaseError where Self.isRowProblem(e) {
                    let reason = e.message ?? "\(e.resultCode)"
                    var recorded = true
                    // The stand-in keeps the kept JPEG (without its ROI or map, which may be what was
                    // refused), so retention still accounts for the file; failing that, without the frame.
                    var frame = b.frame
                    frame?.roi = nil
                    frame?.defectMap = nil
                    frame?.embedding = nil
                    frame?.embeddingModel = nil
                    do {
                        try db.inSavepoint { try Self.insert(VerdictBundle(verdict: b.verdict.refusedStandIn(reason: reason), frame: frame), db); return .commit }
                    } catch let e as DatabaseError where Self.isRowProblem(e) && frame != nil {
                        do {
                            try db.inSavepoint { try Self.insert(VerdictBundle(verdict: b.verdict.refusedStandIn(reason: reason), frame: nil), db); return .commit }
                        } catch let e as DatabaseError where Self.isRowProblem(e) {
                            recorded = false
                        }
                    } catch let e as DatabaseError where Self.isRowProblem(e) {
                        recorded = false  // e.g. a camera the database does not know: counted, never retried
                    }
                    refused.append(RefusedVerdict(camera: b.verdict.cameraId, sequence: b.verdict.frameSequence,
                                                  reason: reason, recordedAsNoVerdict: recorded))
                }
            }
        }
        return refused
    }

    private static func insert(_ b: VerdictBundle, _ db: Database) throws {
        var v = b.verdict
        try v.insert(db)
        let vid = v.id!
        if var f = b.frame {
            f.verdictId = vid
            try f.insert(db)
        }
        for reason in v.flagList {
            var flag = FlagRecord(verdictId: vid, reason: reason, status: "open", createdAt: v.capturedAt, note: b.flagNotes[reason].map { String($0.prefix(500)) })
            try flag.insert(db)
        }
        try Rollups.add(v, db)
    }

    /// Errors that belong to one row's values, not to the database.
    static func isRowProblem(_ e: DatabaseError) -> Bool {
        [.SQLITE_CONSTRAINT, .SQLITE_MISMATCH, .SQLITE_TOOBIG, .SQLITE_RANGE].contains(e.resultCode)
    }
}

/// A verdict row the database refused, recorded as a no-verdict in its place (or a part row
/// it refused: `part` set, `camera` the station, nothing recorded in its place).
public struct RefusedVerdict: Sendable, Equatable {
    public var camera: String
    public var sequence: Int64
    public var reason: String
    /// False when even the stand-in no-verdict was refused (the verdict is then lost, and counted).
    public var recordedAsNoVerdict: Bool
    public var part: Int64? = nil
}

/// What the group committer writes: a verdict (with its kept frame and flags) or a decided part.
public enum StoreRow: Sendable {
    case verdict(VerdictBundle)
    case part(PartRecord)
}
