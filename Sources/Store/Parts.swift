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

/// Part counts over a time range (by trigger time): the part-level twin of `RangeStats`.
public struct PartRangeStats: Encodable, Equatable, Sendable {
    public var parts = 0
    public var passes = 0
    public var fails = 0
    public var noVerdicts = 0
    /// Failed parts per defect ("view:kind"); a part counts once per kind it showed.
    public var defects: [String: Int] = [:]
    /// Parts passed over parts decided, nil when there are none.
    public var yield: Double? { parts == 0 ? nil : Double(passes) / Double(parts) }

    public init() {}

    enum CodingKeys: String, CodingKey { case parts, passes, fails, noVerdicts = "no_verdicts", defects, yield }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(parts, forKey: .parts)
        try c.encode(passes, forKey: .passes)
        try c.encode(fails, forKey: .fails)
        try c.encode(noVerdicts, forKey: .noVerdicts)
        try c.encode(defects, forKey: .defects)
        try c.encode(yield, forKey: .yield)
    }
}

extension Store {
    /// WHERE clauses and arguments for parts of one station or all, triggered in [since, until).
    static func partFilter(station: String?, since: Double?, until: Double?) -> (clauses: [String], args: [any DatabaseValueConvertible]) {
        var clauses: [String] = [], args: [any DatabaseValueConvertible] = []
        if let station { clauses.append("station = ?"); args.append(station) }
        if let since { clauses.append("triggered_at >= ?"); args.append(since) }
        if let until { clauses.append("triggered_at < ?"); args.append(until) }
        return (clauses, args)
    }

    /// Part counts of one station or all, triggered in [since, until).
    public func partStats(station: String? = nil, since: Double? = nil, until: Double? = nil) throws -> PartRangeStats {
        try pool.read { db in
            let (clauses, args) = Self.partFilter(station: station, since: since, until: until)
            let filter = clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")
            var s = PartRangeStats()
            for row in try Row.fetchAll(db, sql: "SELECT decision, count(*) AS n FROM parts \(filter) GROUP BY decision", arguments: StatementArguments(args)) {
                let n: Int = row["n"]
                s.parts += n
                switch row["decision"] as String {
                case "pass": s.passes += n
                case "fail": s.fails += n
                default: s.noVerdicts += n
                }
            }
            let failing = (clauses + ["decision = 'fail'", "defects != ''"]).joined(separator: " AND ")
            for list in try String.fetchAll(db, sql: "SELECT defects FROM parts WHERE \(failing)", arguments: StatementArguments(args)) {
                for kind in Set(list.split(separator: ",").map(String.init)) { s.defects[kind, default: 0] += 1 }
            }
            return s
        }
    }
}

extension Store {
    /// The parts of [since, until) as hourly rows like the frame rollups, one per hour and
    /// station (`camera` holds the station, `frames` counts parts, `defects` counts failed
    /// parts per "view:kind" once each), so statistics and charts count parts.
    public func partRollups(since: Double? = nil, until: Double? = nil, station: String? = nil) throws -> [RollupRow] {
        try pool.read { db in
            let (clauses, args) = Self.partFilter(station: station, since: since, until: until)
            let filter = clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")
            var rows: [String: RollupRow] = [:]
            func key(_ hour: Int64, _ station: String) -> String { "\(hour) \(station)" }
            for r in try Row.fetchAll(db, sql: """
                SELECT CAST(triggered_at / 3600 AS INTEGER) AS hour, station, decision, count(*) AS n, sum(decided_ms) AS ms
                FROM parts \(filter) GROUP BY hour, station, decision
                """, arguments: StatementArguments(args)) {
                let (hour, st, n): (Int64, String, Int) = (r["hour"], r["station"], r["n"])
                var row = rows[key(hour, st)] ?? RollupRow(hour: hour, camera: st, model: "")
                row.frames += n
                row.totalMsSum += r["ms"] ?? 0
                switch r["decision"] as String {
                case "pass": row.passes += n
                case "fail": row.fails += n
                default: row.noVerdicts += n
                }
                rows[key(hour, st)] = row
            }
            let failing = (clauses + ["decision = 'fail'", "defects != ''"]).joined(separator: " AND ")
            for r in try Row.fetchAll(db, sql: "SELECT CAST(triggered_at / 3600 AS INTEGER) AS hour, station, defects FROM parts WHERE \(failing)",
                                      arguments: StatementArguments(args)) {
                let (hour, st, list): (Int64, String, String) = (r["hour"], r["station"], r["defects"])
                for kind in Set(list.split(separator: ",").map(String.init)) { rows[key(hour, st)]?.defects[kind, default: 0] += 1 }
            }
            return rows.values.sorted { ($0.hour, $0.camera) < ($1.hour, $1.camera) }
        }
    }
}
