/// A p-chart: the fraction of nonconforming parts per subgroup (period), its centre line
/// p̄ = Σd / Σn, and 3-sigma limits per subgroup p̄ ± 3·sqrt(p̄(1 − p̄) / n) (the lower
/// one clipped at 0). Points are tested with the Western Electric rules on their
/// standardized distance z = (p − p̄) / σ:
///  1. one point beyond 3σ;
///  2. two of three successive points beyond 2σ on the same side;
///  3. four of five successive points beyond 1σ on the same side;
///  4. eight successive points on the same side of the centre line.
public struct PChart: Sendable {
    public struct Point: Equatable, Sendable {
        public var label: String
        public var n: Int
        public var nonconforming: Int
        public var p: Double
        public var lcl: Double
        public var ucl: Double
        /// Western Electric rules (1...4) this point breaks; empty when in control.
        public var rules: [Int]
        public var outOfControl: Bool { !rules.isEmpty }
    }

    public var center: Double
    public var points: [Point]

    /// `subgroups`: label, parts inspected, nonconforming parts; empty subgroups are left out.
    public init(_ subgroups: [(label: String, n: Int, nonconforming: Int)]) {
        let used = subgroups.filter { $0.n > 0 }
        let total = used.reduce(0) { $0 + $1.n }
        center = total == 0 ? 0 : Double(used.reduce(0) { $0 + $1.nonconforming }) / Double(total)
        let pbar = center
        let sigma = used.map { (pbar * (1 - pbar) / Double($0.n)).squareRoot() }
        var points = zip(used, sigma).map { g, sd in
            Point(label: g.label, n: g.n, nonconforming: g.nonconforming, p: Double(g.nonconforming) / Double(g.n),
                  lcl: max(0, pbar - 3 * sd), ucl: min(1, pbar + 3 * sd), rules: [])
        }
        let z = zip(points, sigma).map { pt, sd in
            sd == 0 ? (pt.p == pbar ? 0 : (pt.p > pbar ? Double.infinity : -Double.infinity)) : (pt.p - pbar) / sd
        }
        for (i, rules) in Self.westernElectric(z).enumerated() { points[i].rules = rules }
        self.points = points
    }

    /// For each point, the rules it breaks (a point breaks a run rule when it ends such a run).
    static func westernElectric(_ z: [Double]) -> [[Int]] {
        var out = [[Int]](repeating: [], count: z.count)
        for i in z.indices {
            if abs(z[i]) > 3 { out[i].append(1) }
            for side in [1.0, -1.0] {
                func count(_ k: Int, beyond limit: Double) -> Int {
                    guard i + 1 >= k else { return 0 }
                    return z[(i + 1 - k)...i].filter { $0 * side > limit }.count
                }
                if z[i] * side > 2, count(3, beyond: 2) >= 2 { out[i].append(2) }
                if z[i] * side > 1, count(5, beyond: 1) >= 4 { out[i].append(3) }
                if i >= 7, count(8, beyond: 0) == 8 { out[i].append(4) }
            }
        }
        return out.map { Array(Set($0)).sorted() }
    }
}
