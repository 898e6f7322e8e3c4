import Capture
import Foundation
import Imaging
import Inspection
import LinesightCore
import Neural
import Store

/// What the operator's screen shows, kept as verdicts arrive: each camera's last frame (with
/// where stage 1 saw the defect when it failed), the last rejects, the shift's counters, and
/// the recent share of no-verdicts and flags. Fed on the pipelines' threads; read by the
/// status ticker and the image route. Frames are held as captured and encoded to JPEG only
/// when the page asks for one.
final class OperatorBoard: @unchecked Sendable {
    /// A frame the page can show, by id.
    struct Shot {
        var id: Int64
        var camera: String
        var sequence: UInt64
        var frame: Frame
        var decision: Decision
        var defects: [String]
        var part: Int64?
        var roi: Rect?
        var map: ClassMap?
        var capturedAt: Date
        var jpeg: [UInt8]?
    }

    /// The shift's counts: parts when the line has stations, else frames.
    struct Counts: Equatable {
        var total = 0, passes = 0, fails = 0, noVerdicts = 0
        var yield: Double? { total == 0 ? nil : Double(passes) / Double(total) }
    }

    let settings: OperatorSettings
    /// Counting parts (the line has stations) rather than frames.
    let countsParts: Bool
    private let lock = NSLock()
    /// Shot ids never repeat across runs (they start at the run's start in milliseconds), so
    /// a browser may cache a shot's image.
    private var nextShot = Int64(Date().timeIntervalSince1970 * 1000)
    private var latest: [String: Shot] = [:]
    private var rejects: [Shot] = []
    private var lastPart: PartVerdict?
    /// The shift's counts: those the store held when the daemon started, and those since.
    private var seeded = Counts()
    private var counts = Counts()
    private var shiftStart: Double?
    /// The last `settings.window` verdicts: whether each was a no-verdict or flagged.
    private var recent: [Bool] = []
    private var recentAt = 0
    private var recentBad = 0
    private let encoder: JPEGEncoder
    private let encodeLock = NSLock()
    private var image = Image()

    init(_ settings: OperatorSettings, countsParts: Bool) throws {
        self.settings = settings
        self.countsParts = countsParts
        encoder = try JPEGEncoder()
    }

    // MARK: Feeding (pipelines' threads)

    func post(_ v: LiveVerdict) {
        lock.lock()
        defer { lock.unlock() }
        let bad = v.decision == .noVerdict || !v.flags.isEmpty
        if recent.count < settings.window {
            recent.append(bad)
        } else {
            if recent[recentAt] { recentBad -= 1 }
            recent[recentAt] = bad
            recentAt = (recentAt + 1) % settings.window
        }
        if bad { recentBad += 1 }
        if !countsParts { count(v.decision) }
        guard let frame = v.frame else { return }
        let shot = Shot(id: nextShot, camera: v.camera, sequence: v.sequence, frame: frame, decision: v.decision, defects: v.defects,
                        part: v.part, roi: v.roi, map: nil, capturedAt: v.capturedAt)
        nextShot += 1
        // a part's burst shows its failing frame, not a later passing one
        if let current = latest[v.camera], current.part != nil, current.part == v.part, current.decision == .fail, v.decision != .fail {
            return
        }
        latest[v.camera] = shot
        // one thumbnail per failing part and view
        if v.decision == .fail, !(v.part != nil && rejects.first.map { $0.part == v.part && $0.camera == v.camera } == true) {
            rejects.insert(shot, at: 0)
            if rejects.count > settings.rejects { rejects.removeLast() }
        }
    }

    /// Where stage 1 saw the defect in a camera's frame: shown with it while it is the
    /// camera's last.
    func post(map: ClassMap, camera: String, sequence: UInt64) {
        lock.withLock {
            if latest[camera]?.sequence == sequence { latest[camera]?.map = map }
        }
    }

    func post(part: PartVerdict) {
        lock.withLock {
            lastPart = part
            if countsParts { count(part.decision) }
        }
    }

    private func count(_ d: Decision) {
        counts.total += 1
        switch d {
        case .pass: counts.passes += 1
        case .fail: counts.fails += 1
        case .noVerdict: counts.noVerdicts += 1
        }
    }

