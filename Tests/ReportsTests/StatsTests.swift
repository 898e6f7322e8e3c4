import Foundation
import TestSupport
import Testing
@testable import Reports
import Store

let utc = TimeZone(identifier: "UTC")!
/// 2026-11-02 00:00 UTC, a Monday.
let monday = 1_793_577_600.0

/// A seeded week of rollups: two cameras, two models, three defect kinds, and a bad
/// Thursday afternoon on cam2.
func seededRollups() -> [RollupRow] {
    var rows: [RollupRow] = []
    var rng = SplitMix64(seed: 7)
    for day in 0..<7 {
        for hour in stride(from: 0, to: 24, by: 2) {
            for camera in ["cam1", "cam2"] {
                let h = Int64(monday / 3600) + Int64(day * 24 + hour)
                let model = day < 4 ? "s1-v1" : "s1-v2"
                let bad = day == 3 && camera == "cam2" && (12..<18).contains(hour)
                let frames = 900 + Int(rng.uint64() % 200)
                let fails = bad ? 90 + Int(rng.uint64() % 20) : 20 + Int(rng.uint64() % 15)
                let noVerdicts = Int(rng.uint64() % 3)
                let scratch = fails * 6 / 10, dent = fails * 3 / 10, stain = fails - scratch - dent + (bad ? 5 : 0)
                rows.append(RollupRow(hour: h, camera: camera, model: model, frames: frames, passes: frames - fails - noVerdicts,
                                      fails: fails, noVerdicts: noVerdicts, flagged: fails / 4 + noVerdicts, totalMsSum: Double(frames) * 3,
                                      defects: ["scratch": scratch, "dent": dent, "stain": stain]))
            }
        }
    }
    return rows
}


