import Config
import Foundation
import LinesightCore
import Neural
@testable import Inspection
import Store
import TestSupport
import Testing

/// A stage model is checked in full before it serves, registers or goes live, on the same
/// bytes whose hash names it.
@Suite("Stage model validation")
struct StageModelValidationTests {
    static func refusal(_ body: () throws -> Void) -> String? {
        do { try body(); return nil } catch InspectionError.model(_, let why) { return why } catch { return "other error: \(error)" }
    }

    @Test("stage 1: exactly one pass class among two or more; stage 2: at least one defect kind")
    func stageRules() throws {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try constantModel(dir + "/twopass.safetensors", classes: ["good", "OK", "defect"], logits: [0, 0, 0])
        #expect(Self.refusal { _ = try StageModel(path: dir + "/twopass.safetensors", stage: .one) }?.contains("exactly one pass class") == true)
        try constantModel(dir + "/alone.safetensors", classes: ["good"], logits: [0])
        #expect(Self.refusal { _ = try StageModel(path: dir + "/alone.safetensors", stage: .one) }?.contains("at least two classes") == true)
        #expect(Self.refusal { _ = try StageModel(path: dir + "/alone.safetensors", stage: .two) }?.contains("at least one defect kind") == true)
        try constantModel(dir + "/kinds.safetensors", classes: ["scratch", "dent"], logits: [0, 0], task: .multilabel)
        #expect(Self.refusal { _ = try StageModel(path: dir + "/kinds.safetensors", stage: .two) } == nil)
    }

    @Test("a field the engine refuses is refused as the stage's model, naming the field", arguments: [
        (["good", "a/b"], [:], nil, "classes[1]"),
        (["good", "defect"], ["pass": 0.9, "fail": 0.1], nil, "thresholds.pass"),
        (["good", "defect"], [:], 0.0, "temperature"),
        (["good", "defect"], ["defect.rust": 0.5], nil, "thresholds.defect.rust"),
    ] as [([String], [String: Double], Double?, String)])
    func metadataRefused(classes: [String], thresholds: [String: Double], temperature: Double?, field: String) throws {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try constantModel(dir + "/m.safetensors", classes: classes, logits: classes.map { _ in 0 }, thresholds: thresholds,
                          temperature: temperature)
        let why = Self.refusal { _ = try StageModel(path: dir + "/m.safetensors", stage: .one) }
        #expect(why?.contains("metadata '\(field)'") == true, "\(String(describing: why))")
    }

    @Test("the hash and the network come from the same bytes, read once")
    func oneRead() throws {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try stage1(dir + "/a.safetensors", pDefect: 0.2)
        try stage1(dir + "/b.safetensors", pDefect: 0.9)
        let a = try Data(contentsOf: URL(fileURLWithPath: dir + "/a.safetensors"))
        // The file at the path now holds other bytes: the model is still the one in `a`, whole.
        let model = try StageModel(data: a, path: dir + "/b.safetensors", stage: .one)
        #expect(model.sha256 == Hashing.sha256(a))
        let input = [Float](repeating: 0, count: model.geometry.floatCount)
        let p = try input.withUnsafeBufferPointer { try model.defectProbability($0.baseAddress!) }
        #expect(abs(p - 0.2) < 1e-5)
    }

    static func registry(_ dir: String) throws -> ModelRegistry {
        ModelRegistry(store: try Store(path: dir + "/db.sqlite"), paths: ModelPaths(stage1: dir + "/live/stage1.safetensors"))
    }

    @Test("register refuses a bad file: nothing copied, nothing recorded")
    func registerRefuses() throws {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let registry = try Self.registry(dir)
        try constantModel(dir + "/hot.safetensors", classes: ["good", "defect"], logits: [0, 0], temperature: 1e39)
        #expect(throws: InspectionError.self) { try registry.register(file: dir + "/hot.safetensors", stage: .one) }
        #expect(try registry.store.models().isEmpty)
        #expect((try? FileManager.default.contentsOfDirectory(atPath: registry.directory))?.isEmpty ?? true)
    }

