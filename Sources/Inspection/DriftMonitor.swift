import Foundation
import Imaging
import Neural

/// The drift watch's settings (`[drift]`).
public struct DriftSettings: Equatable, Sendable {
    public var enabled = true
    /// Frames in the rolling window compared with the model's training data.
    public var window = 200
    /// A statistic's window mean this many training spreads (standard deviations over the
    /// training images) from the training mean scores 1: the alarm.
    public var maxShift = 2.0
    /// The population stability index of stage 1's scores on the window against the good
    /// validation parts' that scores 1 (0.25: the usual "significant shift").
    public var maxPSI = 0.25
    public init() {}
}

/// One camera's drift, as of its last frame.
public struct DriftReading: Equatable, Sendable {
    /// The largest of the components, each divided by its alarm level: 1 or more is drift.
    public var score: Double
    /// Per statistic (brightness, contrast, sharpness): (window mean - training mean) / training
    /// spread; "embedding": the window's median embedding distance against the good parts' (in
    /// their spreads), when the model has an embedding reference.
    public var shifts: [String: Double]
    /// Stage 1's scores on the window against the good validation parts' (PSI).
    public var psi: Double
    /// The component that scores highest.
    public var worst: String
    public var frames: Int
    public var alarm: Bool
    /// Frames this watch has seen in all (orders readings from several workers).
    public var observed: UInt64 = 0
    /// The identity of the watch (a new model's watch starts over).
    public var model: ObjectIdentifier?

    /// For logs, flag notes and screens: "brightness -3.1 spreads, scores PSI 0.08 (score 1.55 over 200 frames)".
    public var summary: String {
        let parts = (InputStatistics.names + ["embedding"]).compactMap { n in shifts[n].map { "\(n) \(Self.signed($0)) spreads" } }
        return (parts + [String(format: "scores PSI %.2f", psi)]).joined(separator: ", ")
            + String(format: " (drift %.2f", score) + ", worst \(worst), over \(frames) frames)"
    }

    static func signed(_ v: Double) -> String { (v >= 0 ? "+" : "") + String(format: "%.1f", v) }
}

/// Watches what one camera sees against a stage-1 model's `InputReference`: a rolling window
/// of the input statistics, stage 1's scores (those once the window is full) and how far the
/// frames' embeddings lie from the good parts' (the median: the few defective parts a line
/// sees do not move it; a change that fails every part does). The alarm
/// rises when the drift score reaches 1 with at least a quarter of the window seen, and
/// clears below 0.8; while it is
/// up, one frame per window is asked for as a sample to review. Not thread-safe: its
/// pipeline calls it under a lock.
public final class DriftMonitor {
    public let reference: InputReference
    public let settings: DriftSettings
    /// Stage-1 scores from this tenth of 0...1 up are left out of the score comparison on
    /// both sides: the reference holds good parts only, the line also defective ones, whose
    /// scores (at and over the fail threshold) are not drift.
    let scoreBins: Int
    /// Fixed at the start: each statistic's reference (in `InputStatistics.names` order), and
    /// the good parts' score shares under the fail threshold with their total.
    private let moments: [InputReference.Moments?]
    private let keptShares: [Double]
    private let keptMass: Double
    private var values: [[Double]]
    private var scores: [Int?]
    private var next = 0, count = 0
    private var sums: [Double]
    private var bins: [Int]
    private var scored = 0
    private var sinceSample = 0
    /// Embedding distances of the window's frames (nil: no embedding).
    private var distances: [Double?]
    private var distanceCount = 0
    private var cachedMedian: Double?
    private var medianAge = 0
    private var observed: UInt64 = 0
    public private(set) var reading: DriftReading?

    /// `failThreshold`: stage 1's (scores at or over it are fails, left out of the PSI).
    public init(reference: InputReference, settings: DriftSettings, failThreshold: Double = 1) {
        self.reference = reference
        self.settings = settings
        scoreBins = failThreshold.isFinite ? max(0, min(10, Int(failThreshold * 10))) : 10
        moments = InputStatistics.names.map { reference.statistics[$0] }
        keptShares = reference.goodScores.count == 10 ? Array(reference.goodScores.prefix(scoreBins)) : []
        keptMass = keptShares.reduce(0, +)
        let n = max(1, settings.window)
        values = Array(repeating: Array(repeating: 0, count: n), count: InputStatistics.names.count)
        scores = Array(repeating: nil, count: n)
        distances = Array(repeating: nil, count: n)
        sums = Array(repeating: 0, count: InputStatistics.names.count)
        bins = Array(repeating: 0, count: 10)
    }

