import Foundation
import GRDB
import LinesightCore
import TestSupport
import Testing
@testable import Store

@Suite("The review queue's order in the store")
struct ReviewOrderStoreTests {
    static func flagged(_ i: Int, _ reason: FlagReason, at t: Double, embedding: [Float]? = nil, model: String = "s1-v1") -> VerdictBundle {
        var f = FrameRecord(path: "f\(i).jpg", sha256: String(repeating: "d", count: 64), bytes: 10, width: 8, height: 8, keptBecause: .flagged)
        f.embedding = embedding.map(EmbeddingCodec.encode)
        f.embeddingModel = embedding == nil ? nil : model
        return VerdictBundle(verdict: verdict(Int64(i), .pass, at: t, flags: [reason]), frame: f)
    }

    @Test func placedFramesComeFirstInThatOrderThenTheRestAsBefore() throws {
        let (dir, file) = try temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try Store(path: file)
        try store.register(camera: "cam1", source: "synthetic")
        let now = 1_800_000_000.0
        try store.insert([
            Self.flagged(1, .uncertain, at: now, embedding: [1, 2]),
            Self.flagged(2, .uncertain, at: now + 1, embedding: [3, 4]),
            Self.flagged(3, .lowStage2Confidence, at: now + 2, embedding: [5, 6]),
            Self.flagged(4, .audit, at: now + 3),
            Self.flagged(5, .uncertain, at: now + 4),
        ])
        // before any placing: by reason, newest first
        #expect(try store.openFlags().map(\.verdictId) == [5, 2, 1, 3, 4])
        let candidates = try store.reviewCandidates()
        #expect(candidates.map(\.verdictId) == [5, 3, 2, 1], "doubted frames only, newest first")
        #expect(candidates.first { $0.verdictId == 2 }.flatMap { $0.embedding.flatMap(EmbeddingCodec.decode) } == [3, 4])
        #expect(candidates.first { $0.verdictId == 2 }?.embeddingModel == "s1-v1" && candidates[0].embedding == nil)
        try store.placeInReview([1, 3])
        #expect(try store.openFlags().map(\.verdictId) == [1, 3, 5, 2, 4], "placed first in order, then by reason and time")
        let first = try #require(try store.leaseNext(reviewer: "ana", now: now + 10))
        #expect(first.verdictId == 1)
        // placing again replaces the order; an audit flag is never placed
        try store.placeInReview([2, 4])
        #expect(try store.openFlags().map(\.verdictId) == [2, 5, 1, 3, 4])
        #expect(try store.pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM flags WHERE priority IS NOT NULL") } == 1)
        // labelled frames' embeddings, by model
        _ = try store.decide(first, defects: ["dent"], reviewer: "ana", now: now + 11)
        #expect(try store.labelledEmbeddings(model: "s1-v1").compactMap(EmbeddingCodec.decode) == [[1, 2]])
        #expect(try store.labelledEmbeddings(model: "other").isEmpty)
        // the stamp moves with flags and labels
        let stamp = try store.reviewQueueStamp()
        try store.insert([Self.flagged(6, .uncertain, at: now + 20)])
        #expect(try store.reviewQueueStamp() != stamp)
    }

    @Test func anEmbeddingTheSchemaRefusesDoesNotCostTheVerdict() throws {
        let (dir, file) = try temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try Store(path: file)
        try store.register(camera: "cam1", source: "synthetic")
        var b = Self.flagged(1, .uncertain, at: 1_800_000_000, embedding: [1])
        b.frame?.embedding = Data(repeating: 7, count: FrameRecord.maxEmbeddingBytes + 2)
        var odd = Self.flagged(2, .uncertain, at: 1_800_000_001, embedding: [1])
        odd.frame?.embedding = Data([1, 2, 3])
        let refused = try store.insert([b, odd])
        #expect(refused.isEmpty, "\(refused)")
        let rows = try store.pool.read { db in try Row.fetchAll(db, sql: "SELECT path, embedding, embedding_model FROM frames ORDER BY id") }
        #expect(rows.map { $0[0] as String } == ["f1.jpg", "f2.jpg"], "both verdicts and frames kept")
        #expect(rows.allSatisfy { ($0[1] as Data?) == nil && ($0[2] as String?) == nil }, "without the embedding")
    }

