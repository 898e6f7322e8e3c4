import Foundation
import GRDB
import Imaging
import LinesightCore
import Neural
import Store
import Testing
import TestSupport

@Suite("linesight train --data, then serve on a replay camera")
struct StagedCLITests {
    @Test("trains both stages from a synthetic ImageFolder and the daemon judges replayed frames with them")
    func trainThenServe() throws {
        let dir = try TemporaryDirectory.make("staged")
        try? FileManager.default.removeItem(atPath: dir)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let synth = try CLI.run(["synth", "--out", dir + "/parts", "--count", "160", "--size", "64x48", "--seed", "5"])
        #expect(synth.status == 0, "\(synth.err)")
        // A 4:3 input like the 4:3 frames (nothing squeezed); the daemon resizes frames to it.
        // unlabeled frames for self-training: another synthetic set, its folder names unread
        let frames = try CLI.run(["synth", "--out", dir + "/frames", "--count", "40", "--size", "64x48", "--seed", "6"])
        #expect(frames.status == 0, "\(frames.err)")
        let train = try CLI.run(["train", "--data", dir + "/parts", "--input-size", "32x24", "--epochs", "2", "--width", "4",
                                 "--synthetic-kinds", "warp,line,warp", "--unlabeled", dir + "/frames", "--threads", "1", "--out", dir + "/models"])
        #expect(train.status == 0, "\(train.err)")
        #expect(train.out.contains("stage-1 self-training: 40 unlabeled frames"), "\(train.out)")
        #expect(train.out.contains("split (7:2:1 by file hash)") && train.out.contains("the line's operating point") && train.out.contains("escapes"))
        #expect(train.out.contains("50% of the good parts drawn painted with a synthetic defect (warp, line)") && train.out.contains("started from stage 1's layers"), "\(train.out)")
        #expect(train.out.contains("ROC AUC") && train.out.contains("percentage points"), "\(train.out)")
        let (_, m1) = try ModelFile.load(path: dir + "/models/stage1.safetensors")
        #expect(m1.classes == ["good", "defect"] && m1.task == .multiclass)
        #expect(m1.spec.input == Shape(1, 24, 32), "--input-size WxH: \(m1.spec.input)")
        #expect((m1.thresholds["pass"] ?? 1) <= (m1.thresholds["fail"] ?? 0))
        #expect(m1.provenance.dataHash?.hasPrefix("fnv1a64:") == true && m1.provenance.metrics["test.escape_rate"] != nil)
        let (_, m2) = try ModelFile.load(path: dir + "/models/stage2.safetensors")
        #expect(m2.task == .multilabel && !m2.classes.isEmpty && !m2.classes.contains("good"))
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/models/report.json"))) as? [String: Any]
        #expect((report?["split"] as? [String: Int])?.values.reduce(0, +) == 160)
        let selfTraining = report?["self_training"] as? [String: Any]
        let pseudo = (selfTraining?["pseudo_good"] as? Int ?? -1) + (selfTraining?["pseudo_defective"] as? Int ?? -1)
        #expect(selfTraining?["unlabeled_frames"] as? Int == 40 && (0...40).contains(pseudo), "\(String(describing: selfTraining))")
        // every pseudo-labelled frame by name in self-training.csv, as many as the report counts
        let pseudoRows = try String(contentsOfFile: dir + "/models/self-training.csv", encoding: .utf8).split(separator: "\n")
        #expect(pseudoRows.first == "file,teacher_p_defect,pseudo_label" && pseudoRows.count - 1 == pseudo, "\(pseudoRows.prefix(3))")
        for row in pseudoRows.dropFirst() { #expect(FileManager.default.fileExists(atPath: dir + "/frames/" + row.split(separator: ",")[0]), "\(row)") }
        let line = (report?["line"] as? [String: Any])?["test"] as? [String: Any]
        #expect((line?["escapes"] as? Int).map { $0 <= (line?["defective"] as? Int ?? -1) } == true, "the line's figures on the test split: \(String(describing: line))")
        #expect(train.out.contains("the line on test (stage 1, stage 2 settles the unsure)"))
        let csvRows = try String(contentsOfFile: dir + "/models/test-scores.csv", encoding: .utf8).split(separator: "\n").dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false) }
        let lineEscapes = csvRows.filter { !$0[2].isEmpty && $0[7] == "pass" }.count
        #expect(lineEscapes == line?["escapes"] as? Int, "test-scores.csv and report.json agree on the line's escapes")
        // Every test part by name, with its stage-1 score and call at the picked thresholds.
        let scores = try String(contentsOfFile: dir + "/models/test-scores.csv", encoding: .utf8).split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false) }
        #expect(scores.first == ["file", "label", "defects", "p_defect", "stage1", "stage2_kinds", "stage2_margin", "line"])
        #expect(scores.count - 1 == (report?["split"] as? [String: Int])?["test"], "a row per test image")
        for row in scores.dropFirst() {
            let p = Double(row[3]) ?? -1
            let call = p >= (m1.thresholds["fail"] ?? 1) ? "fail" : p <= (m1.thresholds["pass"] ?? 0) ? "pass" : "unsure"
            #expect((0...1).contains(p) && row[4] == call && FileManager.default.fileExists(atPath: dir + "/parts/" + row[0]), "\(row)")
            // The line: stage 1's call, or for the unsure ones stage 2's (a kind over its threshold fails).
            #expect(row[7] == (call != "unsure" ? call : row[5].isEmpty ? "pass" : "fail"), "\(row)")
            let margin = Double(row[6]) ?? -1
            #expect(abs(margin - 1) < 1e-3 || row[5].isEmpty == (margin < 1), "a kind is found exactly when its score reaches its threshold: \(row)")
        }

        // evaluate judges the folder through the daemon's classifier: on the test images it
        // makes the calls test-scores.csv recorded, and its figures count every image
        let ev = try CLI.run(["evaluate", "--models", dir + "/models", "--data", dir + "/parts", "--json", "--plots", dir + "/plots", "--threads", "1"])
        #expect(ev.status == 0, "\(ev.err)")
        let e = try #require(try JSONSerialization.jsonObject(with: Data(ev.out.utf8)) as? [String: Any])
        let judged = try #require(e["images_judged"] as? [[String: Any]])
        #expect(judged.count == 160 && e["images"] as? Int == 160)
        let calls = Dictionary(uniqueKeysWithValues: judged.map { ($0["file"] as? String ?? "", $0) })
        for row in scores.dropFirst() {
            let c = calls[String(row[0])]
            #expect(c?["call"] as? String == String(row[7]), "evaluate and train agree on the line's call: \(row)")
            #expect(abs((c?["pDefect"] as? Double ?? -1) - (Double(row[3]) ?? 2)) < 1e-3, "and on stage 1's score: \(row)")
        }
        let evLine = try #require(e["line"] as? [String: Any])
        let fails = judged.filter { $0["call"] as? String == "fail" }
        #expect(evLine["falseRejects"] as? Int == fails.filter { ($0["defects"] as? [String])?.isEmpty == true }.count)
        #expect((evLine["defective"] as? Int ?? 0) + (evLine["good"] as? Int ?? 0) == 160)
        let roc = try String(contentsOfFile: dir + "/plots/roc.svg", encoding: .utf8)
        #expect(roc.contains("<svg") && roc.contains("curve") && FileManager.default.fileExists(atPath: dir + "/plots/reliability.png"))
        let text = try CLI.run(["evaluate", "--models", dir + "/models", "--data", dir + "/parts", "--threads", "1"])
        #expect(text.status == 0 && text.out.contains("the line: escapes") && text.out.contains("ROC AUC") && text.out.contains("percentage points"), "\(text.out)")
        for (args, message) in [(["--models", dir + "/nothing", "--data", dir + "/parts"], "has no stage1.safetensors"),
                                (["--models", dir + "/models", "--data", dir + "/parts", "--split", "test"], "is not split into train/, val/, test/"),
                                (["--models", dir + "/models"], "--models needs --data"),
                                (["--model", dir + "/models/stage1.safetensors", "--json"], "use them with --models")] {
            let r = try CLI.run(["evaluate"] + args)
            #expect(r.status != 0 && r.err.contains(message), "\(args): \(r.err)")
        }

        let config = lineConfig("""
        [[cameras]]
        id = "replay"
        source = "replay"
        path = "parts/scratch"
        fps = 10    # a live camera drops frames the workers cannot take; keep this under a debug build's pace
        loop = false
        """)
        try config.write(toFile: dir + "/linesight.toml", atomically: true, encoding: .utf8)
        let serve = try CLI.run(["serve", "--config", dir + "/linesight.toml", "--duration", "20", "--threads", "1"])
        #expect(serve.status == 0, "\(serve.err)")
        let scratches = try FileManager.default.contentsOfDirectory(atPath: dir + "/parts/scratch").count
        let store = try Store(path: dir + "/data/db.sqlite")
        let stats = try store.rangeStats()
        let errors = try store.pool.read { db in try String.fetchAll(db, sql: "SELECT DISTINCT error FROM verdicts WHERE error IS NOT NULL") }
        #expect(stats.frames == scratches && stats.noVerdicts == 0, "one verdict per replayed frame: \(stats.frames) of \(scratches), errors \(errors)")
        let models = try store.pool.read { db in try String.fetchSet(db, sql: "SELECT stage1_model FROM verdicts") }
        #expect(models.count == 1 && models.first?.count == 12, "the trained model's version on every row")
    }

    @Test("colour end to end: RGB parts train RGB stages, the daemon judges a colour camera with them, kept frames and exports stay colour, retrain keeps RGB")
    func colourEndToEnd() throws {
        let dir = try TemporaryDirectory.make("colour")
        try? FileManager.default.removeItem(atPath: dir)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let small = ["--threads", "1"]
        for (out, seed) in [("first", "11"), ("new", "12")] {
            let synth = try CLI.run(["synth", "--out", dir + "/" + out, "--count", out == "first" ? "160" : "80", "--size", "64x48", "--seed", seed, "--layout", "rgb"])
            #expect(synth.status == 0, "\(synth.err)")
        }
        try lineConfig("""
        [flagging]
        audit_share = 1.0
        [[cameras]]
        id = "colour"
        source = "synthetic"
        layout = "rgb"
        fps = 10
        width = 64
        height = 48
        defect_rate = 0.3
        """).write(toFile: dir + "/line.toml", atomically: true, encoding: .utf8)
        let cfg = ["--config", dir + "/line.toml"]
        let train = try CLI.run(["train", "--data", dir + "/first", "--input-size", "32x24", "--epochs", "1", "--width", "4"] + cfg + small)
        #expect(train.status == 0 && train.out.contains("RGB (the images are colour"), "\(train.out)\(train.err)")
        for stage in ["stage1", "stage2"] {
            #expect(try ModelFile.load(path: dir + "/models/\(stage).safetensors").metadata.spec.input == Shape(3, 24, 32), "\(stage) takes RGB")
        }
        let serve = try CLI.run(["serve", "--duration", "3"] + cfg + small)
        #expect(serve.status == 0, "\(serve.err)")
        let store = try Store(path: dir + "/data/db.sqlite")
        let stats = try store.rangeStats()
        #expect(stats.frames > 5 && stats.noVerdicts == 0, "every colour frame judged: \(stats.frames) frames, \(stats.noVerdicts) without a verdict")
        let kept = try store.pool.read { db in try FrameRecord.fetchAll(db) }
        let decoder = try JPEGDecoder()
        let first = try #require(kept.first)
        let header = try Data(contentsOf: URL(fileURLWithPath: dir + "/data/frames/" + first.path)).withUnsafeBytes { try decoder.header($0) }
        #expect(!header.isGray && header.width == 64, "a kept frame is the colour frame the camera gave")
        // labels from review go out in colour and a retrain of the RGB champion learns from them
        try store.label(kept.prefix(6).map { ($0.id!, [String]()) }, who: "qa", source: "review")
        let export = try CLI.run(["labels", "export", "--format", "imagefolder", "--out", dir + "/export"] + cfg)
        #expect(export.status == 0, "\(export.err)")
        let exported = try Data(contentsOf: URL(fileURLWithPath: dir + "/export/good/\(first.id!).jpg")).withUnsafeBytes { try decoder.header($0) }
        #expect(!exported.isGray)
        let retrain = try CLI.run(["retrain", "--data", dir + "/new", "--epochs", "1", "--dry-run", "--max-escape", "1", "--recall-tolerance", "1", "--max-false-reject", "1"] + cfg + small)
        #expect(retrain.status == 0 && retrain.out.contains("dry run: the challenger would be promoted"), "\(retrain.out)\(retrain.err)")
    }

    @Test("first training registers champions and freezes the golden set; retrain keeps or promotes by the gates; rollback")
    func registryRetrainRollback() throws {
        let dir = try TemporaryDirectory.make("registry")
        try? FileManager.default.removeItem(atPath: dir)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try """
        [store]
        database = "data/db.sqlite"
        [models]
        stage1 = "models/stage1.safetensors"
        stage2 = "models/stage2.safetensors"
        [[cameras]]
        id = "a"
        roi = [8, 4, 48, 40]
        """.write(toFile: dir + "/line.toml", atomically: true, encoding: .utf8)
        let cfg = ["--config", dir + "/line.toml"]
        let small = ["--threads", "1"]
        #expect(try CLI.run(["synth", "--out", dir + "/first", "--count", "160", "--size", "64x48", "--seed", "3"]).status == 0)
        #expect(try CLI.run(["synth", "--out", dir + "/new", "--count", "80", "--size", "64x48", "--seed", "4"]).status == 0)
        let train = try CLI.run(["train", "--data", dir + "/first", "--input-size", "32", "--epochs", "1", "--width", "4"] + cfg + small)
        #expect(train.status == 0 && train.out.contains("golden set frozen"), "\(train.err)")
        let store = try Store(path: dir + "/data/db.sqlite")
        let first = try #require(try store.champion(stage: 1))
        #expect(try store.champion(stage: 2) != nil)
        #expect(try Hashing.sha256(file: dir + "/models/stage1.safetensors").hasPrefix(first.version), "the champion is the live file")

        let strict = try CLI.run(["retrain", "--data", dir + "/new", "--epochs", "1", "--max-escape", "0"] + cfg + small)
        #expect(strict.status == 0 && strict.out.contains("kept the champion") && strict.out.contains("escape rate            FAIL"), "\(strict.out)\(strict.err)")
        #expect(try store.champion(stage: 1)?.version == first.version && store.models(stage: 1).contains { $0.status == .rejected })

        let dry = try CLI.run(["retrain", "--data", dir + "/new", "--epochs", "1", "--dry-run", "--max-escape", "1", "--recall-tolerance", "1", "--max-false-reject", "1",
                               "--stage2", "all"] + cfg + small)
        #expect(dry.status == 0 && dry.out.contains("dry run: the challenger would be promoted") && dry.out.contains("stage-2 recall"), "\(dry.out)\(dry.err)")
        let badStage2 = try CLI.run(["retrain", "--data", dir + "/new", "--stage2", "body"] + cfg)
        #expect(badStage2.status != 0 && badStage2.err.contains("--stage2 must be head or all"), "\(badStage2.err)")
        #expect(try store.models(stage: 1).count == 2, "a dry run registers nothing")

        // Without --data, retrain learns from the labels people gave in the database.
        let nothing = try CLI.run(["retrain", "--epochs", "1", "--dry-run"] + cfg + small)
        #expect(nothing.status != 0 && nothing.err.contains("no labels given since the champion"), "\(nothing.err)")
        try store.register(camera: "a", source: "synthetic")
        let rows = try String(contentsOfFile: dir + "/new/labels.csv", encoding: .utf8).split(separator: "\n").dropFirst()
            .map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        // Frames judged with the camera's ROI, except the first three, kept before it was set:
        // retraining learns from the region the daemon judged, one framing only.
        let roi = FrameRegion(x: 8, y: 4, width: 48, height: 40)
        try store.insert(rows.enumerated().map { i, r in
            VerdictBundle(verdict: VerdictRecord(cameraId: "a", capturedAt: Date().timeIntervalSince1970, frameSequence: Int64(i), stage1Score: 0.5,
                                                 decision: .pass, totalMs: 1, flags: [.uncertain]),
                          frame: FrameRecord(path: dir + "/new/" + r[0], sha256: String(repeating: "0", count: 64), bytes: 1, width: 64, height: 48,
                                             keptBecause: .flagged, roi: i < 3 ? nil : roi))
        })
        let frames = try store.pool.read { db in try Int64.fetchAll(db, sql: "SELECT id FROM frames ORDER BY id") }
        try store.label(zip(frames, rows).map { ($0, $1[2].split(separator: "+").map(String.init)) }, who: "qa", source: "review")
        let fromDB = try CLI.run(["retrain", "--epochs", "1", "--dry-run", "--max-escape", "1", "--recall-tolerance", "1", "--max-false-reject", "1"] + cfg + small)
        #expect(fromDB.status == 0 && fromDB.out.contains("collected \(rows.count - 3) labels given since") && fromDB.out.contains("from the database")
                && fromDB.out.contains("3 frames judged with another ROI than the camera's current one left out"), "\(fromDB.out)\(fromDB.err)")
        #expect(fromDB.out.contains("dry run: the challenger would be promoted"))
        #expect(try ImageFolderCount(dir + "/models/retrain-labels") == rows.count - 3)
        let crop = try JPEGDecoder().decode([UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/models/retrain-labels/"
            + "\(rows[3][2].split(separator: "+").first.map(String.init) ?? "good")/\(frames[3]).jpg"))), layout: .rgb)
        #expect(crop.width == 48 && crop.height == 40, "retrain learns from the 48x40 region the daemon judged, not the 64x48 frame")

        let lenient = try CLI.run(["retrain", "--data", dir + "/new", "--epochs", "1", "--max-escape", "1", "--recall-tolerance", "1", "--max-false-reject", "1"] + cfg + small)
        #expect(lenient.status == 0 && lenient.out.contains("promoted stage 1"), "\(lenient.out)\(lenient.err)")
        let second = try #require(try store.champion(stage: 1))
        let stage2 = try #require(try store.champion(stage: 2))
        #expect(lenient.out.contains("stage-2 recall") && stage2.parentId != nil, "stage 2 was retrained and promoted on its own gate")
        #expect(lenient.out.contains("(precision ") && lenient.out.contains("stage-2 macro-F1 on the gate images (not a gate): champion"), "\(lenient.out)")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir + "/models").filter { $0.contains("checkpoint") }
        #expect(leftovers.isEmpty, "a finished retrain removes its checkpoints: \(leftovers)")
        #expect(try Hashing.sha256(file: dir + "/models/stage2.safetensors").hasPrefix(stage2.version))
        #expect(second.version != first.version && second.parentId == first.id)
        #expect(try Hashing.sha256(file: dir + "/models/stage1.safetensors").hasPrefix(second.version))
        let runs = try store.pool.read { db in try String.fetchAll(db, sql: "SELECT status FROM training_runs ORDER BY id") }
        #expect(runs == ["kept_champion", "promoted"])

        let diff = try CLI.run(["models", "diff", first.version, second.version] + cfg)
        #expect(diff.status == 0 && diff.out.contains("threshold pass"))
        let back = try CLI.run(["models", "rollback", "--stage", "1"] + cfg)
        #expect(back.status == 0 && back.out.contains("rolled back to \(first.version)"), "\(back.err)")
        #expect(try Hashing.sha256(file: dir + "/models/stage1.safetensors").hasPrefix(first.version))
        // No --input-size: the init model's input (32), not the 64x48 images' own.
        let transfer = try CLI.run(["train", "--data", dir + "/new", "--epochs", "1", "--init", dir + "/models",
                                    "--fine-tune", "head", "--out", dir + "/transfer"] + small)
        #expect(transfer.status == 0 && transfer.out.contains("stage1: starting from") && transfer.out.contains("fine-tuning head"), "\(transfer.err)")
        #expect(transfer.out.contains("model input: 32 (the --init model's)"), "\(transfer.out)")
        let list = try CLI.run(["models", "list", "--json"] + cfg)
        #expect(list.status == 0 && list.out.contains("\"promoted_by\""))

        // First training can also come straight from the labels in the database.
        let noConfig = try CLI.run(["train", "--labels"])
        #expect(noConfig.status != 0 && noConfig.err.contains("--config"))
        // No --input-size: fitted to the labeled frames (64x48, under the long-side cap, so as they are).
        let fromLabels = try CLI.run(["train", "--labels", "--epochs", "1", "--width", "4"] + cfg + small)
        #expect(fromLabels.status == 0 && fromLabels.out.contains("training on \(rows.count - 3) labeled frames"), "\(fromLabels.out)\(fromLabels.err)")
        #expect(fromLabels.out.contains("model input: 48x40 (fitted to the images"), "the ROI's size: \(fromLabels.out)")
        #expect(try store.champion(stage: 1)?.version != first.version, "the new models are registered and promoted")

        // Self-supervised pretraining on the frames the daemon kept that are good as far as anyone
        // knows (here: those labeled good, cut to the ROI), then a training that starts from it.
        let good = rows.indices.filter { $0 >= 3 && rows[$0][2].isEmpty }.count
        let pre = try CLI.run(["pretrain", "--epochs", "1", "--width", "4"] + cfg + small)
        #expect(pre.status == 0 && pre.out.contains("pretraining on \(good) frames the daemon kept") && pre.out.contains("as they came against painted, ROC AUC 0."),
                "\(pre.out)\(pre.err)")
        let pretrained = dir + "/models/pretrained.safetensors"
        #expect(try ModelFile.load(path: pretrained).metadata.spec.input == Shape(1, 40, 48), "the 48x40 region the daemon judged, gray as the frames")
        let notStageOne = try CLI.run(["train", "--data", dir + "/first", "--epochs", "1", "--pretrained", dir + "/models/stage2.safetensors", "--out", dir + "/x"] + small)
        #expect(notStageOne.status != 0 && notStageOne.err.contains("is not a stage-1 model (pass/fail)"), "\(notStageOne.err)")
        let fromPretrained = try CLI.run(["train", "--data", dir + "/first", "--epochs", "1", "--pretrained", pretrained, "--out", dir + "/from-pretrained"] + small)
        #expect(fromPretrained.status == 0 && fromPretrained.out.contains("stage1: starting from the pretrained")
                && fromPretrained.out.contains("model input: 48x40 (the pretrained model's)") && fromPretrained.out.contains("started from stage 1's layers"),
                "\(fromPretrained.out)\(fromPretrained.err)")
    }
}