    /// Adds one judged frame (`embedding`: stage 1's, `Embedding`); returns the reading and
    /// whether this frame is a drift sample (the alarm just rose, or a window's worth of frames
    /// passed under it).
    public func observe(_ s: InputStatistics, score: Double?, embedding: [Float]? = nil) -> (reading: DriftReading, sample: Bool) {
        let n = values[0].count
        if count == n {   // the oldest frame leaves the window
            for k in sums.indices { sums[k] -= values[k][next] }
            if let b = scores[next] { bins[b] -= 1; scored -= 1 }
            if distances[next] != nil { distanceCount -= 1 }
        } else {
            count += 1
        }
        let v = s.values
        for k in sums.indices {
            values[k][next] = v[k].isFinite ? v[k] : 0
            sums[k] += values[k][next]
        }
        let bin = score.flatMap { $0.isFinite ? min(9, max(0, Int($0 * 10))) : nil }.flatMap { $0 < scoreBins ? $0 : nil }
        scores[next] = bin
        if let bin { bins[bin] += 1; scored += 1 }
        distances[next] = embedding.flatMap { reference.embedding?.distance($0) }
        if distances[next] != nil { distanceCount += 1 }
        next = (next + 1) % n
        let r = measure()
        let ready = count * 4 >= n
        let was = reading?.alarm ?? false
        let alarm = ready && (was ? r.score >= 0.8 : r.score >= 1)
        var out = r
        out.alarm = alarm
        observed += 1
        (out.observed, out.model) = (observed, ObjectIdentifier(self))
        reading = out
        var sample = false
        if alarm {
            sinceSample += 1
            if !was || sinceSample >= n { sample = true; sinceSample = 0 }
        } else {
            sinceSample = 0
        }
        return (out, sample)
    }

    private func measure() -> DriftReading {
        var shifts: [String: Double] = [:]
        var parts: [(String, Double)] = []
        for (k, name) in InputStatistics.names.enumerated() {
            guard let m = moments[k] else { continue }
            // a spread under 0.01 (2.5 grey levels) is taken as 0.01: very uniform training
            // images must not make a change of a grey level an alarm
            let shift = (sums[k] / Double(count) - m.mean) / max(m.std, 0.01)
            shifts[name] = shift
            parts.append((name, abs(shift) / settings.maxShift))
        }
        // from a quarter of the window (and 10 frames) on; only farther out is drift: a window
        // of parts alike, closer than the good parts' median, is not
        if let e = reference.embedding, e.parts >= EmbeddingReference.minimumParts, distanceCount >= max(10, values[0].count / 4) {
            // the median sorts the window: once every fiftieth of a window is enough
            if medianAge <= 0 || cachedMedian == nil {
                cachedMedian = EmbeddingReference.median(distances.compactMap { $0 })
                medianAge = max(1, values[0].count / 50)
            }
            medianAge -= 1
            // a spread of at least 5 % of the median distance: good parts alike in the
            // reference must not make a small change many spreads
            let shift = (cachedMedian! - e.medianDistance) / max(e.distance.std, 0.05 * e.medianDistance, 0.01)
            shifts["embedding"] = shift
            parts.append(("embedding", max(0, shift) / settings.maxShift))
        }
        var psi = 0.0
        // Only over a full window and a reference of 30 good parts or more, over the bins
        // under the fail threshold (each side renormalized to them), each side smoothed by
        // half a part in every bin for its own count, so a bin one side happens to miss or
        // catch once does not swing it.
        let kept = keptShares, mass = keptMass
        if count == values[0].count, scored >= 10, reference.goodParts >= 30, mass > 0 {
            let n = Double(scored), m = Double(reference.goodParts) * mass, k = Double(kept.count)
            for b in kept.indices {
                let p = (Double(bins[b]) + 0.5) / (n + 0.5 * k), q = (kept[b] / mass * m + 0.5) / (m + 0.5 * k)
                psi += (p - q) * log(p / q)
            }
        }
        parts.append(("scores", psi / settings.maxPSI))
        let worst = parts.max { $0.1 < $1.1 }!
        return DriftReading(score: worst.1, shifts: shifts, psi: psi, worst: worst.0, frames: count, alarm: false)
    }
}