    @Test func aDatabaseAtV8TakesEmbeddingsAndPrioritiesAfterV9() throws {
        let (dir, file) = try temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let old = try Store(path: file, busyTimeout: 5, schemaUpTo: "v8-drift-flag")
            try old.register(camera: "cam1", source: "synthetic")
            try old.pool.write { db in
                try db.execute(sql: "INSERT INTO verdicts(camera_id, captured_at, frame_sequence, stage1_score, decision, stage1_model, total_ms) VALUES ('cam1', 1, 1, 0.5, 'pass', 'm', 1)")
                try db.execute(sql: "INSERT INTO frames(verdict_id, path, sha256, bytes, width, height, kept_because) VALUES (1, 'a.jpg', '\(String(repeating: "e", count: 64))', 1, 8, 8, 'flagged')")
                try db.execute(sql: "INSERT INTO flags(verdict_id, reason, created_at) VALUES (1, 'uncertain', 1)")
            }
        }
        let store = try Store(path: file)
        #expect(try store.openFlags().map(\.verdictId) == [1], "old flags open as they were")
        try store.insert([Self.flagged(2, .uncertain, at: 2, embedding: [0.5, -0.25])])
        #expect(try store.reviewCandidates().map { $0.embedding.flatMap(EmbeddingCodec.decode) } == [[0.5, -0.25], nil])
        try store.placeInReview([1])
        #expect(try store.openFlags().map(\.verdictId) == [1, 2])
    }
}

@Suite("Products in the store")
struct ProductStoreTests {
    @Test func aDatabaseAtV9KeepsItsRollupsUnderNoProductAndCountsEachProductAfterV10() throws {
        let (dir, file) = try temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let t = 1_800_000_000.0
        do {
            let old = try Store(path: file, busyTimeout: 5, schemaUpTo: "v9-review-order")
            try old.register(camera: "cam1", source: "synthetic")
            try old.pool.write { db in
                for (i, d) in ["pass", "fail", "fail"].enumerated() {
                    try db.execute(sql: "INSERT INTO verdicts(camera_id, captured_at, frame_sequence, stage1_score, decision, defects, stage1_model, total_ms) VALUES ('cam1', ?, ?, 0.5, ?, ?, 'm', 1)",
                                   arguments: [t, i, d, d == "fail" ? "dent" : ""])
                }
                try db.execute(sql: "INSERT INTO rollups(camera_id, hour, model, frames, passes, fails) VALUES ('cam1', ?, 'm', 3, 1, 2)", arguments: [Int64(t / 3600)])
                try db.execute(sql: "INSERT INTO rollup_defects(camera_id, hour, model, defect, count) VALUES ('cam1', ?, 'm', 'dent', 2)", arguments: [Int64(t / 3600)])
            }
        }
        let store = try Store(path: file)
        var a = VerdictBundle(verdict: verdict(10, .fail, at: t + 1, defects: ["dent"]))
        a.verdict.product = "plate-a"
        var b = VerdictBundle(verdict: verdict(11, .pass, at: t + 2))
        b.verdict.product = "plate-b"
        try store.insert([a, b])
        let rows = try store.rollups(since: t - 3600, until: t + 3600)
        let byProduct = Dictionary(grouping: rows, by: \.product).mapValues { ($0.map(\.frames).reduce(0, +), $0.map { $0.defects["dent"] ?? 0 }.reduce(0, +)) }
        #expect(byProduct[""]?.0 == 3 && byProduct[""]?.1 == 2, "the old counts kept, under no product: \(byProduct)")
        #expect(byProduct["plate-a"]?.0 == 1 && byProduct["plate-a"]?.1 == 1 && byProduct["plate-b"]?.0 == 1)
        #expect(try store.pool.read { db in try String.fetchAll(db, sql: "SELECT coalesce(product, '-') FROM verdicts ORDER BY id") } == ["-", "-", "-", "plate-a", "plate-b"])
        // changeovers, and what is refused
        try store.recordProductChange("plate-b", by: "api", at: t + 3)
        #expect(try store.productChanges().map(\.product) == ["plate-b"])
        #expect(throws: StoreError.self) { try store.recordProductChange("plate b", by: "api") }
        #expect(throws: StoreError.self) { try store.recordProductChange(String(repeating: "p", count: 65), by: "api") }
        var bad = VerdictBundle(verdict: verdict(12, .pass, at: t + 4))
        bad.verdict.product = String(repeating: "q", count: 100)
        let refused = try store.insert([bad])
        #expect(refused.count == 1 && refused[0].recordedAsNoVerdict, "an impossible product costs the row, not the verdict: recorded as a no-verdict")
        #expect(LineID.isValid("bracket-a.v2_1") && !LineID.isValid("") && !LineID.isValid("ü") && !LineID.isValid("a/b") && !LineID.isValid(String(repeating: "a", count: 65)))
    }

