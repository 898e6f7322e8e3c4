import Foundation
import Store

/// What `linesight stats --by` groups on. `station` reads the rows' `camera` field, which
/// holds the station in part rollups (`Store.partRollups`).
public enum Grouping: String, CaseIterable, Sendable {
    case hour, day, week, shift, camera, station, model, product, total
}

/// The figures of one group (a period, a camera, a model version, or everything).
public struct StatsRow: Equatable, Sendable {
    public var key: String
    /// Parts inspected: every frame that got a verdict row (no-verdicts included).
    public var parts = 0
    public var passes = 0
    public var fails = 0
    public var noVerdicts = 0
    public var flagged = 0
    /// Fails and no-verdicts that a person reviewed and labeled good.
    public var recovered = 0
    /// Defect kind -> parts the model failed for it (a part may carry several).
    public var defects: [String: Int] = [:]

    public init(key: String) { self.key = key }

    /// Good parts out of parts inspected, after review: passes plus fails overturned as good.
    public var yield: Double? { parts == 0 ? nil : Double(passes + recovered) / Double(parts) }
    /// Parts that passed the automatic inspection the first time, of parts inspected.
    public var firstPassYield: Double? { parts == 0 ? nil : Double(passes) / Double(parts) }
    public var failRate: Double? { parts == 0 ? nil : Double(fails) / Double(parts) }
    public func rate(_ kind: String) -> Double? { parts == 0 ? nil : Double(defects[kind] ?? 0) / Double(parts) }

    mutating func add(_ r: RollupRow) {
        parts += r.frames
        passes += r.passes
        fails += r.fails
        noVerdicts += r.noVerdicts
        flagged += r.flagged
        for (k, n) in r.defects { defects[k, default: 0] += n }
    }
}

/// One bar of a Pareto chart.
public struct ParetoEntry: Equatable, Sendable {
    public var kind: String
    public var count: Int
    /// Of all defect counts, 0...1.
    public var share: Double
    public var cumulative: Double
}

/// Statistics over a time range: one row per group, the total, and the Pareto of defects.
public struct StatsReport: Sendable {
    public var grouping: Grouping
    public var since: Double?
    public var until: Double?
    public var rows: [StatsRow]
    public var total: StatsRow
    /// Every defect kind seen, most frequent first.
    public var kinds: [String]
    public var pareto: [ParetoEntry]

    /// Groups `rollups` (hourly, per camera, model and product). `recovered` are the times,
    /// cameras, models and products of failed verdicts a person labeled good.
    public init(rollups: [RollupRow], recovered: [(time: Double, camera: String, model: String, product: String)] = [],
                by grouping: Grouping, schedule: ShiftSchedule, since: Double? = nil, until: Double? = nil) {
        self.grouping = grouping
        self.since = since
        self.until = until
        let periods = Periods(timeZone: schedule.timeZone)
        func key(hour: Int64, camera: String, model: String, product: String) -> String {
            switch grouping {
            case .hour: periods.label(hour: hour, "hour", periods.hour)
            case .day: periods.label(hour: hour, "day", periods.day)
            case .week: periods.label(hour: hour, "week", periods.week)
            case .shift: periods.label(hour: hour, "shift") { schedule.label($0, periods) }
            case .camera, .station: camera
            case .model: model.isEmpty ? "(unknown)" : model
            case .product: product.isEmpty ? "(none)" : product
            case .total: "total"
            }
        }
        var groups: [String: StatsRow] = [:]
        var total = StatsRow(key: "total")
        for r in rollups {
            let k = key(hour: r.hour, camera: r.camera, model: r.model, product: r.product)
            groups[k, default: StatsRow(key: k)].add(r)
            total.add(r)
        }
        for r in recovered {
            let k = key(hour: Int64((r.time / 3600).rounded(.down)), camera: r.camera, model: r.model, product: r.product)
            groups[k]?.recovered += 1
            total.recovered += 1
        }
        self.rows = groups.values.sorted { $0.key < $1.key }
        self.total = total
        let all = total.defects.values.reduce(0, +)
        kinds = total.defects.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.map(\.key)
        var running = 0
        pareto = kinds.map { kind in
            let n = total.defects[kind]!
            running += n
            return ParetoEntry(kind: kind, count: n, share: Double(n) / Double(all), cumulative: Double(running) / Double(all))
        }
    }
}
