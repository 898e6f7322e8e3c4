import Foundation
import LinesightCore
import Neural
import Store

/// How the daemon orders the frames the model doubted (`[flagging] review_order`).
public enum ReviewOrder: String, CaseIterable, Sendable {
    /// The most uncertain, spread over what the line sees (`ReviewSampler`: uncertainty
    /// times distance, in stage 1's embedding, to every frame labelled or placed before).
    case diverse
    /// The most uncertain first.
    case uncertainty
    /// Newest first (no placing: the queue's order by reason and time).
    case newest
}

/// Places doubted frames in review order: the pure half of `InspectionService.orderReviewQueue`.
public struct ReviewQueueOrder {
    public var order: ReviewOrder
    public var thresholds: Thresholds
    /// The stage-1 model whose embeddings are comparable (others' count as having none).
    public var model: String
    /// Each embedding dimension's spread over the model's good parts (its reference); nil:
    /// the spreads over the frames being placed and labelled.
    public var spreads: [Double]?

    public init(order: ReviewOrder, thresholds: Thresholds, model: String, spreads: [Double]?) {
        (self.order, self.thresholds, self.model, self.spreads) = (order, thresholds, model, spreads)
    }

    /// How much the models doubted a frame, 0...1: stage 1's score against the middle of its
    /// unsure band, or stage 2's least sure kind against that kind's threshold, whichever is
    /// more uncertain.
    public func uncertainty(_ c: ReviewCandidate) -> Double {
        var u = 0.0
        if let s = c.stage1Score {
            u = ReviewSampler.uncertainty(s, threshold: min(0.99, max(0.01, (thresholds.pass + thresholds.fail) / 2)))
        }
        if let json = c.stage2Scores, let scores = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] {
            for (kind, v) in scores {
                guard let p = (v as? NSNumber)?.doubleValue else { continue }
                u = max(u, ReviewSampler.uncertainty(p, threshold: min(0.99, max(0.01, thresholds.defect(kind)))))
            }
        }
        return u
    }

    /// The candidates' verdict ids in review order (empty for `newest`).
    public func place(_ candidates: [ReviewCandidate], labelled: [Data]) -> [Int64] {
        switch order {
        case .newest:
            return []
        case .uncertainty:
            let u = candidates.map(uncertainty)
            return ReviewSampler.mostUncertain(u, count: u.count).map { candidates[$0].verdictId }
        case .diverse:
            let vectors = candidates.map { c in c.embeddingModel == model ? c.embedding.flatMap(EmbeddingCodec.decode) : nil }
            let known = labelled.compactMap(EmbeddingCodec.decode)
            // each dimension at least a thousandth of the mean spread, as the drift watch
            // counts it: a channel good parts hardly light must not outweigh all the others
            let raw = spreads.map { $0.map(Float.init) } ?? ReviewSampler.spreads(vectors.compactMap { $0 } + known)
            let floor = max(1e-6, raw.reduce(0, +) / Float(max(1, raw.count)) * 1e-3)
            let scale = raw.map { max($0, floor) }
            func scaled(_ e: [Float]) -> [Float] { e.count == scale.count ? zip(e, scale).map { $0 / $1 } : [] }
            let items = zip(candidates, vectors).map { c, e in
                ReviewSampler.Candidate(uncertainty: uncertainty(c), embedding: e.map(scaled) ?? [])
            }
            return ReviewSampler.order(items, labelled: known.map(scaled)).map { candidates[$0].verdictId }
        }
    }

}

extension InspectionService {
    /// Places the open uncertain and low-stage-2 flags in the order review takes them
    /// (`[flagging] review_order`), against the running stage-1 model; returns how many
    /// frames were placed. Called by the housekeeping service every minute and after
    /// `start()`; safe from any thread (the store serializes it).
    @discardableResult
    public func orderReviewQueue() throws -> Int {
        guard config.flags.reviewOrder != .newest else {
            try store.placeInReview([])   // places an earlier order left are cleared
            return 0
        }
        let (thresholds, model, spreads) = apiLock.withLock {
            (apiClassifier.thresholds, apiClassifier.stage1.version, apiClassifier.stage1.metadata.inputReference?.embedding?.std)
        }
        let candidates = try store.reviewCandidates(limit: ReviewQueueOrder.candidateLimit)
        let order = ReviewQueueOrder(order: config.flags.reviewOrder, thresholds: thresholds, model: model, spreads: spreads)
        let labelled = config.flags.reviewOrder == .diverse ? try store.labelledEmbeddings(model: model, limit: ReviewQueueOrder.labelledLimit) : []
        let placed = order.place(candidates, labelled: labelled)
        try store.placeInReview(placed)
        return placed.count
    }
}

extension ReviewQueueOrder {
    /// The newest doubted frames placed each time, and labelled frames compared with: about
    /// a tenth of a second of one core at 128 dimensions.
    public static let candidateLimit = 1000
    public static let labelledLimit = 1000
}
