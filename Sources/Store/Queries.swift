import Foundation
import GRDB

/// Which verdicts a reader wants, newest first, one page at a time.
public struct VerdictQuery: Equatable, Sendable {
    public var camera: String?
    public var decision: Decision?
    public var since: Double?
    public var until: Double?
    public var flaggedOnly = false
    /// Page below this id (the previous page's `nextBefore`).
    public var before: Int64?
    public var limit = 100
    public init() {}
}

/// Totals over a time range, from the hourly rollups (fast on any history).
public struct RangeStats: Encodable, Equatable, Sendable {
    public var frames = 0
    public var passes = 0
    public var fails = 0
    public var noVerdicts = 0
    public var flagged = 0
    public var defects: [String: Int] = [:]
    public var yield: Double? { frames == 0 ? nil : Double(passes) / Double(frames) }

    enum CodingKeys: String, CodingKey { case frames, passes, fails, noVerdicts = "no_verdicts", flagged, defects, yield }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(frames, forKey: .frames)
        try c.encode(passes, forKey: .passes)
        try c.encode(fails, forKey: .fails)
        try c.encode(noVerdicts, forKey: .noVerdicts)
        try c.encode(flagged, forKey: .flagged)
        try c.encode(defects, forKey: .defects)
        try c.encode(yield, forKey: .yield)
    }
}

extension Store {
    /// A page of verdicts and the id to ask for the next page with (nil at the end).
    public func verdicts(_ q: VerdictQuery) throws -> (items: [VerdictRecord], nextBefore: Int64?) {
        try pool.read { db in
            var request = VerdictRecord.all()
            if let c = q.camera { request = request.filter(Column("camera_id") == c) }
            if let d = q.decision { request = request.filter(Column("decision") == d.rawValue) }
            if let s = q.since { request = request.filter(Column("captured_at") >= s) }
            if let u = q.until { request = request.filter(Column("captured_at") < u) }
            if q.flaggedOnly { request = request.filter(Column("flags") != "") }
            if let b = q.before { request = request.filter(Column("id") < b) }
            let limit = max(1, min(q.limit, 1000))
            let items = try request.order(Column("id").desc).limit(limit + 1).fetchAll(db)
            let page = Array(items.prefix(limit))
            return (page, items.count > limit ? page.last?.id : nil)
        }
    }

    /// Totals from the hourly rollups for hours starting in [since, until).
    public func rangeStats(camera: String? = nil, since: Double? = nil, until: Double? = nil) throws -> RangeStats {
        try pool.read { db in
            var sql = "SELECT frames, passes, fails, no_verdicts, flagged, defects FROM hourly_rollups WHERE 1"
            var args: [DatabaseValueConvertible] = []
            if let camera { sql += " AND camera_id = ?"; args.append(camera) }
            if let since { sql += " AND hour >= ?"; args.append(Int64((since / 3600).rounded(.down))) }
            if let until { sql += " AND hour < ?"; args.append(Int64((until / 3600).rounded(.up))) }
            var s = RangeStats()
            for row in try Row.fetchAll(db, sql: sql, arguments: StatementArguments(args)) {
                s.frames += row[0] as Int
                s.passes += row[1] as Int
                s.fails += row[2] as Int
                s.noVerdicts += row[3] as Int
                s.flagged += row[4] as Int
                let kinds = (try? JSONDecoder().decode([String: Int].self, from: Data((row[5] as String).utf8))) ?? [:]
                for (k, n) in kinds { s.defects[k, default: 0] += n }
            }
            return s
        }
    }

    /// A saved frame by id, unless retention deleted it.
    public func frame(id: Int64) throws -> FrameRecord? {
        try pool.read { db in try FrameRecord.filter(Column("id") == id && Column("deleted_at") == nil).fetchOne(db) }
    }
}
