/// Latency and size distributions as Prometheus-style buckets (pipelines, outputs).
public struct Histogram: Sendable {
    public let bounds: [Double]
    /// Per bucket (not cumulative); the last is +Inf.
    public private(set) var counts: [UInt64]
    public private(set) var sum = 0.0
    public private(set) var count: UInt64 = 0

    public init(bounds: [Double]) {
        self.bounds = bounds
        counts = [UInt64](repeating: 0, count: bounds.count + 1)
    }

    public mutating func record(_ v: Double) {
        counts[bounds.firstIndex { v <= $0 } ?? bounds.count] += 1
        sum += v
        count += 1
    }

    /// The value below which `q` of the observations fall (bucket upper bound).
    public func quantile(_ q: Double) -> Double? {
        guard count > 0 else { return nil }
        var seen: UInt64 = 0
        for (i, c) in counts.enumerated() {
            seen += c
            if Double(seen) >= q * Double(count) { return i < bounds.count ? bounds[i] : .infinity }
        }
        return .infinity
    }
}
