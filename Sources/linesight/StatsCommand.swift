import ArgumentParser
import Config
import Foundation
import Inspection
import Reports
import Store

/// The database a read-only command works on, from the line config.
struct StoreOptions: ParsableArguments {
    @Option(help: "The line config (its database, shifts and time zone).") var config: String = "/etc/linesight/linesight.toml"

    func open() throws -> (LineConfig, Store) {
        let (file, store) = try openFile()
        return (file.line, store)
    }

    /// The whole config file (the shifts too) and the store.
    func openFile() throws -> (ConfigFile, Store) {
        let file = try ConfigFile.forCommand(path: config)
        guard FileManager.default.fileExists(atPath: file.line.database) else {
            throw CommandFailure("no database at \(file.line.database) yet: `linesight serve` creates it with the first verdict")
        }
        return (file, try Store(path: file.line.database, quickCheck: false, migrate: false))
    }
}

/// --since / --until: a date or date-time in the stats time zone, "now", or an age such as 7d, 12h, 30m.
struct TimeRange: ParsableArguments {
    @Option(help: "Start: YYYY-MM-DD, 'YYYY-MM-DD HH:MM', or an age such as 7d, 24h (default: 7d).") var since: String = "7d"
    @Option(help: "End (exclusive), same forms (default: now).") var until: String = "now"

    func resolve(_ zone: TimeZone, now: Double = Date().timeIntervalSince1970) throws -> (Double, Double) {
        let s = try Self.parse(since, zone, now: now, option: "--since"), u = try Self.parse(until, zone, now: now, option: "--until")
        guard s < u else { throw ValidationError("--since must be before --until") }
        return (s, u)
    }

    static func parse(_ text: String, _ zone: TimeZone, now: Double, option: String) throws -> Double {
        if text == "now" { return now }
        if let unit = text.last, let n = Double(text.dropLast()), n >= 0, let seconds = ["m": 60.0, "h": 3600, "d": 86400, "w": 604_800][String(unit)] {
            return now - n * seconds
        }
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = zone
        for format in ["yyyy-MM-dd", "yyyy-MM-dd HH:mm", "yyyy-MM-dd'T'HH:mm", "yyyy-MM-dd'T'HH:mm:ss"] {
            f.dateFormat = format
            if let d = f.date(from: text) { return d.timeIntervalSince1970 }
        }
        throw ValidationError("\(option) '\(text)': expected YYYY-MM-DD, 'YYYY-MM-DD HH:MM', now, or an age such as 7d, 24h, 30m")
    }
}

extension Grouping: ExpressibleByArgument {}

/// What `linesight stats` counts.
enum StatsUnit: String, CaseIterable, ExpressibleByArgument {
    /// Parts decided at stations (one trigger, all its views).
    case parts
    /// Frames judged (free-running cameras, or a station's frames one by one).
    case frames
}
extension StatsFormat: ExpressibleByArgument {}
extension Chart: ExpressibleByArgument {}

