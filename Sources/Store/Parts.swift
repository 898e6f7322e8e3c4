import GRDB

extension Store {
    /// The id the next part gets: past every part stored and every part a stored frame names
    /// (a part's row comes after its frames: a crash between them must not reuse its id).
    public func nextPartId() throws -> Int64 {
        try pool.read { db in
            let parts = try Int64.fetchOne(db, sql: "SELECT max(id) FROM parts") ?? 0
            let frames = try Int64.fetchOne(db, sql: "SELECT max(part_id) FROM verdicts WHERE part_id IS NOT NULL") ?? 0
            return max(parts, frames) + 1
        }
    }

    /// The latest parts, newest first (at most `limit`, 1-1000), of one station or all, before
    /// part id `before` when given (paging).
    public func parts(station: String? = nil, before: Int64? = nil, limit: Int = 100) throws -> [PartRecord] {
        try pool.read { db in
            var request = PartRecord.all()
            if let station { request = request.filter(Column("station") == station) }
            if let before { request = request.filter(Column("id") < before) }
            return try request.order(Column("id").desc).limit(max(1, min(limit, 1000))).fetchAll(db)
        }
    }

    /// The frame verdicts taken for one part, in the order they were judged.
    public func verdicts(ofPart id: Int64) throws -> [VerdictRecord] {
        try verdicts(ofParts: [id])[id] ?? []
    }

    /// The frame verdicts of several parts at once (one query), by part, each in judging order.
    public func verdicts(ofParts ids: [Int64]) throws -> [Int64: [VerdictRecord]] {
        guard !ids.isEmpty else { return [:] }
        return try pool.read { db in
            Dictionary(grouping: try VerdictRecord.filter(ids.contains(Column("part_id"))).order(Column("id")).fetchAll(db),
                       by: { $0.partId ?? 0 })
        }
    }
}