    /// The shift's counts start over at `start` (nil: hours no shift covers), from `seeded`
    /// (what the store held from before the daemon started); with `keepLive`, the counts
    /// since the daemon started stay (the first shift of a run).
    func beginShift(at start: Double?, seeded: Counts, keepLive: Bool) {
        lock.withLock {
            shiftStart = start
            self.seeded = seeded
            if !keepLive { counts = Counts() }
        }
    }

    var currentShiftStart: Double? { lock.withLock { shiftStart } }

    // MARK: Reading

    /// The share of no-verdicts and flags among the last verdicts, in percent (nil before any).
    var recentBadPercent: Double? {
        lock.withLock { recent.isEmpty ? nil : Double(recentBad) * 100 / Double(recent.count) }
    }

    /// The screen's content as JSON values: counts, the last part (or frame) with its views,
    /// and the last rejects.
    func snapshot() -> [String: Any] {
        lock.lock()
        let views = latest.values.sorted { $0.camera < $1.camera }
        let (rejects, part) = (self.rejects, lastPart)
        let counts = Counts(total: seeded.total + self.counts.total, passes: seeded.passes + self.counts.passes,
                            fails: seeded.fails + self.counts.fails, noVerdicts: seeded.noVerdicts + self.counts.noVerdicts)
        lock.unlock()
        // the last part's views: the shots of that part; free-run: each camera's last frame
        let shown = part.map { p in views.filter { $0.part == p.id } }.flatMap { $0.isEmpty ? nil : $0 } ?? views
        var last: [String: Any] = ["views": shown.map { describe($0, map: true) }]
        if let p = part {
            last["part"] = p.id
            last["station"] = p.station
            last["serial"] = p.serial ?? NSNull()
            last["decision"] = p.decision.rawValue
            last["defects"] = p.defects
        } else if let newest = views.max(by: { $0.id < $1.id }) {
            last["decision"] = newest.decision.rawValue
            last["defects"] = newest.defects
        }
        return [
            "unit": countsParts ? "parts" : "frames",
            "counts": ["total": counts.total, "passes": counts.passes, "fails": counts.fails, "no_verdicts": counts.noVerdicts,
                       "yield": counts.yield.map { $0 as Any } ?? NSNull()],
            "last": last,
            "rejects": rejects.map { describe($0, map: false) },
        ]
    }

    private func describe(_ s: Shot, map withMap: Bool) -> [String: Any] {
        var o: [String: Any] = ["shot": s.id, "camera": s.camera, "decision": s.decision.rawValue, "defects": s.defects,
                                "width": s.frame.width, "height": s.frame.height, "captured_at": s.capturedAt.timeIntervalSince1970,
                                "part": s.part.map { $0 as Any } ?? NSNull()]
        let roi = s.roi ?? Rect(x: 0, y: 0, width: s.frame.width, height: s.frame.height)
        o["roi"] = ["x": roi.x, "y": roi.y, "width": roi.width, "height": roi.height]
        if withMap, let m = s.map {
            o["map"] = ["width": m.width, "height": m.height, "values": m.values.map { ($0 * 100).rounded() / 100 }]
        }
        return o
    }

    /// The JPEG of a shot still on the board (the last of a camera, or a recent reject), or
    /// nil when it is gone. Encoded once, on first asking.
    func jpeg(shot id: Int64) throws -> [UInt8]? {
        lock.lock()
        let found = latest.values.first { $0.id == id } ?? rejects.first { $0.id == id }
        lock.unlock()
        guard let shot = found else { return nil }
        if let done = shot.jpeg { return done }
        let bytes: [UInt8]
        if shot.frame.format == .mjpeg {
            bytes = shot.frame.bytes
        } else {
            bytes = try encodeLock.withLock {
                let layout: PixelLayout = shot.frame.format == .grey ? .gray : .rgb
                try shot.frame.withView { view in
                    try convert(view, roi: Rect(x: 0, y: 0, width: shot.frame.width, height: shot.frame.height), to: layout, into: &image)
                }
                return try encoder.encode(image, quality: 85)
            }
        }
        lock.withLock {
            if latest[shot.camera]?.id == id { latest[shot.camera]?.jpeg = bytes }
            if let i = rejects.firstIndex(where: { $0.id == id }) { rejects[i].jpeg = bytes }
        }
        return bytes
    }
}