@Suite("Registry under kill -9")
struct RegistryKillTests {
    @Test("a promotion killed at any moment leaves a whole live file, and the registry follows it")
    func killDuringPromotion() throws {
        let dir = try TemporaryDirectory.make("promote-kill")
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir + "/models", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "[store]\ndatabase = \"db.sqlite\"\n[models]\nstage1 = \"models/stage1.safetensors\"\n[[cameras]]\nid = \"a\"\n"
            .write(toFile: dir + "/line.toml", atomically: true, encoding: .utf8)
        let cfg = ["--config", dir + "/line.toml"]
        try stage1(dir + "/a.safetensors", pDefect: 0.1)
        try stage1(dir + "/b.safetensors", pDefect: 0.9)
        let a = String(try Hashing.sha256(file: dir + "/a.safetensors").prefix(12)), b = String(try Hashing.sha256(file: dir + "/b.safetensors").prefix(12))
        #expect(try CLI.run(["models", "register", dir + "/a.safetensors", "--stage", "1"] + cfg).status == 0)
        #expect(try CLI.run(["models", "register", dir + "/b.safetensors", "--stage", "1"] + cfg).status == 0)
        #expect(try CLI.run(["models", "promote", a] + cfg).status == 0)
        var rng = SystemRandomNumberGenerator()
        for i in 0..<20 {
            let p = Child(CLI.binary, ["models", "promote", i % 2 == 0 ? b : a] + cfg)
            try p.start()
            usleep(UInt32.random(in: 0...60_000, using: &rng))
            kill(p.pid, SIGKILL)
            _ = p.finish(within: 30)
            let live = String(try Hashing.sha256(file: dir + "/models/stage1.safetensors").prefix(12))
            #expect(live == a || live == b, "the live file is one whole version, never a mix")
            #expect((try? ModelFile.load(path: dir + "/models/stage1.safetensors")) != nil)
        }
        let listed = try CLI.run(["models", "list"] + cfg)
        #expect(listed.status == 0)
        let live = String(try Hashing.sha256(file: dir + "/models/stage1.safetensors").prefix(12))
        let store = try Store(path: dir + "/db.sqlite")
        #expect(try store.champion(stage: 1)?.version == live, "after any interruption the registry names the live file")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir + "/models").filter { $0.contains(".tmp-") }
        #expect(leftovers.isEmpty, "temporary copies of killed promotions are cleaned up: \(leftovers)")
    }
}

/// Images listed in an exported ImageFolder's labels.csv that exist on disk.
/// A line config for a test folder: its database and frames under data/, its models under
/// models/, no HTTP, every frame judged however late (a debug build beside other tests),
/// then `tail` (the cameras and any other sections).
func lineConfig(_ tail: String) -> String {
    """
    [store]
    database = "data/db.sqlite"
    frames = "data/frames"
    [models]
    stage1 = "models/stage1.safetensors"
    stage2 = "models/stage2.safetensors"
    [http]
    enabled = false
    [pipeline]
    max_frame_age_ms = 60000
    \(tail)
    """
}

func ImageFolderCount(_ dir: String) throws -> Int {
    try String(contentsOfFile: dir + "/labels.csv", encoding: .utf8).split(separator: "\n").dropFirst()
        .filter { FileManager.default.fileExists(atPath: dir + "/" + $0.split(separator: ",")[0]) }.count
}