    @Test func modelsRegisteredBeforeV11BelongToTheModelsSetAndEachProductHasItsOwnChampions() throws {
        let (dir, file) = try temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let hash = { (c: Character) in String(repeating: c, count: 64) }
        do {
            let old = try Store(path: file, busyTimeout: 5, schemaUpTo: "v10-products")
            try old.pool.write { db in
                try db.execute(sql: "INSERT INTO models(version, stage, file, sha256, status, created_at) VALUES ('aaaaaaaaaaaa', 1, 'a', ?, 'champion', 1)", arguments: [hash("a")])
                try db.execute(sql: "INSERT INTO models(version, stage, file, sha256, status, created_at) VALUES ('bbbbbbbbbbbb', 1, 'b', ?, 'retired', 0)", arguments: [hash("b")])
            }
        }
        let store = try Store(path: file)
        #expect(try store.champion(stage: 1)?.version == "aaaaaaaaaaaa" && store.champion(stage: 1)?.product == "", "an old champion is the [models] set's")
        #expect(try store.champion(stage: 1, product: "heavy") == nil)
        // a product's own champion beside the [models] set's: promoting one retires nothing of the other
        let h1 = try store.registerModel(stage: 1, file: "h1", sha256: hash("c"), metrics: [:], parent: nil, dataHash: nil, notes: "", product: "heavy")
        let h2 = try store.registerModel(stage: 1, file: "h2", sha256: hash("d"), metrics: [:], parent: h1.version, dataHash: nil, notes: "", product: "heavy")
        #expect(h2.parentId == h1.id && h1.product == "heavy")
        try store.promote(version: h1.version, by: "t", now: 10)
        try store.promote(version: h2.version, by: "t", now: 11)
        #expect(try store.champion(stage: 1)?.version == "aaaaaaaaaaaa", "the [models] set's champion stays")
        #expect(try store.champion(stage: 1, product: "heavy")?.version == h2.version)
        #expect(try store.previousChampion(stage: 1, product: "heavy")?.version == h1.version && store.previousChampion(stage: 1) == nil)
        #expect(try store.models(product: "heavy").map(\.version) == [h2.version, h1.version] && store.models().count == 4)
        // the unique index holds one champion per product and stage
        #expect(throws: (any Error).self) {
            try store.pool.write { db in try db.execute(sql: "UPDATE models SET status = 'champion' WHERE version = ?", arguments: [h1.version]) }
        }
        // a version belongs to one product's set: the same file registered for another is refused
        #expect(throws: StoreError.self) {
            try store.registerModel(stage: 1, file: "again", sha256: hash("c"), metrics: [:], parent: nil, dataHash: nil, notes: "")
        }
        let again = try store.registerModel(stage: 1, file: "again", sha256: hash("c"), metrics: [:], parent: nil, dataHash: nil, notes: "", product: "heavy")
        #expect(again.id == h1.id, "registering it again for its own product is idempotent")
    }
}
