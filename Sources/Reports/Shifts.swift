import Foundation

/// A named working shift in local time, e.g. "early" 06:00-14:00. A shift whose end is
/// before its start runs past midnight and belongs to the date it started.
public struct Shift: Equatable, Sendable {
    public var name: String
    /// Minutes after local midnight.
    public var start: Int
    public var end: Int

    /// `start` and `end` as "HH:MM" on whole hours (statistics are kept per hour).
    public init(name: String, start: String, end: String) throws {
        guard !name.isEmpty else { throw ReportsError.badShift("a shift needs a name") }
        self.name = name
        self.start = try Self.minutes(start, of: name)
        self.end = try Self.minutes(end, of: name)
        guard self.start != self.end else { throw ReportsError.badShift("'\(name)' starts and ends at \(start)") }
    }

    static func minutes(_ text: String, of name: String) throws -> Int {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, parts.allSatisfy({ $0.count == 2 }), let h = Int(parts[0]), let m = Int(parts[1]),
              (0...24).contains(h), (0...59).contains(m), h * 60 + m <= 24 * 60 else {
            throw ReportsError.badShift("'\(name)': '\(text)' is not a time of day HH:MM")
        }
        guard m == 0 else { throw ReportsError.badShift("'\(name)': \(text) is not on a whole hour (statistics are kept per hour)") }
        return (h * 60) % (24 * 60)
    }

    /// Whether the minute of the day falls in this shift, and whether it does so on the
    /// day after the shift started (the part past midnight).
    func contains(_ minute: Int) -> (inside: Bool, nextDay: Bool) {
        if start < end { return (minute >= start && minute < end, false) }
        if minute >= start { return (true, false) }
        return (minute < end, true)
    }
}

/// The shifts of a line, checked to not overlap.
public struct ShiftSchedule: Equatable, Sendable {
    public var shifts: [Shift]
    public var timeZone: TimeZone

    public init(_ shifts: [Shift], timeZone: TimeZone = .current) throws {
        for hour in 0..<24 {
            let holders = shifts.filter { $0.contains(hour * 60).inside }
            if holders.count > 1 {
                throw ReportsError.badShift("\(holders.map(\.name).joined(separator: " and ")) overlap at \(String(format: "%02d:00", hour))")
            }
        }
        var names = Set<String>()
        for s in shifts where !names.insert(s.name).inserted { throw ReportsError.badShift("'\(s.name)' is defined twice") }
        self.shifts = shifts
        self.timeZone = timeZone
    }

    /// Three eight-hour shifts from 06:00, the schedule when the config names none.
    public static func standard(timeZone: TimeZone = .current) -> ShiftSchedule {
        // The literals are valid by construction.
        try! ShiftSchedule([Shift(name: "early", start: "06:00", end: "14:00"), Shift(name: "late", start: "14:00", end: "22:00"),
                            Shift(name: "night", start: "22:00", end: "06:00")], timeZone: timeZone)
    }

    /// The shift an instant falls in, and an instant of the day it started (nil in hours no
    /// shift covers), with the calendar of the schedule's time zone.
    private func locate(_ time: Double) -> (shift: Shift, day: Date, calendar: Calendar)? {
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = timeZone
        let date = Date(timeIntervalSince1970: time)
        let c = cal.dateComponents([.hour, .minute], from: date)
        let minute = (c.hour ?? 0) * 60 + (c.minute ?? 0)
        for s in shifts {
            let (inside, nextDay) = s.contains(minute)
            if inside { return (s, nextDay ? cal.date(byAdding: .day, value: -1, to: date)! : date, cal) }
        }
        return nil
    }

    /// The shift an instant falls in: its name and when it started and ends (seconds since
    /// 1970), or nil in hours no shift covers.
    public func window(at time: Double) -> (name: String, start: Double, end: Double)? {
        // wall-clock times on their dates (a shift on a day the clocks change is an hour shorter or longer)
        guard let (s, day, cal) = locate(time),
              let start = cal.date(bySettingHour: s.start / 60, minute: s.start % 60, second: 0, of: day),
              let endDay = cal.date(byAdding: .day, value: s.end <= s.start ? 1 : 0, to: day),
              let end = cal.date(bySettingHour: s.end / 60, minute: s.end % 60, second: 0, of: endDay) else { return nil }
        return (s.name, start.timeIntervalSince1970, end.timeIntervalSince1970)
    }

    /// "2026-11-29 early" for an instant; the date is the one the shift started on.
    /// Hours no shift covers read "2026-11-29 (no shift)".
    public func label(_ time: Double, _ periods: Periods) -> String {
        guard let (s, day, _) = locate(time) else { return periods.day(time) + " (no shift)" }
        return periods.day(day.timeIntervalSince1970) + " " + s.name
    }
}

/// Period labels in a time zone; they sort in time order as strings. Labels are cached
/// per hour, so labelling thousands of rollup rows costs a few formatter calls.
public final class Periods {
    public let timeZone: TimeZone
    private let hourFormat: DateFormatter
    private let dayFormat: DateFormatter
    private var iso = Calendar(identifier: .iso8601)
    private var cache: [String: [Int64: String]] = [:]

    public init(timeZone: TimeZone) {
        self.timeZone = timeZone
        hourFormat = Self.formatter("yyyy-MM-dd HH:00", timeZone)
        dayFormat = Self.formatter("yyyy-MM-dd", timeZone)
        iso.timeZone = timeZone
    }

    static func formatter(_ format: String, _ tz: TimeZone) -> DateFormatter {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.calendar = Calendar(identifier: .gregorian)
        f.timeZone = tz
        f.dateFormat = format
        return f
    }

    public func hour(_ t: Double) -> String { hourFormat.string(from: Date(timeIntervalSince1970: t)) }
    public func day(_ t: Double) -> String { dayFormat.string(from: Date(timeIntervalSince1970: t)) }
    /// ISO 8601 week, e.g. "2026-W48".
    public func week(_ t: Double) -> String {
        let c = iso.dateComponents([.yearForWeekOfYear, .weekOfYear], from: Date(timeIntervalSince1970: t))
        return String(format: "%04d-W%02d", c.yearForWeekOfYear ?? 0, c.weekOfYear ?? 0)
    }

    /// The label of the hour starting at `hour * 3600`, under `kind`, remembered.
    func label(hour: Int64, _ kind: String, _ make: (Double) -> String) -> String {
        if let s = cache[kind]?[hour] { return s }
        let s = make(Double(hour) * 3600)
        cache[kind, default: [:]][hour] = s
        return s
    }
}
