import Foundation
import LinesightCore

/// One verdict as the line's outputs tell it (MQTT JSON, later the PLC registers): what was
/// judged, when, the decision and why. A no-verdict is a reject for the line.
public struct LineVerdict: Sendable, Equatable {
    public var camera: String
    public var sequence: UInt64
    public var decision: Decision
    public var defects: [String]
    public var stage1Score: Double?
    public var flags: [FlagReason]
    public var capturedAt: Date
    /// Capture to verdict, milliseconds.
    public var latencyMs: Double
    public var error: String?
    /// Set for a part (a station's trigger): then `camera` is the station, `sequence` the part id.
    public var part: Part?
    /// The product the line was making (`[[products]]`); the JSON has it when set.
    public var product: String?

    /// What a part adds: what its trigger carried and each view's verdict.
    public struct Part: Sendable, Equatable {
        public var serial: String?
        public var views: [String: Decision]
        public init(serial: String?, views: [String: Decision]) {
            self.serial = serial
            self.views = views
        }
    }

    public init(camera: String, sequence: UInt64, decision: Decision, defects: [String], stage1Score: Double?,
                flags: [FlagReason], capturedAt: Date, latencyMs: Double, error: String?, part: Part? = nil) {
        self.camera = camera
        self.sequence = sequence
        self.decision = decision
        self.defects = defects
        self.stage1Score = stage1Score
        self.flags = flags
        self.capturedAt = capturedAt
        self.latencyMs = latencyMs
        self.error = error
        self.part = part
    }

    /// Whether the line must remove the part: a fail, or no verdict (fail-safe).
    public var reject: Bool { decision != .pass }

    /// The JSON message: keys in snake_case, the time in ISO 8601 UTC with milliseconds,
    /// scores to 4 decimals; non-finite numbers become null.
    /// A part's message has `station`, `part`, `serial`, `views` and `triggered_at` instead of
    /// `camera`, `sequence`, `captured_at`, `stage1_score` and `flags`.
    public func json() -> [UInt8] {
        var o: [String: Any] = [
            "decision": decision.rawValue, "reject": reject, "defects": defects, "latency_ms": Self.rounded(latencyMs, 2) ?? NSNull(),
        ]
        if let part {
            o["station"] = camera
            o["part"] = sequence
            o["serial"] = part.serial ?? NSNull()
            o["views"] = part.views.mapValues(\.rawValue)
            o["triggered_at"] = Self.timestamp(capturedAt)
        } else {
            o["camera"] = camera
            o["sequence"] = sequence
            o["flags"] = flags.map(\.rawValue)
            o["captured_at"] = Self.timestamp(capturedAt)
            o["stage1_score"] = stage1Score.flatMap { Self.rounded($0, 4) } ?? NSNull()
        }
        o["error"] = error ?? NSNull()
        if let product { o["product"] = product }
        return Array((try? JSONSerialization.data(withJSONObject: o, options: [.sortedKeys])) ?? Data("{}".utf8))
    }

    static func rounded(_ x: Double, _ digits: Int) -> Double? {
        guard x.isFinite else { return nil }
        let scale = pow(10, Double(digits))
        return (x * scale).rounded() / scale
    }

    /// "2026-12-05T14:03:07.125Z" (gmtime_r: no formatter object shared between pipeline threads).
    static func timestamp(_ d: Date) -> String {
        let t = d.timeIntervalSince1970
        var secs = time_t(t.rounded(.down))
        var ms = Int(((t - Double(secs)) * 1000).rounded())
        if ms == 1000 { secs += 1; ms = 0 }
        var tm = tm()
        gmtime_r(&secs, &tm)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", Int(tm.tm_year) + 1900, Int(tm.tm_mon) + 1, Int(tm.tm_mday),
                      Int(tm.tm_hour), Int(tm.tm_min), Int(tm.tm_sec), ms)
    }
}
