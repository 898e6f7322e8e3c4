import Foundation
import Neural

/// Semi-supervised stage 1 by self-training (`train --unlabeled DIR`): a line has far more
/// frames than labels. Stage 1 first learns from the labels alone (the teacher); it then
/// scores every unlabeled frame, and the frames it is sure of become pseudo-labelled parts:
/// good below a score under which validation holds at most 1 % defective parts, defective
/// above one over which validation holds at most 5 % good ones (both picked on the labelled
/// validation split, so a weak teacher pseudo-labels little). A fresh stage 1 (the student)
/// then learns from the labels and the pseudo-labels together, with the same recipe and
/// augmentation, and replaces the teacher. Stage 2 learns kinds from labels only.
public enum SelfTraining {
    /// Most share of defective parts among validation parts at or under the good threshold.
    public static let goodImpurity = 0.01
    /// Most share of good parts among validation parts at or over the defect threshold.
    public static let defectImpurity = 0.05
    /// Fewest validation parts a threshold may rest on.
    public static let minimumSupport = 10

    /// Scores at or under `good` are pseudo-labelled good, at or over `defect` defective; nil:
    /// none of that class (validation holds no run of parts that pure).
    public struct Thresholds: Equatable, Sendable {
        public var good: Double?
        public var defect: Double?
    }

    /// What self-training did, for the summary and the model file.
    public struct Summary: Equatable, Sendable {
        public var frames: Int
        /// Unreadable frames.
        public var skipped: Int
        /// Frames with the very pixels of a labelled image (validation and test among them), left out.
        public var labelledAlready: Int
        public var thresholds: Thresholds
        public var good: Int
        public var defective: Int
        /// Sure frames left out by the cap (`maximumShare`), the least sure first.
        public var capped: Int
        /// Every pseudo-labelled frame: its path under the folder, the teacher's score, 0 good or 1 defective.
        public var pseudoLabels: [PseudoLabel] = []
    }

    public struct PseudoLabel: Equatable, Sendable {
        public var file: String
        public var score: Double
        public var label: Int32
    }

    /// At most this many pseudo-labels per labelled training image (the surest kept, `cap`),
    /// so the student's time is bounded by the labels (at most twice the teacher's), not by
    /// how many frames a line has kept.
    public static let maximumShare = 1

    /// The surest `limit` of `picked` (good ones by low score, defective by high), in index order.
    public static func cap(_ picked: [(index: Int, label: Int32)], scores: [Double], limit: Int) -> [(index: Int, label: Int32)] {
        guard picked.count > limit else { return picked }
        func doubt(_ p: (index: Int, label: Int32)) -> Double { p.label == 0 ? scores[p.index] : 1 - scores[p.index] }
        return Array(picked.sorted { (doubt($0), $0.index) < (doubt($1), $1.index) }.prefix(limit)).sorted { $0.index < $1.index }
    }

    /// The thresholds on validation scores (any monotone score; labels 0 good, else defect):
    /// the longest run of the lowest scores with at most `goodImpurity` defective among them,
    /// and of the highest with at most `defectImpurity` good, each of `minimumSupport` parts
    /// at least, the defect run above the good one. Ties are kept together: a run ends only
    /// between two different scores.
    public static func thresholds(scores: [Double], labels: [Int32]) -> Thresholds {
        precondition(scores.count == labels.count)
        let pairs = zip(scores, labels).filter { $0.0.isFinite }.sorted { $0.0 < $1.0 }
        func longestPure(_ ordered: [(Double, Int32)], impure: (Int32) -> Bool, limit: Double) -> Double? {
            var bad = 0, best: Double?
            for (i, p) in ordered.enumerated() {
                if impure(p.1) { bad += 1 }
                let n = i + 1
                guard n >= minimumSupport, n == ordered.count || ordered[i + 1].0 != p.0 else { continue }
                if Double(bad) <= limit * Double(n) { best = p.0 }
            }
            return best
        }
        let good = longestPure(pairs, impure: { $0 != 0 }, limit: goodImpurity)
        // a weak teacher's runs could meet: the defect run is sought above the good one only
        let above = good.map { g in pairs.filter { $0.0 > g } } ?? pairs
        return Thresholds(good: good, defect: longestPure(above.reversed(), impure: { $0 == 0 }, limit: defectImpurity))
    }

    /// Indices and pseudo-labels (0 good, 1 defective) of the scores the thresholds are sure of.
    public static func pseudoLabels(_ scores: [Double], _ t: Thresholds) -> [(index: Int, label: Int32)] {
        scores.enumerated().compactMap { i, s in
            guard s.isFinite else { return nil }
            if let g = t.good, s <= g { return (i, 0) }
            if let d = t.defect, s >= d { return (i, 1) }
            return nil
        }
    }
}

