/// Which frames a person should label first, out of many the model doubted: the most
/// uncertain, spread over what the line sees. Labels are the scarce resource; ten
/// near-identical doubtful frames (one lighting glitch, one batch of one supplier) teach the
/// model little more than one of them.
///
/// `order` is a greedy k-center (core-set) pick weighted by uncertainty: each next frame is
/// the one whose embedding lies farthest from every frame already labelled or picked,
/// times its uncertainty. The caller passes candidates already doubted (the daemon's flags
/// are; `candidates` picks the most uncertain of a pool) and embeddings on a common scale
/// (each dimension divided by its spread over good parts).
public enum ReviewSampler {
    public struct Candidate: Sendable {
        /// 0 (sure) ... 1 (a coin toss).
        public var uncertainty: Double
        public var embedding: [Float]
        public init(uncertainty: Double, embedding: [Float]) { (self.uncertainty, self.embedding) = (uncertainty, embedding) }
    }

    /// Uncertainty floor: a candidate the model is sure of still counts by its distance
    /// (it was flagged for a reason, and a new region of the input space is worth a look).
    public static let uncertaintyFloor = 0.05

    /// The uncertainty of a P(defect) `p` against the decision threshold `t` (0 < t < 1):
    /// 1 at the threshold, falling linearly to 0 at 0 and at 1. NaN and out-of-range scores
    /// count as sure.
    public static func uncertainty(_ p: Double, threshold t: Double) -> Double {
        guard p.isFinite, t.isFinite, t > 0, t < 1, (0...1).contains(p) else { return 0 }
        return p < t ? p / t : (1 - p) / (1 - t)
    }

    /// The indices of `candidates` in the order to label them, the first `count` (all when
    /// nil). Candidates whose embedding does not match the others' length (or `labelled`'s)
    /// or is not finite come last, by uncertainty. Ties keep the candidates' order.
    public static func order(_ candidates: [Candidate], labelled: [[Float]], count: Int? = nil) -> [Int] {
        let want = min(count ?? candidates.count, candidates.count)
        guard want > 0 else { return [] }
        let dims = labelled.first?.count ?? candidates.first { !$0.embedding.isEmpty }?.embedding.count ?? 0
        let usable = candidates.indices.filter {
            dims > 0 && candidates[$0].embedding.count == dims && candidates[$0].embedding.allSatisfy(\.isFinite)
        }
        let rest = candidates.indices.filter { !Set(usable).contains($0) }
            .sorted { weight(candidates[$0]) > weight(candidates[$1]) }
        let known = labelled.filter { $0.count == dims && $0.allSatisfy(\.isFinite) }
        // each usable candidate's squared distance to the nearest labelled or picked frame
        var nearest = [Float](repeating: .infinity, count: usable.count)
        for (k, i) in usable.enumerated() {
            for l in known { nearest[k] = min(nearest[k], squaredDistance(candidates[i].embedding, l)) }
        }
        var picked: [Int] = [], taken = [Bool](repeating: false, count: usable.count)
        while picked.count < min(want, usable.count) {
            var best = -1, bestScore = -Double.infinity
            for k in usable.indices where !taken[k] {
                // nothing labelled yet: the first pick is the most uncertain
                let d = nearest[k].isInfinite ? 1 : Double(nearest[k]).squareRoot()
                let score = d * weight(candidates[usable[k]])
                if score > bestScore { (best, bestScore) = (k, score) }
            }
            taken[best] = true
            picked.append(usable[best])
            let e = candidates[usable[best]].embedding
            for k in usable.indices where !taken[k] { nearest[k] = min(nearest[k], squaredDistance(candidates[usable[k]].embedding, e)) }
        }
        return Array((picked + rest).prefix(want))
    }

    /// The indices of `candidates` in the order to label them, cluster-based: the usable
    /// candidates are grouped into `clusters` by k-means (k-means++ seeding from `seed`,
    /// Euclidean), and the order takes one frame per cluster in turn (each cluster's most
    /// uncertain left), clusters holding more doubt first and clusters already covered by
    /// `labelled` frames (a labelled frame within the cluster's root-mean-square radius of
    /// its centre) after the others. Representative frames rather than outliers: ten frames of one
    /// glitch are one cluster and one pick per round. Unusable embeddings come last, as in
    /// `order`.
    public static func clusterOrder(_ candidates: [Candidate], labelled: [[Float]], clusters k: Int, count: Int? = nil, seed: UInt64 = 1) -> [Int] {
        let want = min(count ?? candidates.count, candidates.count)
        guard want > 0 else { return [] }
        let dims = labelled.first?.count ?? candidates.first { !$0.embedding.isEmpty }?.embedding.count ?? 0
        let usable = candidates.indices.filter { dims > 0 && candidates[$0].embedding.count == dims && candidates[$0].embedding.allSatisfy(\.isFinite) }
        let usableSet = Set(usable)
        let rest = candidates.indices.filter { !usableSet.contains($0) }.sorted { weight(candidates[$0]) > weight(candidates[$1]) }
        guard !usable.isEmpty else { return Array(rest.prefix(want)) }
        let points = usable.map { candidates[$0].embedding }
        let assignment = kMeans(points, k: max(1, min(k, points.count)), seed: seed)
        let groups = Dictionary(grouping: points.indices, by: { assignment.labels[$0] })
        let known = labelled.filter { $0.count == dims && $0.allSatisfy(\.isFinite) }
        struct Group { var members: [Int]; var doubt: Double; var covered: Bool }
        var ordered: [Group] = groups.map { c, members in
            let sorted = members.sorted { (weight(candidates[usable[$0]]), $1) > (weight(candidates[usable[$1]]), $0) }
            let centre = assignment.centres[c]
            let spread = members.map { squaredDistance(points[$0], centre) }.reduce(0, +) / Float(members.count)
            let nearest = known.map { squaredDistance($0, centre) }.min() ?? .infinity
            return Group(members: sorted, doubt: members.map { weight(candidates[usable[$0]]) }.reduce(0, +),
                         covered: nearest <= max(spread, 1e-12))
        }
        ordered.sort { ($0.covered ? 1 : 0, -$0.doubt, $0.members[0]) < ($1.covered ? 1 : 0, -$1.doubt, $1.members[0]) }
        var picked: [Int] = [], round = 0
        while picked.count < usable.count {
            for g in ordered where round < g.members.count { picked.append(usable[g.members[round]]) }
            round += 1
        }
        return Array((picked + rest).prefix(want))
    }

