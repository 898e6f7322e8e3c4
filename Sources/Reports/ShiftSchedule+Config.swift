import Config
import Foundation

extension ShiftSchedule {
    /// The [stats] section of the line config: `timezone` (default: the machine's) and the
    /// [[stats.shifts]] tables (name, start, end as "HH:MM"); the standard three shifts when
    /// none is given. Errors name the file, line and key.
    public static func read(_ stats: ConfigSection) throws -> ShiftSchedule {
        var zone = TimeZone.current
        if let name = try stats.optionalString("timezone") {
            guard let z = TimeZone(identifier: name) else { throw stats.bad("timezone", "'\(name)' is not a time zone name (e.g. Europe/Berlin, UTC)") }
            zone = z
        }
        let tables = try stats.sections("shifts")
        guard !tables.isEmpty else { return .standard(timeZone: zone) }
        var shifts: [Shift] = []
        for t in tables {
            let name = try t.string("name", default: "")
            do { shifts.append(try Shift(name: name, start: try t.string("start", default: ""), end: try t.string("end", default: ""))) }
            catch let e as ReportsError { throw t.bad("start", e.description) }
        }
        do { return try ShiftSchedule(shifts, timeZone: zone) } catch let e as ReportsError { throw stats.bad("shifts", e.description) }
    }
}