extension StagedTrainer {
    /// `--unlabeled`'s frames at the model's input, read before any training so a folder
    /// that holds none fails at once; nil without the option. Frames with the very pixels of
    /// a labelled image (a frame store that also holds the validation or test parts) are left
    /// out, so no labelled part comes back pseudo-labelled.
    func unlabeledFrames(_ d: Split) throws -> UnlabeledFrames? {
        guard let dir = options.unlabeled else { return nil }
        do {
            let items = try Pretrainer.frames(dir)
            let loaded = try ImageFolder.load(dir, items, shape: d.all.shape, workers: Compute.current().threads) { [onLoad] in onLoad?($0, items.count) }
            guard !loaded.kept.isEmpty else { throw TrainingError.dataset(path: dir, reason: "none of its \(items.count) images could be read") }
            let per = d.all.shape.count
            func key(_ px: [UInt8], _ i: Int) -> UInt64 { FNV1a.hash(px[(i * per)..<((i + 1) * per)]) }
            let labelled = Set((0..<d.all.count).map { key(d.all.pixels, $0) })
            let fresh = loaded.kept.indices.filter { !labelled.contains(key(loaded.pixels, $0)) }
            let all = ImageDataset(shape: d.all.shape, classNames: d.all.classNames, pixels: loaded.pixels, labels: loaded.kept.map { _ in 0 })
            return UnlabeledFrames(frames: all.subset(fresh), files: fresh.map { loaded.kept[$0].file },
                                   skipped: loaded.skipped.count, labelledAlready: loaded.kept.count - fresh.count)
        } catch TrainingError.dataset(let path, let reason) {
            throw TrainingError.dataset(path: path, reason: "--unlabeled: " + reason)
        }
    }

    struct UnlabeledFrames {
        var frames: ImageDataset
        var files: [String]
        var skipped: Int, labelledAlready: Int
    }

    /// The teacher's round is done; a student learns from its labels and the teacher's sure
    /// pseudo-labels on `unlabeled` (`SelfTraining`) and is returned in its place.
    func selfTrained(_ teacher: StageOne, _ unlabeled: UnlabeledFrames, train: ImageDataset) throws -> StageOne {
        let frames = unlabeled.frames
        let norm = teacher.config.normalization, flip = options.flipAverage
        func scores(_ data: ImageDataset) -> [Double] {
            data.count == 0 ? [] : logits(teacher.network, on: data, normalization: norm, flipAverage: flip).map { StageOneCalibration.defectProbability($0, temperature: 1) }
        }
        let t = SelfTraining.thresholds(scores: scores(teacher.validation), labels: teacher.validation.labels)
        let frameScores = scores(frames)
        let sure = SelfTraining.pseudoLabels(frameScores, t)
        let picked = SelfTraining.cap(sure, scores: frameScores, limit: SelfTraining.maximumShare * train.count)
        let good = picked.filter { $0.label == 0 }.count
        var summary = SelfTraining.Summary(frames: frames.count, skipped: unlabeled.skipped, labelledAlready: unlabeled.labelledAlready, thresholds: t,
                                           good: good, defective: picked.count - good, capped: sure.count - picked.count)
        summary.pseudoLabels = picked.map { SelfTraining.PseudoLabel(file: unlabeled.files[$0.index], score: frameScores[$0.index], label: $0.label) }
        var one = teacher
        one.selfTraining = summary
        onStage?("stage 1, self-training: of \(frames.count) unlabeled frames, \(good) pseudo-labelled good and \(summary.defective) defective "
                 + "(the scores validation is sure of: good at or under \(t.good.map { String(format: "%.3f", $0) } ?? "none"), "
                 + "defective at or over \(t.defect.map { String(format: "%.3f", $0) } ?? "none"))"
                 + (summary.capped > 0 ? ", the surest \(picked.count) of \(sure.count) (as many as there are labels)" : "")
                 + (picked.isEmpty ? "; stage 1 stays the one learnt from labels alone" : "; a fresh stage 1 learns from labels and pseudo-labels"),
                 train.count + picked.count, teacher.validation.count)
        guard !picked.isEmpty else { return one }
        let chosen = frames.subset(picked.map(\.index))
        let both = ImageDataset(shape: train.shape, classNames: train.classNames, pixels: train.pixels + chosen.pixels,
                                labels: train.labels + picked.map(\.label))
        var config = stageOneConfig(teacher.spec)
        config.seed ^= 0x5E1F_7EAC  // its own order and augmentation draws, not the teacher's
        let student = try network(teacher.spec, "stage1", &config)
        try self.train(student, config, both, teacher.validation, distillation: try self.teacher())
        (one.network, one.config) = (student, config)
        return one
    }
}
