import Foundation
import LinesightCore
import Logging
import Store

/// A part's verdict, as the line's outputs and the live feed tell it.
public struct PartVerdict: Sendable, Equatable {
    public var id: Int64
    public var station: String
    public var serial: String?
    public var triggeredAt: Date
    public var decision: Decision
    /// "view:kind" for each defect a failing view reported.
    public var defects: [String]
    /// Each view's verdict (a view with no verdict by the deadline is a no-verdict).
    public var views: [String: Decision]
    public var frames: Int
    /// Trigger to verdict, milliseconds.
    public var decidedMs: Double
    public var error: String?
}

/// Counts of one station's parts.
public struct PartStats: Sendable {
    public var triggered: UInt64 = 0
    public var passes: UInt64 = 0
    public var fails: UInt64 = 0
    public var noVerdicts: UInt64 = 0
    /// Parts decided by their deadline, a view still missing.
    public var lateParts: UInt64 = 0
    public var latency = Histogram(bounds: [5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000])
}

/// Turns triggers into parts: asks each view's gate for its frames, gathers their verdicts,
/// and decides the part when every frame is judged (fails if any view fails; a no-verdict
/// view makes it a no-verdict) or when its deadline passes first (rejected: fail if a view
/// already failed, else no-verdict). Each part is decided exactly once; frames that arrive
/// after are kept as rows but change nothing.
final class PartAssembler: @unchecked Sendable {
    private struct Open {
        var verdict: PartVerdict
        var station: LineConfig.Station
        var expected: Int
        var judged = 0
        var deadline: Double
        var viewDecisions: [String: [Decision]] = [:]
        var defects: [String] = []
        var errors: [String] = []
    }

    private let stations: [String: LineConfig.Station]
    private let gates: [String: FrameGate]
    private let logger: Logger
    private let cond = NSCondition()
    private var open: [Int64: Open] = [:]
    private var nextId: Int64
    private var stats: [String: PartStats] = [:]
    private var stopping = false
    private let watcherDone = DispatchSemaphore(value: 0)
    private var watching = false
    private let decided: @Sendable (PartVerdict) -> Void

    init(stations: [LineConfig.Station], gates: [String: FrameGate], firstId: Int64, logger: Logger,
         decided: @escaping @Sendable (PartVerdict) -> Void) {
        self.stations = Dictionary(uniqueKeysWithValues: stations.map { ($0.id, $0) })
        self.gates = gates
        self.logger = logger
        self.decided = decided
        nextId = firstId
        for s in stations { stats[s.id] = PartStats() }
        if !stations.isEmpty {
            watching = true
            let done = watcherDone
            let t = Thread { [weak self] in self?.watchDeadlines(); done.signal() }
            t.name = "part-deadlines"
            t.start()
        }
    }

    var stationIds: [String] { stations.keys.sorted() }

    func counts() -> [String: PartStats] { cond.withLock { stats } }

