import Foundation
import GRDB
import LinesightCore
import Store
import TestSupport
import Testing

/// Training and retraining per product, as a process: each product of a line has its own
/// registry champions, golden set and live files (here in one folder), learns from the frames
/// judged for it only, and is promoted and rolled back without touching the other's.
@Suite("training and retraining per product")
struct ProductRetrainCLITests {
    @Test("train and retrain --product: the product's own champion, golden set, labels and live files; the [models] set untouched")
    func retrainPerProduct() throws {
        let dir = try TemporaryDirectory.make("product-retrain")
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try lineConfig("""
        [[cameras]]
        id = "a"
        source = "synthetic"
        [[products]]
        id = "heavy"
        stage1 = "models/heavy-stage1.safetensors"
        stage2 = "models/heavy-stage2.safetensors"
        """).write(toFile: dir + "/line.toml", atomically: true, encoding: .utf8)
        let cfg = ["--config", dir + "/line.toml"], small = ["--threads", "1"], lenient = ["--max-escape", "1", "--recall-tolerance", "1", "--max-false-reject", "1"]
        for (name, seed) in [("first", "3"), ("heavy", "5"), ("new", "4")] {
            #expect(try CLI.run(["synth", "--out", dir + "/" + name, "--count", name == "new" ? "80" : "120", "--size", "64x48", "--seed", seed]).status == 0)
        }
        let main = try CLI.run(["train", "--data", dir + "/first", "--input-size", "32", "--epochs", "1", "--width", "4"] + cfg + small)
        #expect(main.status == 0, "\(main.out)\(main.err)")
        let unknown = try CLI.run(["train", "--data", dir + "/heavy", "--product", "bracket-z", "--epochs", "1"] + cfg + small)
        #expect(unknown.status != 0 && unknown.err.contains("no product 'bracket-z' in the config (its products: default, heavy)"), "\(unknown.err)")
        let hostile = try CLI.run(["retrain", "--product", "../etc", "--epochs", "1"] + cfg)
        #expect(hostile.status != 0 && hostile.err.contains("--product must be a product id"), "\(hostile.err)")
        let noConfig = try CLI.run(["train", "--data", dir + "/heavy", "--product", "heavy"])
        #expect(noConfig.status != 0 && noConfig.err.contains("--product names a product of a line config"), "\(noConfig.err)")
        let heavy = try CLI.run(["train", "--data", dir + "/heavy", "--product", "heavy", "--input-size", "32", "--epochs", "1", "--width", "4"] + cfg + small)
        #expect(heavy.status == 0 && heavy.out.contains("golden set frozen") && heavy.out.contains("-> \(dir)/models/heavy-stage1.safetensors"), "\(heavy.out)\(heavy.err)")

        let store = try Store(path: dir + "/data/db.sqlite")
        let mainOne = try #require(try store.champion(stage: 1)), mainTwo = try #require(try store.champion(stage: 2))
        let heavyOne = try #require(try store.champion(stage: 1, product: "heavy"))
        #expect(try store.champion(stage: 2, product: "heavy") != nil && heavyOne.version != mainOne.version)
        #expect(try Hashing.sha256(file: dir + "/models/heavy-stage1.safetensors").hasPrefix(heavyOne.version), "the product's live file")
        #expect(try Hashing.sha256(file: dir + "/models/stage1.safetensors").hasPrefix(mainOne.version), "the [models] set's live file stays")
        // one folder, two golden sets: each product judged on its own first training's test split
        let golden = try String(contentsOfFile: dir + "/models/golden.csv", encoding: .utf8)
        let heavyGolden = try String(contentsOfFile: dir + "/models/golden-heavy.csv", encoding: .utf8)
        #expect(golden.contains(dir + "/first/") && !golden.contains(dir + "/heavy/") && heavyGolden.contains(dir + "/heavy/") && !heavyGolden.contains(dir + "/first/"))

        let list = try CLI.run(["models", "list"] + cfg)
        let rows = list.out.split(separator: "\n").dropFirst()
        #expect(list.status == 0 && list.out.split(separator: "\n").first?.hasSuffix("  product") == true, "\(list.out)")
        #expect(rows.filter { $0.hasSuffix("  heavy") }.count == 2 && rows.filter { $0.hasSuffix("  default") }.count == 2, "\(list.out)")
        let onlyHeavy = try CLI.run(["models", "list", "--json", "--product", "heavy"] + cfg)
        let listed = try #require(try JSONSerialization.jsonObject(with: Data(onlyHeavy.out.utf8)) as? [[String: Any]])
        #expect(listed.count == 2 && listed.allSatisfy { $0["product"] as? String == "heavy" }, "\(onlyHeavy.out)")

        // frames judged for each product, all labelled: a product's round learns from its own
        try store.register(camera: "a", source: "synthetic")
        let labels = try String(contentsOfFile: dir + "/new/labels.csv", encoding: .utf8).split(separator: "\n").dropFirst()
            .map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        try store.insert(labels.enumerated().map { i, r in
            var v = VerdictRecord(cameraId: "a", capturedAt: Date().timeIntervalSince1970, frameSequence: Int64(i), stage1Score: 0.5,
                                  decision: .pass, totalMs: 1, flags: [.uncertain])
            v.product = i % 4 == 0 ? nil : i % 2 == 0 ? "default" : "heavy"
            return VerdictBundle(verdict: v, frame: FrameRecord(path: dir + "/new/" + r[0], sha256: String(repeating: "0", count: 64), bytes: 1,
                                                                width: 64, height: 48, keptBecause: .flagged))
        })
        let frames = try store.pool.read { db in try Int64.fetchAll(db, sql: "SELECT id FROM frames ORDER BY id") }
        try store.label(zip(frames, labels).map { ($0, $1[2].split(separator: "+").map(String.init)) }, who: "qa", source: "review")
        let heavyFrames = labels.indices.filter { $0 % 2 == 1 }.count, mainFrames = labels.count - heavyFrames

        let strict = try CLI.run(["retrain", "--product", "heavy", "--epochs", "1", "--max-escape", "0"] + cfg + small)
        #expect(strict.status == 0 && strict.out.contains("collected \(heavyFrames) labels given since") && strict.out.contains("for product 'heavy'"),
                "only the frames judged for heavy: \(strict.out)\(strict.err)")
        #expect(strict.out.contains("kept the champion \(heavyOne.version)"), "\(strict.out)")
        #expect(try ImageFolderCount(dir + "/models/retrain-labels-heavy") == heavyFrames)
        let promoted = try CLI.run(["retrain", "--product", "heavy", "--epochs", "1"] + lenient + cfg + small)
        #expect(promoted.status == 0 && promoted.out.contains("promoted stage 1") && promoted.out.contains("of product 'heavy'"), "\(promoted.out)\(promoted.err)")
        let heavyTwo = try #require(try store.champion(stage: 1, product: "heavy"))
        #expect(heavyTwo.version != heavyOne.version && heavyTwo.parentId == heavyOne.id && heavyTwo.product == "heavy")
        #expect(try Hashing.sha256(file: dir + "/models/heavy-stage1.safetensors").hasPrefix(heavyTwo.version))
        #expect(try store.champion(stage: 1)?.version == mainOne.version && store.champion(stage: 2)?.version == mainTwo.version,
                "the [models] set's champions stay")
        #expect(try Hashing.sha256(file: dir + "/models/stage1.safetensors").hasPrefix(mainOne.version))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir + "/models").filter { $0.contains("checkpoint") }
        #expect(leftovers.isEmpty, "\(leftovers)")

        // the label audit works on one product's labels, with its own champion's architecture
        let audit = try CLI.run(["audit-labels", "--product", "heavy", "--folds", "2", "--epochs", "1", "--dry-run"] + cfg + small)
        #expect(audit.status == 0 && audit.out.contains("auditing \(heavyFrames) labeled frames of product 'heavy' from the database")
                && audit.out.contains("architecture of stage 1 \(heavyTwo.version)"), "\(audit.out)\(audit.err)")
        let mainAudit = try CLI.run(["audit-labels", "--folds", "2", "--epochs", "1", "--dry-run"] + cfg + small)
        #expect(mainAudit.status == 0 && mainAudit.out.contains("auditing \(mainFrames) labeled frames of the [models] set")
                && mainAudit.out.contains("architecture of stage 1 \(mainOne.version)"), "\(mainAudit.out)\(mainAudit.err)")

        // the [models] set's round takes its own frames and those judged before products were named
        let mainRound = try CLI.run(["retrain", "--epochs", "1", "--dry-run"] + lenient + cfg + small)
        #expect(mainRound.status == 0 && mainRound.out.contains("collected \(mainFrames) labels given since") && mainRound.out.contains("for the [models] set"),
                "\(mainRound.out)\(mainRound.err)")

        // rollback and promote stay within a product's set
        let noEarlier = try CLI.run(["models", "rollback", "--stage", "1"] + cfg)
        #expect(noEarlier.status != 0 && noEarlier.err.contains("has no earlier champion"), "the [models] set never changed: \(noEarlier.err)")
        let back = try CLI.run(["models", "rollback", "--stage", "1", "--product", "heavy"] + cfg)
        #expect(back.status == 0 && back.out.contains("rolled back to \(heavyOne.version)"), "\(back.out)\(back.err)")
        #expect(try Hashing.sha256(file: dir + "/models/heavy-stage1.safetensors").hasPrefix(heavyOne.version))
        let forward = try CLI.run(["models", "promote", heavyTwo.version] + cfg)
        #expect(forward.status == 0 && forward.out.contains("is the champion of product 'heavy'"), "a version goes to its own product's live file: \(forward.out)\(forward.err)")
        #expect(try Hashing.sha256(file: dir + "/models/heavy-stage1.safetensors").hasPrefix(heavyTwo.version))
        #expect(try Hashing.sha256(file: dir + "/models/stage1.safetensors").hasPrefix(mainOne.version))
        let crossed = try CLI.run(["models", "register", dir + "/models/heavy-stage1.safetensors", "--stage", "1"] + cfg)
        #expect(crossed.status != 0 && crossed.err.contains("already registered for product 'heavy'"), "\(crossed.err)")

        // a first training of the product from its labels
        let fromLabels = try CLI.run(["train", "--labels", "--product", "heavy", "--epochs", "1", "--width", "4"] + cfg + small)
        #expect(fromLabels.status == 0 && fromLabels.out.contains("training on \(heavyFrames) labeled frames of product 'heavy'"), "\(fromLabels.out)\(fromLabels.err)")
        #expect(try store.champion(stage: 1, product: "heavy")?.version != heavyTwo.version && store.champion(stage: 1)?.version == mainOne.version)

        // the int8 form of a product's champion is judged against that champion and registered for that product
        let heavyNow = try #require(try store.champion(stage: 1, product: "heavy"))
        let (mainModels, heavyModels) = (try store.models(product: "").count, try store.models(product: "heavy").count)
        let quantized = try CLI.run(["quantize", "--model", dir + "/models/heavy-stage1.safetensors", "--frames", "40"] + cfg + small)
        #expect(quantized.status == 0 && quantized.out.contains("judging fp32 champion \(heavyNow.version)"), "\(quantized.out)\(quantized.err)")
        // calibrated on the good frames judged for heavy only
        let heavyGood = labels.indices.filter { $0 % 2 == 1 && labels[$0][2].isEmpty }.count
        #expect(heavyGood > 0 && quantized.out.contains("calibrating on \(heavyGood) frames the daemon kept for product 'heavy'"), "\(quantized.out)")
        let registered = try store.models().map { "\($0.version):\($0.product)" }
        #expect(try store.models(product: "heavy").count == heavyModels + 1 && store.models(product: "").count == mainModels,
                "the int8 challenger is the product's: \(registered)")

        // the config now gives heavy the [models] set's stage 2: heavy's retrain leaves that file to its owner, and
        // heavy's own stage-2 versions cannot go live onto it
        let shared = try String(contentsOfFile: dir + "/line.toml", encoding: .utf8)
            .replacingOccurrences(of: "stage2 = \"models/heavy-stage2.safetensors\"", with: "stage2 = \"models/stage2.safetensors\"")
        try shared.write(toFile: dir + "/line.toml", atomically: true, encoding: .utf8)
        let liveTwo = try Hashing.sha256(file: dir + "/models/stage2.safetensors")
        let sharing = try CLI.run(["retrain", "--product", "heavy", "--data", dir + "/new", "--epochs", "1", "--dry-run"] + lenient + cfg + small)
        #expect(sharing.status == 0 && sharing.out.contains("stage 2 kept: its live file is product 'default''s too"), "\(sharing.out)\(sharing.err)")
        let rollback = try CLI.run(["models", "rollback", "--stage", "2", "--product", "heavy"] + cfg)
        #expect(rollback.status != 0 && rollback.err.contains("is also product 'default''s, which owns it"), "\(rollback.out)\(rollback.err)")
        let heavyStageTwo = try #require(try store.champion(stage: 2, product: "heavy"))
        let int8Two = try CLI.run(["quantize", "--model", heavyStageTwo.file, "--out", dir + "/heavy-two-int8.safetensors", "--frames", "40"] + cfg + small)
        #expect(int8Two.status != 0 && int8Two.err.contains("which owns it") && !int8Two.out.contains("calibrating"), "refused before calibrating: \(int8Two.out)\(int8Two.err)")
        #expect(try Hashing.sha256(file: dir + "/models/stage2.safetensors") == liveTwo, "the owner's live stage 2 is untouched")
    }
}
