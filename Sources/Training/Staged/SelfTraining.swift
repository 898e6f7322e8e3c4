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
        public var skipped: Int
        public var thresholds: Thresholds
        public var good: Int
        public var defective: Int
    }

    /// The thresholds on validation scores (any monotone score; labels 0 good, else defect):
    /// the longest run of the lowest scores with at most `goodImpurity` defective among them,
    /// and of the highest with at most `defectImpurity` good, each of `minimumSupport` parts
    /// at least. Ties are kept together: a run ends only between two different scores.
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
        var defect = longestPure(pairs.reversed(), impure: { $0 == 0 }, limit: defectImpurity)
        // a weak teacher's runs can meet: the defect run may not reach into the good one
        if let g = good, let d = defect, d <= g { defect = nil }
        return Thresholds(good: good, defect: defect)
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
    /// that holds none fails at once; nil without the option.
    func unlabeledFrames(_ d: Split) throws -> (frames: ImageDataset, skipped: Int)? {
        guard let dir = options.unlabeled else { return nil }
        let items = try Pretrainer.frames(dir)
        let loaded = try ImageFolder.load(dir, items, shape: d.all.shape, workers: Compute.current().threads) { [onLoad] in onLoad?($0, items.count) }
        guard !loaded.kept.isEmpty else { throw TrainingError.dataset(path: dir, reason: "none of its \(items.count) images could be read") }
        let frames = ImageDataset(shape: d.all.shape, classNames: d.all.classNames, pixels: loaded.pixels, labels: loaded.kept.map { _ in 0 })
        return (frames, loaded.skipped.count)
    }

    /// The teacher's round is done; a student learns from its labels and the teacher's sure
    /// pseudo-labels on `unlabeled` (`SelfTraining`) and is returned in its place.
    func selfTrained(_ teacher: StageOne, _ unlabeled: (frames: ImageDataset, skipped: Int), train: ImageDataset) throws -> StageOne {
        let frames = unlabeled.frames
        let norm = teacher.config.normalization, flip = options.flipAverage
        func scores(_ data: ImageDataset) -> [Double] {
            logits(teacher.network, on: data, normalization: norm, flipAverage: flip).map { StageOneCalibration.defectProbability($0, temperature: 1) }
        }
        let t = SelfTraining.thresholds(scores: scores(teacher.validation), labels: teacher.validation.labels)
        let picked = SelfTraining.pseudoLabels(scores(frames), t)
        let good = picked.filter { $0.label == 0 }.count
        let summary = SelfTraining.Summary(frames: frames.count, skipped: unlabeled.skipped, thresholds: t, good: good, defective: picked.count - good)
        var one = teacher
        one.selfTraining = summary
        onStage?("stage 1, self-training: of \(frames.count) unlabeled frames, \(good) pseudo-labelled good and \(summary.defective) defective "
                 + "(the scores validation is sure of: good at or under \(t.good.map { String(format: "%.3f", $0) } ?? "none"), "
                 + "defective at or over \(t.defect.map { String(format: "%.3f", $0) } ?? "none"))"
                 + (picked.isEmpty ? "; stage 1 stays the one learnt from labels alone" : "; a fresh stage 1 learns from labels and pseudo-labels"),
                 train.count + picked.count, teacher.validation.count)
        guard !picked.isEmpty else { return one }
        let sure = frames.subset(picked.map(\.index))
        let both = ImageDataset(shape: train.shape, classNames: train.classNames, pixels: train.pixels + sure.pixels,
                                labels: train.labels + picked.map(\.label))
        var config = stageOneConfig(teacher.spec)
        let student = try network(teacher.spec, "stage1", &config)
        try self.train(student, config, both, teacher.validation, distillation: try self.teacher())
        (one.network, one.config) = (student, config)
        return one
    }
}
