import Foundation
import GRDB

/// One registered model version.
public struct ModelRecord: Codable, Sendable, Equatable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "models"
    public enum Status: String, Codable, Sendable, DatabaseValueConvertible { case candidate, champion, retired, rejected }

    public var id: Int64?
    /// The first 12 hex digits of the file's SHA-256 (what verdict rows record).
    public var version: String
    public var stage: Int
    /// The registry's own immutable copy of the file.
    public var file: String
    public var sha256: String
    /// JSON object of figures (escape rate, recall per kind, ...).
    public var metrics: String
    public var status: Status
    public var parentId: Int64?
    public var createdAt: Double
    public var dataHash: String?
    public var notes: String
    public var promotedAt: Double?
    public var promotedBy: String?
    /// JSON array of the defect kinds a stage-2 model knows (nil for stage 1); `knownKinds` decodes it.
    public var kinds: String?
    /// The product whose model set it belongs to: '' for the `[models]` set, else a
    /// `[[products]]` id. Each product has its own champion per stage.
    public var product = ""

    /// The defect kinds a stage-2 model knows, as registered.
    public var knownKinds: [String]? {
        kinds.flatMap { try? JSONDecoder().decode([String].self, from: Data($0.utf8)) }
    }

    public init(version: String, stage: Int, file: String, sha256: String, metrics: String, status: Status,
                parentId: Int64?, createdAt: Double, dataHash: String?, notes: String) {
        (self.version, self.stage, self.file, self.sha256, self.metrics, self.status) = (version, stage, file, sha256, metrics, status)
        (self.parentId, self.createdAt, self.dataHash, self.notes) = (parentId, createdAt, dataHash, notes)
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }

    enum CodingKeys: String, CodingKey {
        case id, version, stage, file, sha256, metrics, status, notes
        case parentId = "parent_id", createdAt = "created_at", dataHash = "data_hash"
        case promotedAt = "promoted_at", promotedBy = "promoted_by", kinds, product
    }
}

extension Store {
    /// Adds a model version (idempotent for the same file hash); returns its record.
    @discardableResult
    public func registerModel(stage: Int, file: String, sha256: String, metrics: [String: Double], parent: String?,
                              dataHash: String?, notes: String, status: ModelRecord.Status = .candidate, kinds: [String]? = nil,
                              product: String = "", now: Double = Date().timeIntervalSince1970) throws -> ModelRecord {
        try pool.write { db in
            let version = String(sha256.prefix(12))
            if let existing = try ModelRecord.filter(Column("version") == version).fetchOne(db) {
                guard existing.product == product else {
                    throw StoreError.conflict("model \(version) is already registered for \(Self.productName(existing.product)); a version belongs to one product's set (train or retrain it for \(Self.productName(product)) to get its own)")
                }
                return existing
            }
            let parentId = try parent.flatMap { try ModelRecord.filter(Column("version") == $0 && Column("product") == product).fetchOne(db)?.id }
            let json = String(decoding: try JSONSerialization.data(withJSONObject: metrics, options: [.sortedKeys]), as: UTF8.self)
            var r = ModelRecord(version: version, stage: stage, file: file, sha256: sha256, metrics: json, status: status,
                                parentId: parentId, createdAt: now, dataHash: dataHash, notes: notes)
            r.kinds = try kinds.map { String(decoding: try JSONEncoder().encode($0), as: UTF8.self) }
            r.product = product
            try r.insert(db)
            return r
        }
    }

    /// How messages name a registry product: '' is the `[models]` set.
    public static func productName(_ product: String) -> String { product.isEmpty ? "the [models] set" : "product '\(product)'" }

    /// Registered versions, newest first; `product` nil: every product's.
    public func models(stage: Int? = nil, product: String? = nil) throws -> [ModelRecord] {
        try pool.read { db in
            var q = ModelRecord.all()
            if let stage { q = q.filter(Column("stage") == stage) }
            if let product { q = q.filter(Column("product") == product) }
            return try q.order(Column("created_at").desc, Column("id").desc).fetchAll(db)
        }
    }

    public func model(version: String) throws -> ModelRecord? {
        try pool.read { db in
            try ModelRecord.filter(Column("version") == version).fetchOne(db)
                ?? ModelRecord.filter(Column("version").like(version + "%")).fetchAll(db).only
        }
    }

    /// The live version of `product`'s stage ('' the `[models]` set).
    public func champion(stage: Int, product: String = "") throws -> ModelRecord? {
        try pool.read { db in
            try ModelRecord.filter(Column("stage") == stage && Column("status") == "champion" && Column("product") == product).fetchOne(db)
        }
    }

    /// Makes `version` the champion of its stage in its product's set; that set's previous
    /// champion is retired. One transaction.
    public func promote(version: String, by who: String, now: Double = Date().timeIntervalSince1970) throws -> (new: ModelRecord, old: ModelRecord?) {
        try pool.write { db in
            guard var m = try ModelRecord.filter(Column("version") == version).fetchOne(db) else {
                throw StoreError.notFound("model version \(version)")
            }
            var old = try ModelRecord.filter(Column("stage") == m.stage && Column("status") == "champion" && Column("product") == m.product).fetchOne(db)
            if old?.id == m.id { return (m, nil) }
            if var o = old {
                o.status = .retired
                try o.update(db)
                old = o
            }
            m.status = .champion
            m.promotedAt = now
            m.promotedBy = who
            try m.update(db)
            return (m, old)
        }
    }

    /// The champion before the current one, for `models rollback`.
    public func previousChampion(stage: Int, product: String = "") throws -> ModelRecord? {
        try pool.read { db in
            try ModelRecord.filter(Column("stage") == stage && Column("status") == "retired" && Column("promoted_at") != nil && Column("product") == product)
                .order(Column("promoted_at").desc).fetchOne(db)
        }
    }

    public func setStatus(version: String, _ status: ModelRecord.Status) throws {
        try pool.write { db in
            try db.execute(sql: "UPDATE models SET status = ? WHERE version = ?", arguments: [status.rawValue, version])
        }
    }

    /// Records a retraining run and its outcome.
    @discardableResult
    public func recordTrainingRun(startedAt: Double, finishedAt: Double, status: String, champion: String?, challenger: String?,
                                  dataHash: String?, report: [String: Any]) throws -> Int64 {
        try pool.write { db in
            let json = String(decoding: try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys]), as: UTF8.self)
            let champ = try champion.flatMap { try ModelRecord.filter(Column("version") == $0).fetchOne(db)?.id }
            let chall = try challenger.flatMap { try ModelRecord.filter(Column("version") == $0).fetchOne(db)?.id }
            try db.execute(sql: """
                INSERT INTO training_runs(started_at, finished_at, status, champion_id, challenger_id, data_hash, report)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """, arguments: [startedAt, finishedAt, status, champ, chall, dataHash, json])
            return db.lastInsertedRowID
        }
    }
}

extension Array {
    /// The single element, or nil when there are none or several.
    var only: Element? { count == 1 ? first : nil }
}
