import Config
import Foundation

/// [outputs.modbus] of the line config: the PLC's Modbus TCP server, the reject coil and the
/// block of holding registers Linesight writes.
///
/// Holding registers from `registers` on: +0 heartbeat (counts up every `heartbeat_ms` while
/// the inspection is healthy; a PLC that sees it stand still must not trust the line), +1 the
/// last verdict (1 pass, 2 fail, 3 no verdict), +2 verdicts sent (changes with every verdict),
/// +3 parts passed, +4 parts rejected (fail or no verdict); the counts wrap at 65536.
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
        return m
    }
}
