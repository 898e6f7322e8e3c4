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

    /// A trigger input on a line of the chip (a photo-eye or a PLC output wired to the line
    /// PC): its edges, as the kernel reports them, trigger the stations with triggers = ["gpio"].
    public struct TriggerInput: Sendable, Equatable {
        public enum Edge: String, Sendable, CaseIterable { case rising, falling, both }
        public enum Bias: String, Sendable, CaseIterable { case none, up, down }
        public var line = 0
        public var edge = Edge.rising
        /// The line's internal pull resistor (an open-collector sensor needs one).
        public var bias = Bias.none
        /// Edges this soon after an accepted one are ignored (a bouncing contact).
        public var debounce = 0.0
    }
    public var trigger: TriggerInput?

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
        if let line = try s.optionalInt("trigger_line", in: 0...1023) {
            guard line != g.rejectLine, line != g.readyLine else { throw s.bad("trigger_line", "must differ from reject_line and ready_line") }
            var t = TriggerInput(line: line)
            t.edge = try s.choice("trigger_edge", default: t.edge)
            t.bias = try s.choice("trigger_bias", default: t.bias)
            t.debounce = Double(try s.int("trigger_debounce_ms", default: 0, in: 0...10_000)) / 1000
            g.trigger = t
        } else {
            for key in ["trigger_edge", "trigger_bias", "trigger_debounce_ms"] where s.has(key) {
                throw s.bad(key, "needs trigger_line (the line to watch)")
            }
        }
        return g
    }
}