struct StatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Defect statistics: yield, fails, defect rates, Pareto, control charts, and the model as a gauge.",
        discussion: """
        Answers from hourly rollups, so any history is fast, and reads while the daemon writes.
          # the last 7 days by day, as a table
          linesight stats
          # per shift (shifts from [stats] in the config)
          linesight stats --by shift --since 2026-11-01
          # per camera, as CSV for a spreadsheet
          linesight stats --by camera --format csv > cams.csv
          # a p-chart with 3-sigma limits
          linesight stats --by day --plot pchart --out pchart.svg
          # which defects cost the most parts
          linesight stats --plot pareto --out pareto.png
          # model vs human labels: miss, false alarm, kappa
          linesight stats agreement --since 30d
          # on a line with stations: parts per station, or the frames behind them
          linesight stats --by station
          linesight stats --unit frames --by camera
          # several products on one line ([[products]]): each product's figures
          linesight stats --by product
        On a line with [[stations]] the figures count parts (a part fails if any view fails; \
        its defects read view:kind), else frames. Yield counts passes plus fails a person \
        labeled good (frames); first-pass yield counts passes only. Both are of all parts \
        inspected, no-verdicts included.
        """,
        subcommands: [Summary.self, Agreement.self], defaultSubcommand: Summary.self)

    struct Summary: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Parts, yields, fails and defect rates per period, camera, model or product; charts.")
        @OptionGroup var options: StoreOptions
        @OptionGroup var range: TimeRange
        @Option(help: "Group by \(Grouping.allCases.map(\.rawValue).joined(separator: "|")).") var by: Grouping = .day
        @Option(help: "table|csv|json") var format: StatsFormat = .table
        @Option(help: "Count parts or frames (default: parts when the config has [[stations]], else frames).") var unit: StatsUnit?
        @Option(help: "Only this camera (frames).") var camera: String?
        @Option(help: "Only this station (parts).") var station: String?
        @Option(help: "Draw a chart: pareto|trend|pchart (trend and pchart need --by hour|day|week|shift).") var plot: Chart?
        @Option(help: "The chart file: .svg or .png.") var out: String?
        @Option(help: "p-chart of one defect kind instead of all fails.") var defect: String?

        func validate() throws {
            if plot != nil {
                guard let out else { throw ValidationError("--plot needs --out FILE.svg or FILE.png") }
                guard out.hasSuffix(".svg") || out.hasSuffix(".png") else { throw ValidationError("--out must end in .svg or .png") }
            } else if out != nil { throw ValidationError("--out goes with --plot pareto|trend|pchart") }
        }

        func run() throws {
            let (cfg, store) = try options.openFile()
            let (since, until) = try range.resolve(cfg.shifts.timeZone)
            let parts = (unit ?? (cfg.line.stations.isEmpty ? .frames : .parts)) == .parts
            if let station, !cfg.line.stations.contains(where: { $0.id == station }) {
                throw ValidationError("--station \(station): the config has no such station (\(cfg.line.stations.map(\.id).joined(separator: ", ")))")
            }
            if unit == .parts, cfg.line.stations.isEmpty { throw ValidationError("--unit parts needs [[stations]] in the config (this line judges frames)") }
            if parts, let defect, !defect.contains(":") {
                throw ValidationError("--defect \(defect): parts name their defects view:kind (e.g. \(cfg.line.stations.first?.cameras.first ?? "top"):\(defect))")
            }
            if parts, camera != nil { throw ValidationError("--camera counts frames: add --unit frames, or give --station") }
            if !parts, station != nil { throw ValidationError("--station counts parts: drop --unit frames") }
            if parts, by == .camera || by == .model || by == .product {
                throw ValidationError("--by \(by.rawValue) counts frames (a part spans cameras and has no one model): --by station, or --unit frames")
            }
            if !parts, by == .station, cfg.line.stations.isEmpty { throw ValidationError("--by station needs [[stations]] in the config") }
            var rollups: [RollupRow]
            var recovered: [(time: Double, camera: String, model: String, product: String)] = []
            if parts {
                rollups = try store.partRollups(since: since, until: until, station: station)
            } else {
                rollups = try store.rollups(since: since, until: until, camera: camera)
                recovered = try store.labeledVerdicts(since: since, until: until)
                    .filter { $0.decision != .pass && $0.humanDefects.isEmpty && (camera == nil || $0.camera == camera) }
                    .map { (time: $0.capturedAt, camera: $0.camera, model: $0.model, product: $0.product) }
                if by == .station {  // a camera's frames under its station
                    func station(_ camera: String) -> String { cfg.line.station(of: camera)?.id ?? "(free-running)" }
                    rollups = rollups.map { var r = $0; r.camera = station(r.camera); return r }
                    recovered = recovered.map { ($0.time, station($0.camera), $0.model, $0.product) }
                }
            }
            let report = StatsReport(rollups: rollups, recovered: recovered, by: by, schedule: cfg.shifts, since: since, until: until)
            if let plot, let out {
                do {
                    if out.hasSuffix(".svg") {
                        let canvas = SVGCanvas(width: 960, height: 540)
                        try report.draw(plot, on: canvas, defect: defect)
                        try Data(canvas.document.utf8).write(to: URL(fileURLWithPath: out), options: .atomic)
                    } else {
                        let canvas = RasterCanvas(width: 960, height: 540)
                        try report.draw(plot, on: canvas, defect: defect)
                        try canvas.png.write(to: URL(fileURLWithPath: out), options: .atomic)
                    }
                } catch let e as ReportsError {
                    throw CommandFailure("\(e)")
                } catch {
                    throw CommandFailure("cannot write \(out): \(error.localizedDescription)")
                }
                if plot == .pchart {
                    let chart = report.pChart(defect: defect)
                    let out = chart.points.filter(\.outOfControl)
                    var listed = out.prefix(12).map { "\($0.label) (rule \($0.rules.map(String.init).joined(separator: ",")))" }.joined(separator: ", ")
                    if out.count > 12 { listed += ", and \(out.count - 12) more" }
                    FileHandle.standardError.write(Data(String(format: "p-bar %.3f%%, %d of %d points out of control%@\n", chart.center * 100, out.count,
                                                               chart.points.count, out.isEmpty ? "" : ": " + listed).utf8))
                }
                print("wrote \(out)")
                return
            }
            print(report.render(format), terminator: "")
            if format == .table {
                let drift = try store.driftSamples(since: since, until: until, camera: camera)
                if let last = drift.last {
                    print("input drift: \(drift.count) sample\(drift.count == 1 ? "" : "s") flagged for review (cameras \(Set(drift.map(\.camera)).sorted().joined(separator: ", "))); "
                          + "last \(utc(last.time)) on \(last.camera): \(last.note)")
                }
            }
            if format == .table, rollups.isEmpty {
                print("no \(parts ? "parts" : "verdicts") between \(Periods(timeZone: cfg.shifts.timeZone).hour(since)) and \(Periods(timeZone: cfg.shifts.timeZone).hour(until)) (\(cfg.shifts.timeZone.identifier))")
            }
        }
    }

    struct Agreement: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The model as an attribute gauge: its verdicts against human labels.",
            discussion: """
            Per model version and defect kind: miss rate (defective parts passed), false-alarm \
            rate (good parts failed), effectiveness, Cohen's kappa, and the AIAG verdict \
            (acceptable: effectiveness >= 90%, miss <= 2%, false alarm <= 5%; marginal: 80%, 5%, 10%). \
            The escape rate comes from the audit sample (random confident passes), with its 95% \
            Wilson interval.
            """)
        @OptionGroup var options: StoreOptions
        @OptionGroup var range: TimeRange
        @Flag(help: "JSON instead of a table.") var json = false

        func run() throws {
            let (cfg, store) = try options.openFile()
            let (since, until) = try range.resolve(cfg.shifts.timeZone)
            let report = AgreementReport(try store.labeledVerdicts(since: since, until: until))
            print(json ? report.json() : report.table(), terminator: "")
        }
    }
}
