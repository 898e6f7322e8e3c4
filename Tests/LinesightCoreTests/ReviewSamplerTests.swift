import Foundation
import Testing
@testable import LinesightCore

@Suite("Review sampler: uncertainty and diversity")
struct ReviewSamplerTests {
    @Test func uncertaintyPeaksAtTheThresholdAndRefusesNonsense() {
        #expect(ReviewSampler.uncertainty(0.3, threshold: 0.3) == 1)
        #expect(abs(ReviewSampler.uncertainty(0.15, threshold: 0.3) - 0.5) < 1e-12)
        #expect(abs(ReviewSampler.uncertainty(0.65, threshold: 0.3) - 0.5) < 1e-12)
        #expect(ReviewSampler.uncertainty(0, threshold: 0.3) == 0 && ReviewSampler.uncertainty(1, threshold: 0.3) == 0)
        for bad in [Double.nan, .infinity, -0.1, 1.5] { #expect(ReviewSampler.uncertainty(bad, threshold: 0.5) == 0) }
        for t in [0.0, 1.0, .nan] { #expect(ReviewSampler.uncertainty(0.5, threshold: t) == 0) }
    }

    @Test func theOrderSpreadsOverClustersInsteadOfTakingOneClusterFirst() {
        // 30 near-identical frames (one glitch) a little more uncertain than 3 frames elsewhere
        var c = (0..<30).map { i in ReviewSampler.Candidate(uncertainty: 0.9, embedding: [Float(i) * 0.001, 0]) }
        c += [[10, 0], [0, 10], [-10, -10]].map { ReviewSampler.Candidate(uncertainty: 0.6, embedding: $0) }
        let order = ReviewSampler.order(c, labelled: [])
        #expect(order.count == 33 && Set(order).count == 33)
        #expect(order[0] < 30, "the first pick is the most uncertain: \(order.prefix(5))")
        #expect(Set(order[1...3]) == [30, 31, 32], "then one of each other region before a second of the glitch: \(order.prefix(6))")
        // uncertainty-only would take the whole glitch first
        #expect(ReviewSampler.mostUncertain(c.map(\.uncertainty), count: 4) == [0, 1, 2, 3])
        // frames like those already labelled wait: a labelled frame near [10, 0] sends that one back
        let after = ReviewSampler.order(c, labelled: [[10, 0], [0, 0]], count: 3)
        #expect(Set(after) == Set([31, 32, after.first { $0 < 30 } ?? -1]) && !after.contains(30), "\(after)")
    }

    @Test func clusterOrderTakesOneFramePerClusterInTurnCoveredClustersLast() {
        // three tight groups: 20 frames near (0, 0), 5 near (10, 0), 5 near (0, 10)
        var c = (0..<20).map { i in ReviewSampler.Candidate(uncertainty: 0.5 + Double(i) / 100, embedding: [Float(i % 5) * 0.01, Float(i / 5) * 0.01]) }
        c += (0..<5).map { i in ReviewSampler.Candidate(uncertainty: 0.4, embedding: [10 + Float(i) * 0.01, 0]) }
        c += (0..<5).map { i in ReviewSampler.Candidate(uncertainty: 0.3, embedding: [0, 10 + Float(i) * 0.01]) }
        let order = ReviewSampler.clusterOrder(c, labelled: [], clusters: 3)
        #expect(order.count == 30 && Set(order).count == 30)
        func group(_ i: Int) -> Int { i < 20 ? 0 : i < 25 ? 1 : 2 }
        #expect(Set(order.prefix(3).map(group)) == [0, 1, 2], "one of each group first: \(order.prefix(6))")
        #expect(order[0] == 19, "the group holding most doubt first, by its most uncertain frame: \(order.prefix(3))")
        // a group a labelled frame already covers goes after the others
        let covered = ReviewSampler.clusterOrder(c, labelled: [[10.02, 0]], clusters: 3, count: 2)
        #expect(Set(covered.map(group)) == [0, 2], "\(covered)")
    }

    @Test func brokenEmbeddingsComeLastByUncertainty() {
        let c = [ReviewSampler.Candidate(uncertainty: 1, embedding: [.nan, 0]),
                 ReviewSampler.Candidate(uncertainty: 0.2, embedding: [1, 1]),
                 ReviewSampler.Candidate(uncertainty: 0.9, embedding: [1]),
                 ReviewSampler.Candidate(uncertainty: .nan, embedding: [5, 5]),
                 ReviewSampler.Candidate(uncertainty: 0.5, embedding: [])]
        let order = ReviewSampler.order(c, labelled: [[0, 0]])
        #expect(Array(order.prefix(2)) == [3, 1] || Array(order.prefix(2)) == [1, 3], "the usable two first: \(order)")
        #expect(Array(order.suffix(3)) == [0, 2, 4], "then by uncertainty: \(order)")
        #expect(ReviewSampler.order([], labelled: []).isEmpty && ReviewSampler.order(c, labelled: [], count: 0).isEmpty)
    }

    @Test func embeddingsRoundTripAsHalvesAndBadBlobsAreRefused() {
        let v: [Float] = [0, 1, -2.5, 0.0001, 1e6, -1e6, .infinity, 3.14159]
        let d = EmbeddingCodec.encode(v)
        #expect(d.count == 16)
        let back = EmbeddingCodec.decode(d)!
        #expect(back[0] == 0 && back[1] == 1 && back[2] == -2.5 && abs(back[7] - 3.14159) < 0.002)
        #expect(back[4] == 65504 && back[5] == -65504 && back[6] == 65504, "clamped to the largest half: \(back)")
        #expect(EmbeddingCodec.decode(EmbeddingCodec.encode([.nan]))!.first!.isNaN)
        #expect(EmbeddingCodec.decode(Data([1, 2, 3])) == nil && EmbeddingCodec.decode(Data()) == nil)
    }
}