func golden(_ name: String, _ text: String) throws {
    let mismatch = try Golden.mismatch(text, name, besides: #filePath)
    #expect(mismatch == nil, "\(mismatch ?? "")")
}

@Suite("Statistics")
struct StatsTests {
    @Test func shiftsCoverTheDayAndTheNightShiftBelongsToItsFirstDate() throws {
        let s = ShiftSchedule.standard(timeZone: utc)
        let p = Periods(timeZone: utc)
        #expect(s.label(monday + 5 * 3600, p) == "2026-11-01 night", "05:00 Monday is Sunday's night shift")
        #expect(s.label(monday + 6 * 3600, p) == "2026-11-02 early")
        #expect(s.label(monday + 23 * 3600, p) == "2026-11-02 night")
        let berlin = ShiftSchedule.standard(timeZone: TimeZone(identifier: "Europe/Berlin")!)
        #expect(berlin.label(monday + 5 * 3600, Periods(timeZone: berlin.timeZone)) == "2026-11-02 early", "06:00 in Berlin")
        #expect(throws: ReportsError.self) { try ShiftSchedule([Shift(name: "a", start: "06:00", end: "15:00"), Shift(name: "b", start: "14:00", end: "22:00")]) }
        #expect(throws: ReportsError.self) { try Shift(name: "a", start: "06:30", end: "14:00") }
        #expect(throws: ReportsError.self) { try Shift(name: "a", start: "6", end: "14:00") }
        let gap = try ShiftSchedule([Shift(name: "day", start: "08:00", end: "16:00")], timeZone: utc)
        #expect(gap.label(monday + 3 * 3600, p) == "2026-11-02 (no shift)")
    }

    @Test func theShiftWindowOfAnInstantStartsWhereItsShiftStarted() throws {
        let s = ShiftSchedule.standard(timeZone: utc)
        let night = try #require(s.window(at: monday + 5 * 3600))
        #expect(night.name == "night" && night.start == monday - 2 * 3600 && night.end == monday + 6 * 3600, "Sunday 22:00 to Monday 06:00")
        let early = try #require(s.window(at: monday + 6 * 3600))
        #expect(early.name == "early" && early.start == monday + 6 * 3600 && early.end == monday + 14 * 3600)
        let berlin = ShiftSchedule.standard(timeZone: TimeZone(identifier: "Europe/Berlin")!)
        #expect(berlin.window(at: monday + 5 * 3600)?.start == monday + 5 * 3600, "06:00 in Berlin is 05:00 UTC in November")
        // 2026-10-25, the clocks go back at 03:00 in Berlin: the night shift from Saturday 22:00
        // (20:00 UTC) ends at 06:00 (05:00 UTC), nine hours later
        let dst = try #require(berlin.window(at: 1_792_886_400))  // 2026-10-25 00:00 UTC, 02:00 summer time
        #expect(dst.name == "night" && dst.start == 1_792_872_000 && dst.end == 1_792_904_400, "\(dst)")
        let gap = try ShiftSchedule([Shift(name: "day", start: "08:00", end: "16:00")], timeZone: utc)
        #expect(gap.window(at: monday + 3 * 3600) == nil)
    }

    @Test func periodsAreLocalAndWeeksAreISO() {
        let p = Periods(timeZone: utc)
        #expect(p.week(monday) == "2026-W45")
        #expect(p.week(monday - 1) == "2026-W44", "Sunday belongs to the week before")
        #expect(Periods(timeZone: TimeZone(identifier: "America/New_York")!).day(monday + 3600) == "2026-11-01")
    }

    @Test func groupsAddUpToTheTotalAndYieldsAreDefinedAsDocumented() {
        let rows = seededRollups()
        for by in Grouping.allCases {
            let r = StatsReport(rollups: rows, by: by, schedule: .standard(timeZone: utc))
            #expect(r.rows.reduce(0) { $0 + $1.parts } == r.total.parts, "\(by)")
            #expect(r.rows.reduce(0) { $0 + $1.fails } == r.total.fails, "\(by)")
        }
        let byDay = StatsReport(rollups: rows, by: .day, schedule: .standard(timeZone: utc))
        #expect(byDay.rows.map(\.key) == (2...8).map { String(format: "2026-11-%02d", $0) })
        let byModel = StatsReport(rollups: rows, recovered: [(monday + 100, "cam1", "s1-v1", "")], by: .model, schedule: .standard(timeZone: utc))
        #expect(byModel.rows.map(\.key) == ["s1-v1", "s1-v2"])
        let v1 = byModel.rows[0]
        #expect(v1.recovered == 1)
        #expect(v1.firstPassYield == Double(v1.passes) / Double(v1.parts))
        #expect(v1.yield == Double(v1.passes + 1) / Double(v1.parts))
        let t = byModel.total
        #expect(byModel.pareto.map(\.kind) == ["scratch", "dent", "stain"])
        #expect(byModel.pareto.last!.cumulative == 1)
        #expect(byModel.pareto[0].count == t.defects["scratch"])
    }

    @Test func byProductGroupsEachProductsRowsAndItsRecoveredParts() {
        var rows = seededRollups()
        for i in rows.indices { rows[i].product = i % 3 == 0 ? "bracket-a" : i % 3 == 1 ? "bracket-b" : "" }
        let r = StatsReport(rollups: rows, recovered: [(monday + 100, "cam1", "s1-v1", "bracket-b")], by: .product, schedule: .standard(timeZone: utc))
        #expect(r.rows.map(\.key) == ["(none)", "bracket-a", "bracket-b"])
        #expect(r.rows.reduce(0) { $0 + $1.parts } == r.total.parts)
        #expect(r.rows[0].parts == rows.indices.filter { $0 % 3 == 2 }.map { rows[$0].frames }.reduce(0, +))
        #expect(r.rows[2].recovered == 1 && r.rows[1].recovered == 0)
    }

    @Test func tableCSVAndJSONMatchTheGoldenFiles() throws {
        let rows = seededRollups()
        let byDay = StatsReport(rollups: rows, recovered: [(monday + 100, "cam1", "s1-v1", "")], by: .day, schedule: .standard(timeZone: utc),
                                since: monday, until: monday + 7 * 86400)
        try golden("by-day.txt", byDay.render(.table))
        try golden("by-day.csv", byDay.render(.csv))
        try golden("by-day.json", byDay.render(.json))
        let byShift = StatsReport(rollups: rows, by: .shift, schedule: .standard(timeZone: utc))
        try golden("by-shift.csv", byShift.render(.csv))
        let byCamera = StatsReport(rollups: rows, by: .camera, schedule: .standard(timeZone: utc))
        try golden("by-camera.txt", byCamera.render(.table))
        // The CSV parses back to the same numbers.
        let lines = byDay.render(.csv).split(separator: "\n").map { $0.split(separator: ",").map(String.init) }
        #expect(lines.count == 1 + 7 + 1)
        #expect(lines.last![0] == "total" && Int(lines.last![1]) == byDay.total.parts)
        let json = try JSONSerialization.jsonObject(with: Data(byDay.render(.json).utf8)) as! [String: Any]
        #expect((json["groups"] as! [Any]).count == 7)
        #expect((json["total"] as! [String: Any])["fails"] as? Int == byDay.total.fails)
    }
}
