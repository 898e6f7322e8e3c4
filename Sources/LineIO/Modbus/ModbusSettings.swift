import Config
import Foundation

/// [outputs.modbus] of the line config: the PLC's Modbus TCP server, the reject coil and the
/// block of holding registers Linesight writes.
///
/// Holding registers from `registers` on: +0 heartbeat (counts up every `heartbeat_ms` while
/// the inspection is healthy; a PLC that sees it stand still must not trust the line), +1 the
/// last verdict (1 pass, 2 fail, 3 no verdict), +2 verdicts sent (changes with every verdict),
/// +3 parts passed, +4 parts rejected (fail or no verdict); the counts wrap at 65536.
/// With `trigger_input`, the thread also polls one discrete input (or coil) of the PLC and
/// fires a trigger on its edge: the stations with `triggers = ["modbus"]` take it.
public struct ModbusSettings: Sendable, Equatable {
    public var enabled = false
    public var host = "127.0.0.1"
    public var port = 502
    public var unitId = 1
    /// Each request's answer must come within this (seconds).
    public var timeout = 0.1
    public var rejectCoil = 0
    /// How long the coil stays on for a reject (seconds); a reject while it is on extends it.
    public var rejectPulse = 0.2
    public var registers = 0
    public var heartbeat = 0.5

    /// A trigger read from the PLC (a photo-eye on its inputs): which bit, polled how often.
    public struct TriggerInput: Sendable, Equatable {
        public enum Kind: String, Sendable, CaseIterable { case discrete, coil }
        public enum Edge: String, Sendable, CaseIterable { case rising, falling, both }
        public var kind = Kind.discrete
        public var address = 0
        public var edge = Edge.rising
        public var poll = 0.005
        /// Edges this soon after an accepted one are ignored (a bouncing contact).
        public var debounce = 0.0
    }
    public var trigger: TriggerInput?

    public init() {}

    public static let registerCount = 5

    public static func read(_ s: ConfigSection) throws -> ModbusSettings {
        var m = ModbusSettings()
        m.enabled = try s.bool("enabled", default: false)
        (m.host, m.port) = try s.hostAndPort("server", default: "127.0.0.1:502", example: "192.168.0.10:502")
        m.unitId = try s.int("unit_id", default: m.unitId, in: 0...247)
        m.timeout = Double(try s.int("timeout_ms", default: 100, in: 10...10_000)) / 1000
        m.rejectCoil = try s.int("reject_coil", default: m.rejectCoil, in: 0...65535)
        m.rejectPulse = Double(try s.int("reject_pulse_ms", default: 200, in: 10...60_000)) / 1000
        m.registers = try s.int("registers", default: m.registers, in: 0...(65536 - registerCount))
        m.heartbeat = Double(try s.int("heartbeat_ms", default: 500, in: 50...60_000)) / 1000
        if let address = try s.optionalInt("trigger_input", in: 0...65535) {
            var t = TriggerInput()
            t.address = address
            t.kind = try s.choice("trigger_input_type", default: t.kind)
            t.edge = try s.choice("trigger_edge", default: t.edge)
            t.poll = Double(try s.int("trigger_poll_ms", default: 5, in: 1...1000)) / 1000
            t.debounce = Double(try s.int("trigger_debounce_ms", default: 0, in: 0...10_000)) / 1000
            m.trigger = t
        } else {
            for key in ["trigger_input_type", "trigger_edge", "trigger_poll_ms", "trigger_debounce_ms"] where s.has(key) {
                throw s.bad(key, "needs trigger_input (the bit to watch)")
            }
        }
        return m
    }
}