    @Test("promote refuses a registry copy that is no longer the registered file; the live model stays")
    func promoteRefusesReplacedCopy() throws {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let registry = try Self.registry(dir)
        try stage1(dir + "/v1.safetensors", pDefect: 0.2)
        try stage1(dir + "/v2.safetensors", pDefect: 0.4)
        let v1 = try registry.register(file: dir + "/v1.safetensors", stage: .one)
        let v2 = try registry.register(file: dir + "/v2.safetensors", stage: .one)
        try registry.promote(v1.version, by: "test")
        let live = try Data(contentsOf: URL(fileURLWithPath: registry.paths.stage1))
        #expect(Hashing.sha256(live) == v1.sha256)
        // Someone overwrites v2's copy with a valid model of another hash.
        try stage1(v2.file, pDefect: 0.6)
        let why = Self.refusal { try registry.promote(v2.version, by: "test") }
        #expect(why?.contains("the registry recorded \(v2.sha256)") == true, "\(String(describing: why))")
        // ... or with a file that does not validate.
        try constantModel(v2.file, classes: ["good", "good2"], logits: [0, 0], thresholds: ["pass": 2])
        #expect(throws: InspectionError.self) { try registry.promote(v2.version, by: "test") }
        #expect(try Data(contentsOf: URL(fileURLWithPath: registry.paths.stage1)) == live)
        #expect(try registry.store.model(version: v1.version)?.status == .champion)
    }

    @Test("a live file two products share is written by its owner only: the other's promotion is refused, the file unchanged")
    func sharedLiveFileHasOneOwner() throws {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let root = try Config.ConfigSection(parsing: """
            [models]
            stage1 = "models/stage1.safetensors"
            stage2 = "models/stage2.safetensors"
            [[products]]
            id = "heavy"
            stage1 = "models/heavy-stage1.safetensors"
            stage2 = "./models/../models/stage2.safetensors"
            [[products]]
            id = "light"
            stage1 = "models/heavy-stage1.safetensors"
            stage2 = "models/light-stage2.safetensors"
            [[cameras]]
            id = "top"
            """, file: "t.toml")
        let cfg = try LineConfig.read(root, baseDirectory: dir)
        #expect(cfg.borrowedLiveFiles(of: "").isEmpty, "[models] names its files first: it owns them")
        #expect(cfg.borrowedLiveFiles(of: "heavy") == [.two: "default"], "the same file, spelled another way")
        #expect(cfg.borrowedLiveFiles(of: "light") == [.one: "heavy"])
        let store = try Store(path: dir + "/db.sqlite")
        let owner = try ModelRegistry(store: store, config: cfg, product: nil)
        let heavy = try ModelRegistry(store: store, config: cfg, product: "heavy")
        try stage2(dir + "/a.safetensors", [("scratch", 0.2)])
        try stage2(dir + "/b.safetensors", [("scratch", 0.7)])
        try owner.promote(try owner.register(file: dir + "/a.safetensors", stage: .two).version, by: "test")
        let live = try Data(contentsOf: URL(fileURLWithPath: dir + "/models/stage2.safetensors"))
        let b = try heavy.register(file: dir + "/b.safetensors", stage: .two)
        let why = Self.refusal { try heavy.promote(b.version, by: "test") }
        #expect(why?.contains("is also product 'default''s, which owns it") == true && why?.contains("its own stage2 path") == true,
                "\(String(describing: why))")
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/models/stage2.safetensors")) == live)
        #expect(try store.champion(stage: 2, product: "heavy") == nil)
        // heavy's own stage 1 is its to promote
        try stage1(dir + "/h.safetensors", pDefect: 0.3)
        try heavy.promote(try heavy.register(file: dir + "/h.safetensors", stage: .one).version, by: "test")
        #expect(FileManager.default.fileExists(atPath: dir + "/models/heavy-stage1.safetensors"))
        // the owner's next promotion replaces the shared file (heavy runs it too)
        try stage2(dir + "/c.safetensors", [("scratch", 0.9)])
        let c = try owner.register(file: dir + "/c.safetensors", stage: .two)
        try owner.promote(c.version, by: "test")
        #expect(try Hashing.sha256(file: dir + "/models/stage2.safetensors") == c.sha256)
    }
}
