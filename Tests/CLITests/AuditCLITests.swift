import Foundation
import GRDB
import Imaging
import LinesightCore
import Neural
import Store
import TestSupport
import Testing

@Suite("linesight audit-labels")
struct AuditCLITests {
    @Test func suspectLabelsGoBackToTheReviewQueueWithTheirFigures() throws {
        let dir = try TemporaryDirectory.make("audit")
        try FileManager.default.createDirectory(atPath: dir + "/data/frames", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir + "/models", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try """
        [store]
        database = "data/inspection.sqlite"
        frames = "data/frames"
        [models]
        stage1 = "models/stage1.safetensors"
        [[cameras]]
        id = "cam1"
        """.write(toFile: dir + "/linesight.toml", atomically: true, encoding: .utf8)
        let cfg = ["--config", dir + "/linesight.toml"]
        let net = try Network(Zoo.smallResNet(input: Shape(1, 16, 16), classes: 2, depth: 8, width: 4), seed: 1)
        try ModelFile.save(net, ModelMetadata(spec: net.spec, classes: ["good", "defect"], normalization: .init(mean: [0.3], std: [0.25]),
                                              provenance: .init(created: "t")), to: dir + "/first.safetensors")
        let registered = try CLI.run(["models", "register", dir + "/first.safetensors", "--stage", "1"] + cfg)
        #expect(registered.status == 0, "\(registered.err)")
        let version = String(try Hashing.sha256(file: dir + "/first.safetensors").prefix(12))
        #expect(try CLI.run(["models", "promote", version] + cfg).status == 0)

        // 120 labeled frames: dark parts, defective ones with a bright blob; 4 labels wrong.
        let store = try Store(path: dir + "/data/inspection.sqlite")
        try store.register(camera: "cam1", source: "synthetic")
        let encoder = try JPEGEncoder()
        var rng = SeededGenerator(seed: 3)
        var bundles: [VerdictBundle] = []
        for i in 0..<120 {
            var image = Image(width: 24, height: 24, layout: .gray)
            for p in 0..<(24 * 24) { image.pixels[p] = UInt8(50 + rng.below(31)) }
            if i % 3 == 0 { for y in 8...14 { for x in (4 + i % 12)...(10 + i % 12) { image.pixels[y * 24 + x] = 230 } } }
            let bytes = try encoder.encode(image, quality: 95)
            try Data(bytes).write(to: URL(fileURLWithPath: dir + "/data/frames/f\(i).jpg"))
            let v = VerdictRecord(cameraId: "cam1", capturedAt: 1_800_000_000 + Double(i), frameSequence: Int64(i), stage1Score: 0.5,
                                  decision: .pass, stage1Model: version, totalMs: 1, flags: [.audit])
            bundles.append(VerdictBundle(verdict: v, frame: FrameRecord(path: "f\(i).jpg", sha256: String(repeating: "0", count: 64),
                                                                      bytes: Int64(bytes.count), width: 24, height: 24, keptBecause: .audit)))
        }
        try store.insert(bundles)
        let frames = try store.pool.read { db in try Int64.fetchAll(db, sql: "SELECT fr.id FROM frames fr JOIN verdicts v ON v.id = fr.verdict_id ORDER BY v.frame_sequence") }
        let wrong: Set<Int> = [4, 30, 61, 93]   // 30 is a blob labeled good; the others are good parts labeled blob
        try store.label(frames.enumerated().map { i, id in (id, (i % 3 == 0) != wrong.contains(i) ? ["blob"] : []) }, who: "qa", source: "review")

        let r = try CLI.run(["audit-labels", "--folds", "3", "--epochs", "8", "--confidence", "0.8", "--report", dir + "/audit.csv", "--threads", "1"] + cfg)
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("labels are suspect") && r.out.contains("fold 3/3"))
        let report = try String(contentsOfFile: dir + "/audit.csv", encoding: .utf8).split(separator: "\n")
        #expect(report.count == 121, "a header and a row per label")
        let suspects = try store.pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT fr.id, f.note FROM flags f JOIN frames fr ON fr.verdict_id = f.verdict_id WHERE f.reason = 'suspect_label' AND f.status = 'open'
                """).map { ($0[0] as Int64, $0[1] as String) }
        }
        let wrongIds = Set(wrong.map { frames[$0] })
        let found = Set(suspects.map(\.0)).intersection(wrongIds)
        let wrongRows = wrong.map { i in report.first { $0.contains("/f\(i).jpg") }.map { String($0.split(separator: "/").last!) } ?? "f\(i).jpg missing" }
        #expect(found.count >= 3, "found \(found.count) of 4 wrong labels among \(suspects.count) suspects: \(wrongRows)")
        print("audit of the wrong labels: \(wrongRows)")
        #expect(suspects.count <= 8)
        #expect(suspects.allSatisfy { $0.1.contains("out-of-fold P(defect)") })
        // They come first in the review queue, with their figures.
        let queue = try CLI.run(["flagged", "list", "--json"] + cfg)
        let first = try #require((try JSONSerialization.jsonObject(with: Data(queue.out.utf8)) as? [[String: Any]])?.first)
        #expect(first["reason"] as? String == "suspect_label" && (first["note"] as? String)?.contains("labeled") == true)
        // A dry run flags nothing new.
        try store.pool.write { db in try db.execute(sql: "DELETE FROM flags WHERE reason = 'suspect_label'") }
        let dry = try CLI.run(["audit-labels", "--folds", "3", "--epochs", "2", "--dry-run", "--threads", "1"] + cfg)
        #expect(dry.status == 0 && dry.out.contains("dry run: nothing flagged"))
        #expect(try store.pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM flags WHERE reason = 'suspect_label'") } == 0)
    }
}
