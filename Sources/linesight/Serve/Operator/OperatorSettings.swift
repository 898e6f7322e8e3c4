import Config

/// The [operator] section of the line config: the operator's screen at /operator.
struct OperatorSettings: Sendable, Equatable {
    /// Off by default: the page shows images of the parts.
    var enabled = false
    /// The line's name, the page's heading.
    var title = "Linesight"
    /// How many of the last rejects the page shows as thumbnails.
    var rejects = 6
    /// The stack light turns yellow when no-verdicts or flagged frames pass this share of
    /// the last `window` verdicts, in percent.
    var yellowPercent = 5.0
    var window = 200

    /// Reads [operator]: `enabled`, `title`, `rejects` (1-12), `yellow_percent` (0-100),
    /// `window` (10-10000 verdicts).
    static func read(_ s: ConfigSection) throws -> OperatorSettings {
        var o = OperatorSettings()
        o.enabled = try s.bool("enabled", default: false)
        o.title = try s.string("title", default: o.title)
        guard (1...60).contains(o.title.count), !o.title.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw s.bad("title", "expected 1 to 60 characters without control characters")
        }
        o.rejects = try s.int("rejects", default: o.rejects, in: 1...12)
        o.yellowPercent = try s.double("yellow_percent", default: o.yellowPercent, in: 0...100)
        o.window = try s.int("window", default: o.window, in: 10...10_000)
        return o
    }
}
