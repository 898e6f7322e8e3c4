import Foundation
import GRDB
import LinesightCore
import Neural
import Store
import Testing
import TestSupport

@Suite("input drift, end to end", .serialized)
struct DriftCLITests {
    @Test("a synthetic camera whose lighting dims midway: the drift alarm rises in /metrics, the stats API and the log, samples are flagged 'drift', stats reports them")
    func dimmedLighting() throws {
        let change = 240
        let h = try ServeHarness(name: "drift", extraConfig: "[drift]\nwindow = 60\n[operator]\nenabled = true\n", camera: """
        [[cameras]]
        id = "line1"
        source = "synthetic"
        fps = 30
        width = 96
        height = 64
        lighting_change_after = \(change)
        lighting_gain = 0.45
        """)
        defer { try? FileManager.default.removeItem(atPath: h.dir) }
        // real models, trained on parts from the same camera as it was before the change
        #expect(try CLI.run(["synth", "--out", h.dir + "/parts", "--count", "400", "--size", "96x64", "--seed", "11"]).status == 0)
        let train = try CLI.run(["train", "--data", h.dir + "/parts", "--input-size", "48x32", "--epochs", "1", "--width", "4",
                                 "--threads", "1", "--out", h.dir + "/trained"])
        #expect(train.status == 0, "\(train.err)")
        for stage in ["stage1", "stage2"] {
            try? FileManager.default.removeItem(atPath: h.dir + "/models/\(stage).safetensors")
            try FileManager.default.copyItem(atPath: h.dir + "/trained/\(stage).safetensors", toPath: h.dir + "/models/\(stage).safetensors")
        }
        let reference = try #require(try ModelFile.load(path: h.dir + "/models/stage1.safetensors").metadata.inputReference)
        #expect(reference.images > 50 && (reference.statistics["brightness"]?.std ?? 0) > 0, "training measured its images")
        let embedding = try #require(reference.embedding, "and its good validation parts' embeddings")
        #expect(embedding.parts >= 30 && embedding.distance.mean > 0 && embedding.mean.count == embedding.std.count)

        try h.start()
        #expect(h.wait(60) { h.metric("linesight_drift_score{camera=\"line1\"}") != nil }, "the watch reports once frames flow")
        // before the change: no alarm (the watch needs a quarter of its window first)
        var calm: [Double] = []
        while let seq = h.metric("linesight_frames_received_total{camera=\"line1\"}"), seq < Double(change - 40) {
            guard seq >= 15 else { Thread.sleep(forTimeInterval: 0.2); continue }  // a quarter of the window first
            calm.append(h.metric("linesight_drift_score{camera=\"line1\"}") ?? -1)
            #expect(h.metric("linesight_drift_alarm{camera=\"line1\"}") == 0, "no alarm while the lighting is as trained (frame \(seq))")
            Thread.sleep(forTimeInterval: 0.5)
        }
        #expect(!calm.isEmpty && calm.allSatisfy { $0 >= 0 && $0 < 1 }, "calm: \(calm)")
        #expect(h.wait(60) { h.metric("linesight_drift_alarm{camera=\"line1\"}") == 1 }, "the alarm rises after the lamp dims")
        #expect((h.metric("linesight_drift_score{camera=\"line1\"}") ?? 0) >= 0.8)
        #expect((h.metric("linesight_drift_shift{camera=\"line1\",statistic=\"brightness\"}") ?? 0) < -2, "darker, by spreads of the training images")
        #expect(h.metric("linesight_drift_alarms_total{camera=\"line1\"}") == 1)
        #expect(h.metric("linesight_drift_shift{camera=\"line1\",statistic=\"embedding\"}") != nil, "the embeddings are watched too")
        let cams = try #require(h.json("/api/v1/stats")?["cameras"] as? [[String: Any]])
        let drift = try #require(cams.first?["drift"] as? [String: Any])
        // the lamp moves brightness and, through it, the embeddings; which moved more by the
        // time the window is read depends on how many dim frames it holds
        let shifts = drift["shifts"] as? [String: Double] ?? [:]
        let farthest = shifts.max { abs($0.value) < abs($1.value) }?.key
        #expect(drift["alarm"] as? Bool == true && (shifts["brightness"] ?? 0) < -2, "\(drift)")
        #expect(drift["worst"] as? String == farthest && ["brightness", "embedding"].contains(farthest ?? ""), "the worst is the statistic that moved most: \(drift)")
        #expect(h.wait(10) { String(decoding: h.http("/api/v1/operator/status").body, as: UTF8.self).contains("camera line1 input drift: brightness -") },
                "the operator screen's alarms: \(String(decoding: h.http("/api/v1/operator/status").body.prefix(600), as: UTF8.self))")
        kill(h.pid, SIGTERM)
        let end = h.finish()
        #expect(end.status == 0 && end.err.contains("input drift"), "logged: \(end.err.suffix(1500))")

        let store = try Store(path: h.dir + "/data/inspection.sqlite")
        // the review queue's order: every flagged frame kept stage 1's embedding, and the
        // doubted ones were placed in order (the housekeeping service, every 10 s)
        let version = String(try Hashing.sha256(file: h.dir + "/models/stage1.safetensors").prefix(12))
        let kept = try store.pool.read { db in
            try Row.fetchAll(db, sql: "SELECT embedding, embedding_model FROM frames WHERE kept_because = 'flagged'")
        }
        #expect(!kept.isEmpty && kept.allSatisfy { ($0[0] as Data?).map { $0.count >= 16 } == true && $0[1] as String? == version },
                "\(kept.count) flagged frames, each with stage 1's embedding")
        let placed = try store.pool.read { db in
            try Int64.fetchAll(db, sql: "SELECT verdict_id FROM flags WHERE status = 'open' AND priority IS NOT NULL ORDER BY priority")
        }
        let doubted = try store.reviewCandidates()
        #expect(!placed.isEmpty && Set(placed).isSubset(of: Set(doubted.map(\.verdictId))), "\(placed.count) of \(doubted.count) doubted frames placed")
        #expect(Array(try store.openFlags(limit: placed.count).map(\.verdictId)) == placed, "the queue starts with them, in order")
        let flagged = try store.pool.read { db in
            try Row.fetchAll(db, sql: "SELECT v.frame_sequence, f.note FROM flags f JOIN verdicts v ON v.id = f.verdict_id WHERE f.reason = 'drift' ORDER BY v.frame_sequence")
                .map { (seq: $0[0] as Int64, note: $0[1] as String) }
        }
        #expect(!flagged.isEmpty && flagged.allSatisfy { $0.seq > Int64(change) }, "samples only after the change: \(flagged.map(\.seq))")
        #expect(flagged.first?.note.hasPrefix("input drift: brightness -") == true, "\(flagged.first?.note ?? "")")
        let queue = try CLI.run(["flagged", "list", "--json", "--limit", "5000", "--config", h.dir + "/linesight.toml"])
        #expect(queue.out.contains("\"reason\" : \"drift\""), "the sample is in the review queue")
        let stats = try CLI.run(["stats", "--config", h.dir + "/linesight.toml"])
        #expect(stats.status == 0 && stats.out.contains("input drift: \(flagged.count) sample") && stats.out.contains("on line1: input drift: brightness -"),
                "\(stats.out)\(stats.err)")
    }
}
