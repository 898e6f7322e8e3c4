import Foundation
import Imaging
import Neural
import TestSupport
import Testing
@testable import Training

@Suite("Self-training on unlabeled frames")
struct SelfTrainingTests {
    @Test("the thresholds: the longest pure runs at either end of validation's scores, ties kept together, never meeting")
    func thresholdsArePickedOnValidation() {
        // 40 good parts scored 0-39, 40 defective 30-69: 30-39 is shared
        let scores = (0..<40).map { Double($0) } + (0..<40).map { 30 + Double($0) }
        let labels = [Int32](repeating: 0, count: 40) + [Int32](repeating: 1, count: 40)
        let t = SelfTraining.thresholds(scores: scores, labels: labels)
        // up to 29 all 30 are good; with 30 a good part and a defect join (1 of 32 defective: over 1 %)
        #expect(t.good == 29)
        // from the top, 69 down to 40 are 30 defects; with 39 a good part and a defect join
        // (1 of 32 good: within 5 %), with 38 another pair (2 of 34: over 5 %)
        #expect(t.defect == 39)
        let picked = SelfTraining.pseudoLabels([10, 29, 30, 50, .nan, 39, 100], t)
        #expect(picked.map(\.index) == [0, 1, 3, 5, 6] && picked.map(\.label) == [0, 0, 1, 1, 1])
        // ties: ten parts on one score, one of them defective, are one run or none
        let tied = SelfTraining.thresholds(scores: [Double](repeating: 20, count: 10) + (0..<10).map { 50 + Double($0) },
                                           labels: [1] + [Int32](repeating: 0, count: 9) + [Int32](repeating: 1, count: 10))
        #expect(tied.good == nil, "the tie holds a defect among ten: 10 %")
        #expect(tied.defect == 50)
        // fewer parts than the support: nothing pseudo-labelled
        #expect(SelfTraining.thresholds(scores: [0.1, 0.9], labels: [0, 1]) == .init(good: nil, defect: nil))
        // runs that would meet: 100 good parts at 0-99, a good one and 100 defects at 100-199.
        // The good run reaches 100 (1 defect in 102); from the top a defect run alone would
        // reach down to 96 (5 good in 106), so a frame at 98 would be both: the defect run is
        // sought above the good one, 101-199
        let meeting = SelfTraining.thresholds(scores: (0..<200).map { Double($0) } + [100], labels: (0..<200).map { $0 < 100 ? 0 : 1 } + [0])
        #expect(meeting.good == 100 && meeting.defect == 101)
        #expect(SelfTraining.pseudoLabels([0.5], .init(good: nil, defect: nil)).isEmpty)
        // the cap keeps the surest: good by low score, defective by high, back in frame order
        let frameScores = [0.01, 0.2, 0.99, 0.7, 0.05, 0.9]
        let sure: [(index: Int, label: Int32)] = [(0, 0), (1, 0), (2, 1), (3, 1), (4, 0), (5, 1)]
        let capped = SelfTraining.cap(sure, scores: frameScores, limit: 3)
        #expect(capped.map(\.index) == [0, 2, 4] && capped.map(\.label) == [0, 1, 0])
        #expect(SelfTraining.cap(sure, scores: frameScores, limit: 6).count == 6)
    }

    /// Gray 12x12 surfaces (each its own brightness, faint noise); a defect is a bright 3x3 pit.
    static func part(_ defective: Bool, _ rng: inout SeededGenerator) -> Image {
        let level = 60 + rng.below(60)
        var px = (0..<144).map { _ in UInt8(level + rng.below(7)) }
        if defective {
            let (x, y) = (1 + rng.below(8), 1 + rng.below(8))
            for dy in 0..<3 { for dx in 0..<3 { px[(y + dy) * 12 + x + dx] = 250 } }
        }
        return Image(width: 12, height: 12, layout: .gray, pixels: px)
    }

