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
