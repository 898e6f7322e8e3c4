import Foundation
import Inspection
import LinesightCore
import LineIO
import Logging
import Reports
import Store

/// The operator's screen: the board of what to show, and once a second a status (counts for
/// the shift, the stack light, alarms) published on the live event stream; the page's own
/// requests get the status as it is (`status()`). `started` is read and written under
/// `tickLock`.
final class OperatorScreen: @unchecked Sendable {
    enum Light: String { case green, yellow, red }

    let settings: OperatorSettings
    let board: OperatorBoard
    private let inspection: InspectionService
    private let outputs: LineOutputs
    private let shifts: ShiftSchedule
    private let logger: Logger
    private let lock = NSLock()
    /// One tick at a time (a store read at a shift change must not race another tick).
    private let tickLock = NSLock()
    private var shiftName: String?
    private var started = false
    /// Active alarms last tick, and the recent changes (newest first).
    private var active: [String] = []
    private var history: [(time: Double, text: String, level: String)] = []
    private var models: (String, String?)?
    /// The product at the last tick (a changeover is noted on the screen).
    private var product: String?

    init(_ settings: OperatorSettings, inspection: InspectionService, outputs: LineOutputs, shifts: ShiftSchedule, logger: Logger) throws {
        self.settings = settings
        self.inspection = inspection
        self.outputs = outputs
        self.shifts = shifts
        self.logger = logger
        board = try OperatorBoard(settings, countsParts: !inspection.config.stations.isEmpty)
        product = inspection.currentProduct.id   // a changeover before the first tick is noted too
    }

    /// Brings the shift's counts and the alarms up to date (the status ticker, once a second;
    /// one caller at a time), then returns the status.
    func tick(now: Double = Date().timeIntervalSince1970) -> String {
        tickLock.withLock {
            updateShift(now)
            let alarms = currentAlarms()
            let versions = inspection.pipelines.first?.modelVersions
            let product = inspection.currentProduct.id
            lock.withLock {
                if let before = self.product, before != product { note(now, "product changeover: \(product)", "info") }
                self.product = product
                for a in alarms where !active.contains(a) { note(now, a, "alarm") }
                for a in active where !alarms.contains(a) { note(now, "cleared: " + a, "info") }
                active = alarms
                if let versions, let before = models, before != versions {
                    note(now, "model reloaded: stage 1 \(versions.0)" + (versions.1.map { ", stage 2 \($0)" } ?? ""), "info")
                }
                models = versions
            }
        }
        return status(now: now)
    }

    /// What the page shows now: the board as it is, with the shift and alarms of the last
    /// tick. Safe from any thread (the status route).
    func status(now: Double = Date().timeIntervalSince1970) -> String {
        lock.lock()
        let (shift, alarms) = (shiftName, active)
        let events = history.map { ["time": $0.time, "text": $0.text, "level": $0.level] as [String: Any] }
        lock.unlock()
        let bad = board.recentBadPercent
        let light: Light = !alarms.isEmpty ? .red : (bad ?? 0) >= settings.yellowPercent && bad != nil ? .yellow : .green
        var o = board.snapshot()
        o["title"] = settings.title
        o["time"] = now
        o["shift"] = ["name": shift.map { $0 as Any } ?? NSNull(), "start": board.currentShiftStart.map { $0 as Any } ?? NSNull()]
        o["light"] = light.rawValue
        o["recent_bad_percent"] = bad.map { ($0 * 10).rounded() / 10 as Any } ?? NSNull()
        o["alarms"] = alarms
        o["product"] = inspection.currentProduct.id
        o["products"] = inspection.config.products.count
        o["events"] = events
        o["drift"] = Dictionary(inspection.pipelines.compactMap { p in p.stats.drift.map { (p.camera, (($0.score * 100).rounded() / 100) as Any) } },
                                uniquingKeysWith: { a, _ in a })
        let data = (try? JSONSerialization.data(withJSONObject: o, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    private func note(_ time: Double, _ text: String, _ level: String) {
        history.insert((time, text, level), at: 0)
        if history.count > 8 { history.removeLast() }
    }

    /// What is wrong now, one line each: cameras lost, outputs failing, the store, a stall.
    private func currentAlarms() -> [String] {
        var out: [String] = []
        for p in inspection.pipelines {
            switch p.stats.sourceState {
            case .reconnecting: out.append("camera \(p.camera) lost: reconnecting")
            case .failed: out.append("camera \(p.camera) failed")
            default: break
            }
            if let d = p.stats.drift, d.alarm { out.append("camera \(p.camera) input drift: \(d.summary)") }
        }
        for h in outputs.health {
            if let alarm = h.alarm { out.append("output \(h.name) failing: \(alarm)") }
        }
        if inspection.committer.stats.failing { out.append("database: verdicts cannot be stored") }
        if !inspection.isAdvancing() { out.append("inspection stalled: no verdicts") }
        return out
    }

    /// At the first tick and at each shift change: the shift's counts start over (the first
    /// time, from what the store holds of the shift from before the daemon started).
    private func updateShift(_ now: Double) {
        let window = shifts.window(at: now)
        let first = !started
        guard first || window?.start != board.currentShiftStart else { return }
        var seeded = OperatorBoard.Counts()
        let startedAt = inspection.startedAt.timeIntervalSince1970
        if first, let start = window?.start, start < startedAt {
            do {
                if board.countsParts {
                    let s = try inspection.store.partStats(since: start, until: startedAt)
                    seeded = .init(total: s.parts, passes: s.passes, fails: s.fails, noVerdicts: s.noVerdicts)
                } else {
                    let c = try inspection.store.verdictCounts(since: start, until: startedAt)
                    seeded = .init(total: c.values.reduce(0, +), passes: c[.pass] ?? 0, fails: c[.fail] ?? 0, noVerdicts: c[.noVerdict] ?? 0)
                }
            } catch {
                logger.warning("operator screen: shift counts not read", metadata: ["error": "\(error)"])
            }
        }
        board.beginShift(at: window?.start, seeded: seeded, keepLive: first)
        started = true
        lock.withLock { shiftName = window?.name }
    }
}
