import Foundation
import LinesightCore
import Store
import Testing
@testable import Inspection

@Suite("The review queue's order")
struct ReviewQueueOrderTests {
    static let t = Thresholds(fail: 0.7, pass: 0.3, defect: 0.5, stage2Confident: 0.6, unsure: .stage2)

    static func candidate(_ id: Int64, _ s1: Double?, stage2: String? = nil, embedding: [Float]? = nil, model: String = "m1") -> ReviewCandidate {
        ReviewCandidate(verdictId: id, stage1Score: s1, stage2Scores: stage2, embedding: embedding.map(EmbeddingCodec.encode), embeddingModel: model)
    }

    @Test func uncertaintyReadsStageOneAgainstItsBandAndStageTwoAgainstEachKind() {
        var t = Self.t
        t.defectPerKind = ["dent": 0.2]
        let o = ReviewQueueOrder(order: .uncertainty, thresholds: t, model: "m1", spreads: nil)
        #expect(o.uncertainty(Self.candidate(1, 0.5)) == 1, "the middle of the unsure band")
        #expect(abs(o.uncertainty(Self.candidate(1, 0.1)) - 0.2) < 1e-9)
        // a stage-1 fail (sure) whose stage 2 doubts its kind: dent's own threshold is 0.2
        #expect(abs(o.uncertainty(Self.candidate(1, 0.95, stage2: #"{"dent": 0.2, "scratch": 0.01}"#)) - 1) < 1e-9)
        #expect(o.uncertainty(Self.candidate(1, nil, stage2: #"{"dent": "x"}"#)) == 0, "no score, nonsense JSON: sure")
        #expect(o.uncertainty(Self.candidate(1, 0.95, stage2: "not json")) < 0.2)
        let placed = o.place([Self.candidate(1, 0.1), Self.candidate(2, 0.5), Self.candidate(3, 0.35)], labelled: [])
        #expect(placed == [2, 3, 1])
        #expect(ReviewQueueOrder(order: .newest, thresholds: t, model: "m1", spreads: nil).place([Self.candidate(1, 0.5)], labelled: []).isEmpty)
    }

    @Test func diverseSpreadsOverEmbeddingsOfTheRunningModelOnly() {
        let o = ReviewQueueOrder(order: .diverse, thresholds: Self.t, model: "m1", spreads: [1, 1])
        let c = [Self.candidate(1, 0.5, embedding: [0, 0]), Self.candidate(2, 0.5, embedding: [0.01, 0]),
                 Self.candidate(3, 0.45, embedding: [5, 5]),
                 Self.candidate(4, 0.5, embedding: [9, 9], model: "m0"),   // another model's space
                 Self.candidate(5, 0.5)]
        let placed = o.place(c, labelled: [])
        #expect(placed.count == 5)
        #expect(Set(placed.prefix(2)) == [1, 3] || Set(placed.prefix(2)) == [2, 3], "the far one before the near twin: \(placed)")
        #expect(Set(placed.suffix(2)) == [4, 5], "without a comparable embedding, last: \(placed)")
        // a frame like one already labelled waits
        let after = o.place(Array(c.prefix(3)), labelled: [EmbeddingCodec.encode([5, 5])])
        #expect(after.last == 3, "\(after)")
        // without the model's spreads: those of the frames themselves
        let own = ReviewQueueOrder(order: .diverse, thresholds: Self.t, model: "m1", spreads: nil).place(c, labelled: [])
        #expect(own.count == 5 && own.prefix(2).contains(3) && Set(own.suffix(2)) == [4, 5], "\(own)")
    }
}
