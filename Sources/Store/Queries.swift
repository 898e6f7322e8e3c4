import Foundation
import GRDB
import LinesightCore

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

/// One hour of one camera under one stage-1 model.
public struct RollupRow: Equatable, Sendable {
    /// Hours since the Unix epoch (UTC).
    public var hour: Int64
    public var camera: String
    /// The stage-1 model version ("" when unknown).
    public var model: String
    /// The product the line was making ("" when none was configured, or before v10).
    public var product: String = ""
    public var frames = 0
    public var passes = 0
    public var fails = 0
    public var noVerdicts = 0
    public var flagged = 0
    public var totalMsSum = 0.0
    public var defects: [String: Int] = [:]

    public init(hour: Int64, camera: String, model: String, frames: Int = 0, passes: Int = 0, fails: Int = 0,
                noVerdicts: Int = 0, flagged: Int = 0, totalMsSum: Double = 0, defects: [String: Int] = [:]) {
        self.hour = hour
        self.camera = camera
        self.model = model
        self.frames = frames
        self.passes = passes
        self.fails = fails
        self.noVerdicts = noVerdicts
        self.flagged = flagged
        self.totalMsSum = totalMsSum
        self.defects = defects
    }
}

struct RollupKey: Hashable {
    var hour: Int64
    var camera: String
    var model: String
    var product: String
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
        var s = RangeStats()
        for r in try rollups(since: since, until: until, camera: camera) {
            s.frames += r.frames
            s.passes += r.passes
            s.fails += r.fails
            s.noVerdicts += r.noVerdicts
            s.flagged += r.flagged
            for (k, n) in r.defects { s.defects[k, default: 0] += n }
        }
        return s
    }

    /// The hourly rollup rows for hours starting in [since, until), oldest first.
    public func rollups(since: Double? = nil, until: Double? = nil, camera: String? = nil) throws -> [RollupRow] {
        try pool.read { db in
            var filter = "WHERE 1"
            var args: [DatabaseValueConvertible] = []
            if let since { filter += " AND hour >= ?"; args.append(Self.hour(since, .down)) }
            if let until { filter += " AND hour < ?"; args.append(Self.hour(until, .up)) }
            if let camera { filter += " AND camera_id = ?"; args.append(camera) }
            let arguments = StatementArguments(args) ?? StatementArguments()
            var rows: [RollupKey: RollupRow] = [:]
            var order: [RollupKey] = []
            let cursor = try Row.fetchCursor(db, sql: """
                SELECT hour, camera_id, model, frames, passes, fails, no_verdicts, flagged, total_ms_sum, product
                FROM rollups \(filter) ORDER BY hour, camera_id, model, product
                """, arguments: arguments)
            while let r = try cursor.next() {
                let key = RollupKey(hour: r[0], camera: r[1], model: r[2], product: r[9])
                order.append(key)
                rows[key] = RollupRow(hour: key.hour, camera: key.camera, model: key.model, frames: r[3], passes: r[4], fails: r[5],
                                      noVerdicts: r[6], flagged: r[7], totalMsSum: r[8])
                rows[key]?.product = key.product
            }
            let defects = try Row.fetchCursor(db, sql: "SELECT hour, camera_id, model, defect, count, product FROM rollup_defects \(filter)",
                                              arguments: arguments)
            while let r = try defects.next() {
                rows[RollupKey(hour: r[0], camera: r[1], model: r[2], product: r[5])]?.defects[r[3], default: 0] += r[4] as Int
            }
            return order.map { rows[$0]! }
        }
    }

    /// The hour (since the epoch) of a time in Unix seconds, clamped to what Int64 holds: a
    /// huge or infinite time once trapped the daemon (`since=1e300`). NaN counts as 0.
    static func hour(_ seconds: Double, _ rule: FloatingPointRoundingRule) -> Int64 {
        guard !seconds.isNaN else { return 0 }
        let h = (seconds / 3600).rounded(rule)
        if h >= 9.2e18 { return Int64.max }
        if h <= -9.2e18 { return Int64.min }
        return Int64(h)
    }

    /// The ids of every camera that ever wrote a verdict here, sorted.
    public func cameraIds() throws -> [String] {
        try pool.read { db in try String.fetchAll(db, sql: "SELECT id FROM cameras ORDER BY id") }
    }

    /// A saved frame by id, unless retention deleted it.
    public func frame(id: Int64) throws -> FrameRecord? {
        try pool.read { db in try FrameRecord.filter(Column("id") == id && Column("deleted_at") == nil).fetchOne(db) }
    }
}

extension Store {
    /// Frame verdicts captured in [since, until), by decision (read from the verdicts
    /// themselves, to the second, where `rangeStats` reads whole hours).
    public func verdictCounts(since: Double, until: Double) throws -> [Decision: Int] {
        try pool.read { db in
            var out: [Decision: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT decision, count(*) AS n FROM verdicts WHERE captured_at >= ? AND captured_at < ? GROUP BY decision",
                                        arguments: [since, until]) {
                if let d = Decision(rawValue: row["decision"]) { out[d] = row["n"] }
            }
            return out
        }
    }
}

extension Store {
    /// Frames the drift watch flagged as samples in a time range, oldest first: when, which
    /// camera, what it saw.
    public func driftSamples(since: Double, until: Double, camera: String? = nil) throws -> [(time: Double, camera: String, note: String)] {
        try pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT v.captured_at, v.camera_id, coalesce(f.note, '') FROM flags f JOIN verdicts v ON v.id = f.verdict_id
                WHERE f.reason = 'drift' AND v.captured_at >= ? AND v.captured_at < ? AND (?3 IS NULL OR v.camera_id = ?3)
                ORDER BY v.captured_at
                """, arguments: [since, until, camera]).map { (time: $0[0], camera: $0[1], note: $0[2]) }
        }
    }
}