    @Test("a fresh stage 1 learns from few labels and the teacher's sure pseudo-labels, and says how many")
    func aStudentLearnsFromPseudoLabels() throws {
        try TemporaryDirectory.with("self-training") { dir in
            let encoder = try JPEGEncoder()
            var rng = SeededGenerator(seed: 11)
            func write(_ path: String, _ defective: Bool) throws {
                try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                try Data(try encoder.encode(Self.part(defective, &rng), quality: 95)).write(to: URL(fileURLWithPath: path))
            }
            // few labels: 16 good and 8 pitted parts to learn from; 30 + 10 for validation and test each
            for (split, good, bad) in [("train", 16, 8), ("val", 30, 10), ("test", 30, 10)] {
                for i in 0..<good { try write("\(dir)/tree/\(split)/good/\(i).jpg", false) }
                for i in 0..<bad { try write("\(dir)/tree/\(split)/pit/\(i).jpg", true) }
            }
            // 120 unlabeled frames, a quarter pitted, in nested folders whose names mean nothing; one
            // unreadable, and a test part's very file (a frame store that holds labelled parts too)
            for i in 0..<120 { try write("\(dir)/frames/cam\(i % 3)/\(i).jpg", i % 4 == 0) }
            try "not a jpeg".write(toFile: "\(dir)/frames/cam0/broken.jpg", atomically: true, encoding: .utf8)
            try FileManager.default.copyItem(atPath: "\(dir)/tree/test/pit/3.jpg", toPath: "\(dir)/frames/cam1/labelled.jpg")
            var o = StagedOptions()
            (o.architecture, o.width, o.stage1Epochs, o.stage2Epochs, o.batchSize) = (.light, 6, 12, 2, 8)
            (o.inputSize, o.syntheticDefectRate, o.unlabeled, o.flipAverage) = (InputSize(width: 12, height: 12), 0, "\(dir)/frames", false)
            let trainer = StagedTrainer(directory: "\(dir)/tree", options: o)
            var stages: [(String, Int)] = []
            trainer.onStage = { name, train, _ in stages.append((name, train)) }
            var epochs = 0
            trainer.onEpoch = { _ in epochs += 1 }
            let r = try trainer.run()
            let st = try #require(r.selfTraining)
            #expect(st.frames == 120 && st.skipped == 1 && st.labelledAlready == 1, "\(st)")
            // the teacher learns the pits from 24 labels and is sure of more frames than that: the
            // surest 24 are kept (as many as there are labels), both classes among them
            #expect(st.good + st.defective == 24 && st.capped > 0 && st.good > 0 && st.defective > 0, "\(st)")
            #expect(st.pseudoLabels.count == 24)
            // and they are right: frame i is pitted when i % 4 == 0
            let right = st.pseudoLabels.filter { p in
                let i = Int((p.file as NSString).lastPathComponent.dropLast(4)) ?? -1
                return i >= 0 && (i % 4 == 0) == (p.label == 1)
            }.count
            #expect(right >= 23, "\(st.pseudoLabels)")
            // the student trained on labels and pseudo-labels: stage 1 twice, then stage 2
            #expect(epochs == 12 + 12 + 2)
            let student = try #require(stages.first { $0.0.hasPrefix("stage 1, self-training") })
            #expect(student.1 == 24 + 24, "\(stages)")
            #expect(r.stage1.metadata.provenance.notes?.contains("self-trained: \(st.good) good and \(st.defective) defective pseudo-labels from 120 unlabeled frames") == true)
            // the student, which learnt mostly from pseudo-labels, still tells the held-out pits
            #expect((r.test.auroc ?? 0) > 0.95, "test ROC AUC \(String(describing: r.test.auroc))")
        }
    }

    @Test("a folder with no images, or none readable, is a clear error")
    func noFrames() throws {
        try TemporaryDirectory.with("self-training-none") { dir in
            let encoder = try JPEGEncoder()
            var rng = SeededGenerator(seed: 3)
            for (split, n) in [("train", 6), ("val", 6), ("test", 2)] {
                for i in 0..<n {
                    let path = "\(dir)/tree/\(split)/\(i % 2 == 0 ? "good" : "pit")/\(i).jpg"
                    try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                    try Data(try encoder.encode(Self.part(i % 2 == 1, &rng), quality: 95)).write(to: URL(fileURLWithPath: path))
                }
            }
            try FileManager.default.createDirectory(atPath: "\(dir)/empty", withIntermediateDirectories: true)
            var o = StagedOptions()
            (o.architecture, o.width, o.stage1Epochs, o.stage2Epochs, o.batchSize) = (.light, 4, 1, 1, 4)
            (o.inputSize, o.syntheticDefectRate, o.unlabeled) = (InputSize(width: 12, height: 12), 0, "\(dir)/empty")
            // refused before stage 1 trains: no epoch is spent on a run that cannot finish
            var epochs = 0
            func run() throws {
                let trainer = StagedTrainer(directory: "\(dir)/tree", options: o)
                trainer.onEpoch = { _ in epochs += 1 }
                _ = try trainer.run()
            }
            #expect(throws: TrainingError.dataset(path: "\(dir)/empty", reason: "--unlabeled: no JPEG images in it")) { try run() }
            try "x".write(toFile: "\(dir)/empty/a.jpg", atomically: true, encoding: .utf8)
            #expect(throws: TrainingError.dataset(path: "\(dir)/empty", reason: "--unlabeled: none of its 1 images could be read")) { try run() }
            #expect(epochs == 0)
        }
    }
}
