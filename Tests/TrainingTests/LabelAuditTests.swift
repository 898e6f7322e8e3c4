import Foundation
import Imaging
import Neural
import TestSupport
import Testing
@testable import Training

@Suite("Label audit")
struct LabelAuditTests {
    /// Dark noisy parts; defective ones carry a bright blob. Six labels are flipped.
    func dataset(_ dir: String) throws -> (items: [LabeledImage], flipped: Set<String>) {
        let encoder = try JPEGEncoder()
        var rng = SeededGenerator(seed: 11)
        var items: [LabeledImage] = [], flipped = Set<String>()
        for i in 0..<160 {
            let defective = i % 3 == 0
            var image = Image(width: 24, height: 24, layout: .gray)
            for p in 0..<(24 * 24) { image.pixels[p] = UInt8(50 + rng.below(30)) }
            if defective {
                let cx = 4 + rng.below(16), cy = 4 + rng.below(16)
                for y in (cy - 3)...(cy + 3) { for x in (cx - 3)...(cx + 3) { image.pixels[y * 24 + x] = 230 } }
            }
            let file = dir + "/part\(i).jpg"
            try Data(try encoder.encode(image, quality: 95)).write(to: URL(fileURLWithPath: file))
            let wrong = i % 27 == 5
            if wrong { flipped.insert(file) }
            let saysDefect = defective != wrong
            items.append(LabeledImage(file: file, label: saysDefect ? "blob" : "good", defects: saysDefect ? ["blob"] : []))
        }
        return (items, flipped)
    }

    @Test func outOfFoldScoresFindTheFlippedLabels() throws {
        let dir = try TemporaryDirectory.make("audit")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (items, flipped) = try dataset(dir)
        #expect(flipped.count == 6)
        let champion = try Network(Zoo.smallResNet(input: Shape(1, 16, 16), classes: 2, depth: 8, width: 4), seed: 1)
        try ModelFile.save(champion, ModelMetadata(spec: champion.spec, classes: ["good", "defect"], normalization: .init(mean: [0.3], std: [0.25]),
                                                  provenance: .init(created: "t")), to: dir + "/stage1.safetensors")
        var inputs = LabelAuditor.Inputs(championPath: dir + "/stage1.safetensors", items: items)
        inputs.folds = 4
        inputs.epochs = 8
        inputs.confidence = 0.8
        inputs.options.batchSize = 16
        let (findings, skipped) = try LabelAuditor().run(inputs)
        #expect(skipped.isEmpty)
        #expect(findings.count == items.count, "every image scored once")
        #expect(Set(findings.map(\.fold)) == [0, 1, 2, 3])
        let suspects = Set(findings.filter(\.suspect).map(\.item.file))
        let found = suspects.intersection(flipped)
        let flippedScores = findings.filter { flipped.contains($0.item.file) }
            .map { "\($0.item.file.split(separator: "/").last!) fold \($0.fold) \($0.reason)" }.sorted()
        #expect(found.count >= 5, "found \(found.count) of 6 flipped labels; suspects: \(suspects.count); \(flippedScores)")
        #expect(suspects.subtracting(flipped).count <= 3, "few correct labels called suspect: \(suspects.subtracting(flipped).count)")
        // Folds are stable: the same file always lands in the same one.
        #expect(findings.allSatisfy { $0.fold == LabelAuditor.fold($0.item.file, of: 4) })
    }

    @Test func tooFewLabelsAreRefusedClearly() throws {
        let dir = try TemporaryDirectory.make("audit")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (items, _) = try dataset(dir)
        let champion = try Network(Zoo.smallResNet(input: Shape(1, 16, 16), classes: 2, depth: 8, width: 4), seed: 1)
        try ModelFile.save(champion, ModelMetadata(spec: champion.spec, classes: ["good", "defect"], normalization: .init(mean: [0.3], std: [0.25]),
                                                  provenance: .init(created: "t")), to: dir + "/stage1.safetensors")
        let few = Array(items.filter { $0.defects.isEmpty }.prefix(10)) + Array(items.filter { !$0.defects.isEmpty }.prefix(2))
        #expect(throws: TrainingError.self) { _ = try LabelAuditor().run(LabelAuditor.Inputs(championPath: dir + "/stage1.safetensors", items: few)) }
    }
}