    /// Lloyd's k-means with k-means++ seeding: each point's cluster and the centres.
    static func kMeans(_ points: [[Float]], k: Int, seed: UInt64, iterations: Int = 15) -> (labels: [Int], centres: [[Float]]) {
        var state = seed | 1
        func uniform() -> Double {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return Double(state >> 11) / Double(1 << 53)
        }
        var centres = [points[Int(uniform() * Double(points.count)) % points.count]]
        var nearest = points.map { squaredDistance($0, centres[0]) }
        while centres.count < k {
            let total = nearest.reduce(0) { $0 + Double($1) }
            guard total > 0 else { break }   // fewer distinct points than k
            var r = uniform() * total, pick = points.count - 1
            for (i, d) in nearest.enumerated() { r -= Double(d); if r <= 0 { pick = i; break } }
            centres.append(points[pick])
            for i in points.indices { nearest[i] = min(nearest[i], squaredDistance(points[i], points[pick])) }
        }
        var labels = [Int](repeating: 0, count: points.count)
        for _ in 0..<iterations {
            var changed = false
            for (i, p) in points.enumerated() {
                var best = 0, bestD = Float.infinity
                for (c, centre) in centres.enumerated() { let d = squaredDistance(p, centre); if d < bestD { (best, bestD) = (c, d) } }
                if labels[i] != best { labels[i] = best; changed = true }
            }
            var sums = [[Float]](repeating: [Float](repeating: 0, count: points[0].count), count: centres.count)
            var counts = [Int](repeating: 0, count: centres.count)
            for (i, p) in points.enumerated() {
                counts[labels[i]] += 1
                for j in p.indices { sums[labels[i]][j] += p[j] }
            }
            for c in centres.indices where counts[c] > 0 { centres[c] = sums[c].map { $0 / Float(counts[c]) } }
            if !changed { break }
        }
        return (labels, centres)
    }

    /// The `count` most uncertain of `uncertainties` (indices, most uncertain first; ties by
    /// index): the doubted pool a core-set pick then spreads over.
    public static func mostUncertain(_ uncertainties: [Double], count: Int) -> [Int] {
        Array(uncertainties.indices.sorted { (uncertainties[$0], $1) > (uncertainties[$1], $0) }.prefix(max(0, count)))
    }

    static func weight(_ c: Candidate) -> Double {
        c.uncertainty.isFinite ? max(uncertaintyFloor, min(1, c.uncertainty)) : uncertaintyFloor
    }

    static func squaredDistance(_ a: [Float], _ b: [Float]) -> Float {
        var s: Float = 0
        for k in 0..<min(a.count, b.count) { let d = a[k] - b[k]; s += d * d }
        return s
    }

    /// Each dimension's standard deviation over the `rows` of the most common length (at
    /// least 1e-6, so a dimension that never varies weighs nothing rather than everything):
    /// the scale embeddings are compared on when no reference gives one.
    public static func spreads(_ rows: [[Float]]) -> [Float] {
        let lengths = Dictionary(grouping: rows, by: \.count)
        guard let d = lengths.max(by: { ($0.value.count, $1.key) < ($1.value.count, $0.key) })?.key, d > 0 else { return [] }
        let same = rows.filter { $0.count == d && $0.allSatisfy(\.isFinite) }
        guard !same.isEmpty else { return [] }
        var mean = [Double](repeating: 0, count: d), sq = mean
        for r in same { for k in 0..<d { mean[k] += Double(r[k]) } }
        mean = mean.map { $0 / Double(same.count) }
        for r in same { for k in 0..<d { let e = Double(r[k]) - mean[k]; sq[k] += e * e } }
        return sq.map { Float(max(1e-6, ($0 / Double(same.count)).squareRoot())) }
    }
}