    /// Starts a part at `station` now; its id and deadline (seconds).
    func trigger(station id: String?, serial: String?, source: LineConfig.TriggerSource) throws(InspectionError) -> (id: Int64, station: String, deadline: Double) {
        let name: String
        if let id { name = id } else if stations.count == 1 { name = stations.keys.first! } else {
            throw .trigger(stations.isEmpty ? "no station is configured: add a [[stations]] table naming its cameras"
                                            : "name the station (one of \(stationIds.joined(separator: ", ")))")
        }
        guard let station = stations[name] else {
            throw .trigger("unknown station '\(name)'" + (stations.isEmpty ? ": none is configured" : " (known: \(stationIds.joined(separator: ", ")))"))
        }
        guard station.triggers.contains(source) else {
            throw .trigger("station '\(name)' takes its triggers from \(station.triggers.map(\.rawValue).joined(separator: ", ")), not \(source.rawValue)")
        }
        if let serial, serial.isEmpty || serial.unicodeScalars.count > 128 || serial.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            throw .trigger("serial must be 1-128 characters without control characters")
        }
        let now = monotonicNow()
        let taken: Int64? = cond.withLock {
            guard !stopping else { return nil }
            let part = nextId
            nextId += 1
            let v = PartVerdict(id: part, station: name, serial: serial, triggeredAt: Date(), decision: .noVerdict, defects: [],
                                views: [:], frames: 0, decidedMs: 0, error: nil)
            open[part] = Open(verdict: v, station: station, expected: station.cameras.count * station.judgedPerView,
                              deadline: Double(now) / 1e9 + station.deadline)
            stats[name, default: PartStats()].triggered += 1
            cond.signal()
            return part
        }
        guard let part = taken else { throw .stopping }
        for cam in station.cameras { gates[cam]?.request(part: part, after: now, count: station.framesPerView, sharpest: station.sharpest) }
        return (part, name, station.deadline)
    }

    /// One frame of a part was judged (any decision, no-verdicts included).
    func judged(part: Int64, camera: String, decision: Decision, defects: [String], error: String?) {
        let done: PartVerdict? = cond.withLock {
            guard var o = open[part] else { return nil }  // decided already (deadline)
            o.judged += 1
            o.viewDecisions[camera, default: []].append(decision)
            if decision == .fail { o.defects += defects.map { "\(camera):\($0)" } }
            if let error { o.errors.append("\(camera): \(error)") }
            guard o.judged >= o.expected else { open[part] = o; return nil }
            open[part] = nil
            return finish(o, late: false)
        }
        if let done { decided(done) }
    }

    /// Decides `o` (call with the lock held): the views' verdicts combined, the stats counted.
    private func finish(_ o: Open, late: Bool, stopped: Bool = false) -> PartVerdict {
        var v = o.verdict
        for cam in o.station.cameras {
            let ds = o.viewDecisions[cam] ?? []
            v.views[cam] = ds.contains(.fail) ? .fail : (ds.count < o.station.judgedPerView || ds.contains(.noVerdict)) ? .noVerdict : .pass
        }
        v.decision = v.views.values.contains(.fail) ? .fail : v.views.values.contains(.noVerdict) ? .noVerdict : .pass
        var seen = Set<String>()
        v.defects = o.defects.filter { seen.insert($0).inserted }
        v.frames = o.judged
        v.decidedMs = max(0, Date().timeIntervalSince(v.triggeredAt) * 1000)
        var errors = o.errors
        if late {
            let missing = o.station.cameras.filter { (o.viewDecisions[$0]?.count ?? 0) < o.station.judgedPerView }
            errors.insert(stopped ? "stopped: the daemon stopped before \(missing.joined(separator: ", ")) gave a verdict"
                                  : "deadline: no verdict from \(missing.joined(separator: ", ")) within \(Int(o.station.deadline * 1000)) ms", at: 0)
        }
        v.error = errors.isEmpty ? nil : String(errors.joined(separator: "; ").prefix(1000))
        var s = stats[v.station, default: PartStats()]
        switch v.decision {
        case .pass: s.passes += 1
        case .fail: s.fails += 1
        case .noVerdict: s.noVerdicts += 1
        }
        if late { s.lateParts += 1 }
        s.latency.record(v.decidedMs)
        stats[v.station] = s
        return v
    }

    /// Decides every part whose deadline passed, on a thread of its own.
    private func watchDeadlines() {
        while true {
            cond.lock()
            if stopping { cond.unlock(); return }
            let now = monotonicSeconds()
            let due = open.filter { $0.value.deadline <= now }
            var late: [PartVerdict] = []
            for (id, o) in due {
                open[id] = nil
                late.append(finish(o, late: true))
            }
            if late.isEmpty {
                let next = open.values.map(\.deadline).min().map { $0 - now } ?? 1
                _ = cond.wait(until: Date(timeIntervalSinceNow: min(max(next, 0.001), 1)))
            }
            cond.unlock()
            for v in late.sorted(by: { $0.id < $1.id }) {
                for cam in stations[v.station]?.cameras ?? [] { gates[cam]?.cancel(part: v.id) }
                logger.warning("part decided by its deadline", metadata: ["station": "\(v.station)", "part": "\(v.id)",
                                                                        "decision": "\(v.decision.rawValue)", "error": "\(v.error ?? "")"])
                decided(v)
            }
        }
    }

    /// Ends the deadline watcher (what it decided has been handed on), then decides what is
    /// still open as late (shutdown: the cameras have stopped). Triggers after this are refused.
    func stop() {
        let wasWatching = cond.withLock { () -> Bool in
            defer { stopping = true; watching = false; cond.signal() }
            return watching
        }
        if wasWatching { watcherDone.wait() }
        let rest: [PartVerdict] = cond.withLock {
            let r = open.values.sorted { $0.verdict.id < $1.verdict.id }.map { finish($0, late: true, stopped: true) }
            open = [:]
            return r
        }
        for v in rest { decided(v) }
    }
}
