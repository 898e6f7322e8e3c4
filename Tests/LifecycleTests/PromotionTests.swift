import Foundation
import GRDB
import Inspection
import Lifecycle
import Neural
import Store
import LinesightCore
import Testing
import TestSupport
import Training

/// The promotion policy on real model files and a real SQLite registry in a temp dir.
@Suite("Promotion: the champion stays unless the challenger passes every gate")
struct PromotionTests {
    /// A line's models folder and registry, with a stage-1 champion (P(defect) 0.1) promoted.
    struct Line {
        let dir: String
        let promotion: Promotion
        let champion: ModelRecord

        init(_ name: String) throws {
            dir = try TemporaryDirectory.make("promotion-\(name)")
            try? FileManager.default.removeItem(atPath: dir)
            try FileManager.default.createDirectory(atPath: dir + "/models", withIntermediateDirectories: true)
            let registry = ModelRegistry(store: try Store(path: dir + "/db.sqlite"),
                                         paths: ModelPaths(stage1: dir + "/models/stage1.safetensors", stage2: dir + "/models/stage2.safetensors"))
            promotion = Promotion(registry: registry, who: "tests")
            try stage1(dir + "/first.safetensors", pDefect: 0.1, thresholds: ["pass": 0.3, "fail": 0.7])
            try stage2(dir + "/first2.safetensors", [("scratch", 0.2), ("dent", 0.3)])
            champion = try promotion.promoteFirst(stage1: dir + "/first.safetensors", stage2: dir + "/first2.safetensors").stage1
        }

        /// A challenger whose model file differs from the champion's (P(defect) 0.2).
        func challenger() throws -> TrainedStage {
            try TestSupport.stage1(dir + "/challenger.safetensors", pDefect: 0.2, thresholds: ["pass": 0.3, "fail": 0.7])
            let (net, meta) = try ModelFile.load(path: dir + "/challenger.safetensors")
            return TrainedStage(network: net, metadata: meta)
        }

        func live() throws -> String { try Hashing.sha256(file: dir + "/models/stage1.safetensors") }
    }

    static let championFigures = GateFigures(escapeRate: 0.01, escapeUpper95: 0.03, falseRejectRate: 0.02,
                                             catchRate: ["scratch": 0.98, "dent": 0.96], images: 400)

    @Test("first training: both stages registered and promoted, the live files are theirs")
    func firstTrainingGoesLive() throws {
        let line = try Line("first")
        defer { try? FileManager.default.removeItem(atPath: line.dir) }
        let store = line.promotion.registry.store
        #expect(try store.champion(stage: 1)?.version == line.champion.version)
        #expect(try line.live().hasPrefix(line.champion.version))
        let two = try #require(try store.champion(stage: 2))
        #expect(try Hashing.sha256(file: line.dir + "/models/stage2.safetensors").hasPrefix(two.version))
        let promoted = try store.model(version: line.champion.version)
        #expect(promoted?.promotedBy == "tests" && promoted?.status == .champion)
    }

    @Test("a challenger worse on escapes is registered, rejected, and the champion stays live")
    func worseOnEscapesIsNotPromoted() throws {
        let line = try Line("worse")
        defer { try? FileManager.default.removeItem(atPath: line.dir) }
        var worse = Self.championFigures
        (worse.escapeRate, worse.escapeUpper95) = (0.04, 0.08)   // upper bound over the 0.05 gate
        let checks = Promotion.stageOneChecks(champion: Self.championFigures, challenger: worse, gates: Gates())
        let d = try line.promotion.settle(try line.challenger(), stage: .one, champion: line.champion, checks: checks, fileStem: "retrained")
        #expect(!d.promoted && d.failedGates == ["escape rate"])
        let store = line.promotion.registry.store
        #expect(try store.champion(stage: 1)?.version == line.champion.version)
        #expect(try store.model(version: d.challenger.version)?.status == .rejected)
        #expect(try line.live().hasPrefix(line.champion.version), "the live file is still the champion's")
        try line.promotion.record(d, startedAt: Date(), dataHash: "h", report: [:])
        let runs = try store.pool.read { db in try String.fetchAll(db, sql: "SELECT status FROM training_runs") }
        #expect(runs == ["kept_champion"])
    }

    @Test("a challenger that loses a defect kind's recall beyond the tolerance is not promoted")
    func lostRecallIsNotPromoted() throws {
        let line = try Line("recall")
        defer { try? FileManager.default.removeItem(atPath: line.dir) }
        var lost = Self.championFigures
        lost.catchRate["dent"] = 0.90   // dropped 0.06, tolerance 0.02
        let checks = Promotion.stageOneChecks(champion: Self.championFigures, challenger: lost, gates: Gates())
        let d = try line.promotion.settle(try line.challenger(), stage: .one, champion: line.champion, checks: checks, fileStem: "retrained")
        #expect(!d.promoted && d.failedGates == ["recall dent"])
        #expect(try line.promotion.registry.store.champion(stage: 1)?.version == line.champion.version)
    }

    @Test("a challenger no worse than the champion is promoted: live file, parent, training run")
    func noWorseIsPromoted() throws {
        let line = try Line("same")
        defer { try? FileManager.default.removeItem(atPath: line.dir) }
        let checks = Promotion.stageOneChecks(champion: Self.championFigures, challenger: Self.championFigures, gates: Gates())
        let d = try line.promotion.settle(try line.challenger(), stage: .one, champion: line.champion, checks: checks, fileStem: "retrained")
        #expect(d.promoted && d.failedGates.isEmpty)
        let store = line.promotion.registry.store
        let now = try #require(try store.champion(stage: 1))
        #expect(now.version == d.challenger.version && now.version != line.champion.version)
        #expect(now.parentId == line.champion.id)
        #expect(try line.live().hasPrefix(now.version), "the live file is the challenger's")
        #expect(try store.model(version: line.champion.version)?.status == .retired)
        let saved = try FileManager.default.contentsOfDirectory(atPath: line.dir + "/models").filter { $0.hasPrefix("retrained-") }
        #expect(saved.count == 1)
        let (_, meta) = try ModelFile.load(path: line.dir + "/models/" + saved[0])
        #expect(meta.provenance.parent == line.champion.version)
        try line.promotion.record(d, startedAt: Date(), dataHash: "h", report: ["passed": true])
        let runs = try store.pool.read { db in try String.fetchAll(db, sql: "SELECT status FROM training_runs") }
        #expect(runs == ["promoted"])
    }
}
