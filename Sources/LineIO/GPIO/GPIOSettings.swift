import Config

/// [outputs.gpio] of the line config: GPIO lines of the line PC itself (libgpiod), for a
/// reject actuator and a "ready" lamp or PLC input.
public struct GPIOSettings: Sendable, Equatable {
    public var enabled = false
    /// The chip: a name (gpiochip0), a path (/dev/gpiochip0), a number or a label.
    public var chip = "gpiochip0"
    /// Driven high for `rejectPulse` on every reject (fail or no verdict); a reject while it is
    /// high extends the pulse.
    public var rejectLine = 0
    public var rejectPulse = 0.2
    /// High while the inspection is healthy, low when it stops, hangs or stalls.
    public var readyLine: Int?
    /// The lines are active-low (a relay board that switches on a low level).
    public var activeLow = false

    public init() {}

    public static func read(_ s: ConfigSection) throws -> GPIOSettings {
        var g = GPIOSettings()
        g.enabled = try s.bool("enabled", default: false)
        g.chip = try s.string("chip", default: g.chip)
        guard !g.chip.isEmpty, g.chip.utf8.count <= 256 else { throw s.bad("chip", "a chip name, path, number or label") }
        g.rejectLine = try s.int("reject_line", default: g.rejectLine, in: 0...1023)
        g.rejectPulse = Double(try s.int("reject_pulse_ms", default: 200, in: 10...60_000)) / 1000
        g.readyLine = try s.optionalInt("ready_line", in: 0...1023)
        if g.readyLine == g.rejectLine { throw s.bad("ready_line", "must differ from reject_line") }
        g.activeLow = try s.bool("active_low", default: false)
        return g
    }
}
