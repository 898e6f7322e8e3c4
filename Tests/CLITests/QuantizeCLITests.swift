import Foundation
import Neural
import Store
import TestSupport
import Testing

/// `linesight quantize` as a user runs it, and the daemon on the int8 model it writes: the
/// same synthetic camera frames (the same sequence numbers) judged by the fp32 model and by
/// its int8 form get stage-1 scores within a few hundredths, and the log says int8.
@Suite("int8 models from the command line", .serialized)
struct QuantizeCLITests {
    /// A stage-1 model whose score depends on the image: random weights, random statistics.
    static func stage1(_ path: String) throws {
        let spec = Zoo.smallResNet(input: Shape(1, 64, 96), classes: 2, depth: 8, width: 8, stemPool: true, globalPool: .avg)
        let net = try Network(spec, seed: 21)
        var rng = SplitMix64(seed: 4)
        for case let bn as BatchNorm2d in net.allLayers {
            for i in 0..<bn.shape.channels {
                bn.runningVar[i] = 0.5 + Float(rng.next() % 1000) / 1000
                bn.bias.value[i] = Float(Int(rng.next() % 200) - 100) / 1000
            }
        }
        let meta = ModelMetadata(spec: spec, classes: ["good", "defect"], normalization: .init(mean: [0.5], std: [0.25]),
                                 thresholds: ["pass": 0.3, "fail": 0.7], provenance: .init(created: "2026-12-06", notes: "int8 test"))
        try ModelFile.save(net, meta, to: path)
    }

    func scores(_ h: ServeHarness) throws -> [Int64: Double] {
        let store = try Store(path: h.dir + "/data/inspection.sqlite")
        var out: [Int64: Double] = [:]
        var query = VerdictQuery()
        query.limit = 500
        for v in try store.verdicts(query).items { out[v.frameSequence] = v.stage1Score }
        return out
    }

    @Test("quantize, then serve the int8 model: the same frames get the fp32 model's scores")
    func quantizeAndServe() throws {
        let h = try ServeHarness(name: "int8")
        defer { TemporaryDirectory.remove(h.dir) }
        let fp32 = h.dir + "/models/stage1.safetensors", kept = h.dir + "/stage1.fp32.safetensors"
        try Self.stage1(fp32)
        try FileManager.default.copyItem(atPath: fp32, toPath: kept)
        let cal = h.dir + "/calibration"
        let synth = try CLI.run(["synth", "--out", cal, "--count", "60", "--size", "96x64", "--seed", "3"])
        try #require(synth.status == 0, "\(synth.err)")

        let q = try CLI.run(["quantize", "--model", kept, "--calibrate", cal, "--threads", "1"])
        try #require(q.status == 0, "\(q.err)")
        let int8 = h.dir + "/stage1.fp32.int8.safetensors"
        #expect(q.out.contains("calibrating on") && q.out.contains("held out to check") && q.out.contains("top class agrees on")
                && q.out.contains("int8 model written to \(int8)"), "\(q.out)")
        let (_, meta) = try ModelFile.load(path: int8)
        let quantization = try #require(meta.quantization)
        #expect(quantization.method == .percentile && quantization.percentile == 99.99 && quantization.frames > 40 && quantization.ranges["input"] != nil)
        #expect(meta.provenance.metrics["int8.top_class_agreement"] != nil)

        // the fp32 model first, then the int8 one, on the same frames of the synthetic camera
        try h.start(duration: 4)
        let first = h.finish()
        try #require(first.status == 0, "\(first.err)")
        let reference = try scores(h)
        try FileManager.default.removeItem(atPath: h.dir + "/data")
        try FileManager.default.removeItem(atPath: fp32)
        try FileManager.default.copyItem(atPath: int8, toPath: fp32)
        try h.start(duration: 4)
        let second = h.finish()
        try #require(second.status == 0, "\(second.err)")
        #expect(second.err.contains("model.precision=int8 (") || second.err.contains("model.precision\":\"int8"), "\(second.err.suffix(800))")
        #expect(first.err.contains("model.precision=fp32"), "\(first.err.suffix(800))")
        let judged = try scores(h)
        let common = Set(reference.keys).intersection(judged.keys)
        #expect(common.count >= 20, "\(common.count) frames judged by both")
        let gaps = common.map { abs(reference[$0]! - judged[$0]!) }
        let spread = (reference.values.max() ?? 0) - (reference.values.min() ?? 0)
        #expect(spread > 0.01, "the fp32 scores vary over the frames (\(spread)), or the comparison proves little")
        #expect(gaps.max()! <= 0.05, "int8 moves a stage-1 score by \(gaps.max()!) at most (spread \(spread))")
        #expect(gaps != gaps.map { _ in 0 }, "int8 scores equal fp32 to the bit: did the daemon run fp32?")
    }

    @Test("an int8 model that cannot be built is refused on reload, and the line goes on (the shipped config)")
    func brokenInt8Reload() throws {
        let h = try ServeHarness.shipped(name: "int8-reload")
        defer { TemporaryDirectory.remove(h.dir) }
        try h.start()
        #expect(h.wait(60) { (h.metric("linesight_store_committed_total") ?? 0) >= 5 }, "verdicts are committed")
        // ranges that name no tensor of the network: the file decodes, its int8 form cannot be built
        let live = h.dir + "/linesight-data/models/stage1.safetensors"
        var (net, meta) = try ModelFile.load(path: live)
        meta.quantization = Quantization(method: .minmax, frames: 1, ranges: ["input": [-1, 1]])
        try ModelFile.save(net, meta, to: live)
        kill(h.pid, SIGHUP)
        #expect(h.wait(15) { h.metric("linesight_model_reloads_total{result=\"refused\"}") ?? 0 >= 1 }, "the reload is refused")
        let before = h.metric("linesight_store_committed_total") ?? 0
        #expect(h.wait(15) { (h.metric("linesight_store_committed_total") ?? 0) > before + 5 }, "verdicts keep flowing")
        kill(h.pid, SIGTERM)
        let r = h.finish()
        #expect(r.status == 0 && r.err.contains("int8 form cannot be built"), "\(r.err.suffix(600))")
        _ = net
    }

    @Test("quantize refuses what it cannot do and says why")
    func refusals() throws {
        try TemporaryDirectory.with("quantize-refuse") { dir in
            let model = dir + "/s1.safetensors"
            try Self.stage1(model)
            let empty = dir + "/empty"
            try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
            let none = try CLI.run(["quantize", "--model", model, "--calibrate", empty])
            #expect(none.status != 0 && none.err.contains("no JPEG images"), "\(none.err)")
            let neither = try CLI.run(["quantize", "--model", model])
            #expect(neither.status != 0 && neither.err.contains("--calibrate DIR or --config FILE"), "\(neither.err)")
            let pct = try CLI.run(["quantize", "--model", model, "--calibrate", empty, "--method", "entropy", "--percentile", "99"])
            #expect(pct.status != 0 && pct.err.contains("--percentile applies to --method percentile only"), "\(pct.err)")
            let range = try CLI.run(["quantize", "--model", model, "--calibrate", empty, "--percentile", "140"])
            #expect(range.status != 0 && range.err.contains("50...100"), "\(range.err)")
            let method = try CLI.run(["quantize", "--model", model, "--calibrate", empty, "--method", "kl"])
            #expect(method.status != 0 && method.err.contains("kl"), "\(method.err)")
            let selfOut = try CLI.run(["quantize", "--model", model, "--calibrate", empty, "--out", model])
            #expect(selfOut.status != 0 && selfOut.err.contains("must not be the fp32 model"), "\(selfOut.err)")
            // an int8 model is not quantized again
            let cal = dir + "/cal"
            #expect(try CLI.run(["synth", "--out", cal, "--count", "12", "--size", "96x64"]).status == 0)
            let once = try CLI.run(["quantize", "--model", model, "--calibrate", cal, "--method", "minmax"])
            try #require(once.status == 0, "\(once.err)")
            #expect(once.out.contains("too few to hold some out"), "\(once.out)")
            let twice = try CLI.run(["quantize", "--model", dir + "/s1.int8.safetensors", "--calibrate", cal, "--out", dir + "/again.safetensors"])
            #expect(twice.status == 0 && twice.out.contains("quantized again, its old ranges replaced"), "\(twice.out)\(twice.err)")
            let frames = try CLI.run(["quantize", "--model", model, "--calibrate", cal, "--frames", "100000"])
            #expect(frames.status != 0 && frames.err.contains("--frames must be between 1 and 2000"), "\(frames.err)")
            // a model file whose quantization was tampered with is refused on load, naming the field
            var (net, meta) = try ModelFile.load(path: dir + "/s1.int8.safetensors")
            meta.quantization?.ranges["input"] = [Float.nan, 1]
            try ModelFile.save(net, meta, to: dir + "/bad.safetensors")
            #expect(throws: NeuralError.self) { try ModelFile.load(path: dir + "/bad.safetensors") }
            meta.quantization?.ranges["input"] = nil
            try ModelFile.save(net, meta, to: dir + "/norange.safetensors")
            let export = try CLI.run(["export", "--model", dir + "/norange.safetensors", "--out", dir + "/x.onnx"])
            #expect(export.status == 0, "an int8 model's fp32 weights still export: \(export.err)")
            _ = net
        }
    }
}

/// The int8 form of a line's stage-1 and stage-2 champions through the registry: judged on the golden set
/// against the fp32 champion, promoted only within 0.5 points of its escapes and false
/// rejects, else rejected with the champion kept.
@Suite("int8 challengers in the registry", .serialized)
struct QuantizeRegistryTests {
    @Test("quantize --config registers the int8 champion's form and decides by the gate")
    func gate() throws {
        try TemporaryDirectory.with("int8-registry") { dir in
            try """
            [store]
            database = "data/db.sqlite"
            [models]
            stage1 = "models/stage1.safetensors"
            stage2 = "models/stage2.safetensors"
            [[cameras]]
            id = "a"
            """.write(toFile: dir + "/line.toml", atomically: true, encoding: .utf8)
            let cfg = ["--config", dir + "/line.toml"], small = ["--threads", "1"]
            #expect(try CLI.run(["synth", "--out", dir + "/first", "--count", "200", "--size", "64x48", "--seed", "5"]).status == 0)
            let train = try CLI.run(["train", "--data", dir + "/first", "--input-size", "32", "--epochs", "2", "--width", "4"] + cfg + small)
            try #require(train.status == 0, "\(train.err)")
            let store = try Store(path: dir + "/data/db.sqlite")
            let champion = try #require(try store.champion(stage: 1))

            // neither champion: written, nothing registered
            let (otherNet, otherMeta) = try ModelFile.load(path: dir + "/models/stage2.safetensors")
            otherNet.namedParameters[0].1.value[0] += 0.5
            try ModelFile.save(otherNet, otherMeta, to: dir + "/other.safetensors")
            let other = try CLI.run(["quantize", "--model", dir + "/other.safetensors", "--calibrate", dir + "/first"] + cfg + small)
            #expect(other.status != 0 && other.err.contains("is neither the stage-1 champion"), "\(other.err)")
            #expect(FileManager.default.fileExists(atPath: dir + "/other.int8.safetensors"))
            #expect(try store.models(stage: 1).count == 1 && store.models(stage: 2).count == 1)

            // a config that names no stage 2 cannot judge the line with one: refused before anything is registered
            try String(contentsOfFile: dir + "/line.toml", encoding: .utf8).replacingOccurrences(of: "stage2 = \"models/stage2.safetensors\"\n", with: "")
                .write(toFile: dir + "/nostage2.toml", atomically: true, encoding: .utf8)
            let blind = try CLI.run(["quantize", "--model", dir + "/models/stage2.safetensors", "--calibrate", dir + "/first",
                                     "--config", dir + "/nostage2.toml", "--out", dir + "/blind.int8.safetensors"] + small)
            #expect(blind.status != 0 && blind.err.contains("names no stage-2 model"), "\(blind.err)")
            #expect(try store.models(stage: 2).count == 1)

            // the stage-2 champion's int8 form: the line judged with each stage 2, the live stage 1 deciding
            let champion2 = try #require(try store.champion(stage: 2))
            let q2 = try CLI.run(["quantize", "--model", dir + "/models/stage2.safetensors", "--calibrate", dir + "/first"] + cfg + small)
            try #require(q2.status == 0, "\(q2.err)")
            #expect(q2.out.contains("int8 line escapes") && q2.out.contains("int8 line false rejects") && q2.out.contains("in fp32 and in int8"),
                    "\(q2.out)")
            let record2 = try #require(try store.models(stage: 2).first { $0.version != champion2.version })
            #expect(record2.parentId == champion2.id)
            #expect(try store.models(stage: 1).count == 1, "stage 1 untouched")
            if q2.out.contains("promoted int8") {
                #expect(try store.champion(stage: 2)?.version == record2.version)
                #expect(try ModelFile.load(path: dir + "/models/stage2.safetensors").metadata.quantization != nil, "the live stage-2 file is int8")
                let back = try CLI.run(["models", "rollback", "--stage", "2"] + cfg)
                let restored2 = try store.champion(stage: 2)?.version
                #expect(back.status == 0 && restored2 == champion2.version, "\(back.err)")
            } else {
                #expect(q2.out.contains("kept the fp32 champion") && record2.status == .rejected, "\(q2.out)")
                #expect(try store.champion(stage: 2)?.version == champion2.version)
            }

            // --no-promote: registered when it passes, the champion stays either way
            let held = try CLI.run(["quantize", "--model", dir + "/models/stage1.safetensors", "--calibrate", dir + "/first", "--no-promote",
                                    "--out", dir + "/held.int8.safetensors"] + cfg + small)
            try #require(held.status == 0, "\(held.err)")
            #expect(held.out.contains("int8 escapes") && held.out.contains("int8 false rejects") && held.out.contains("golden images"), "\(held.out)")
            #expect(try store.champion(stage: 1)?.version == champion.version)
            let heldRecord = try #require(try store.models(stage: 1).first { $0.version != champion.version })
            #expect(heldRecord.parentId == champion.id)
            #expect(heldRecord.status == (held.out.contains("registered int8") ? .candidate : .rejected), "\(held.out)")

            let q = try CLI.run(["quantize", "--model", dir + "/models/stage1.safetensors", "--calibrate", dir + "/first"] + cfg + small)
            try #require(q.status == 0, "\(q.err)")
            let passed = !q.out.contains("FAIL")
            let now = try #require(try store.champion(stage: 1))
            if passed {
                #expect(q.out.contains("promoted int8") && now.version != champion.version, "\(q.out)")
                let (_, live) = try ModelFile.load(path: dir + "/models/stage1.safetensors")
                #expect(live.quantization != nil, "the live stage-1 file is the int8 model")
                let back = try CLI.run(["models", "rollback", "--stage", "1"] + cfg)
                let restored = try store.champion(stage: 1)?.version
                #expect(back.status == 0 && restored == champion.version, "\(back.err)")
            } else {
                #expect(q.out.contains("kept the fp32 champion") && now.version == champion.version, "\(q.out)")
                #expect(try store.models(stage: 1).contains { $0.status == .rejected })
            }

            // an int8 champion retrained: judged in int8, its challenger fp32 (the old ranges do not fit new weights)
            // (the same model quantized the same way is the same file: one int8 version)
            #expect(try CLI.run(["models", "promote", heldRecord.version] + cfg).status == 0)
            let int8Champion = try #require(try store.champion(stage: 1))
            #expect(try ModelFile.load(path: dir + "/models/stage1.safetensors").metadata.quantization != nil)
            #expect(try CLI.run(["synth", "--out", dir + "/new", "--count", "60", "--size", "64x48", "--seed", "6"]).status == 0)
            let retrain = try CLI.run(["retrain", "--data", dir + "/new", "--epochs", "1", "--stage1-only", "--max-escape", "1", "--recall-tolerance", "1",
                                       "--max-false-reject", "1"] + cfg + small)
            try #require(retrain.status == 0, "\(retrain.out)\(retrain.err)")
            let retrained = try #require(try store.champion(stage: 1))
            #expect(retrained.version != int8Champion.version && retrained.parentId == int8Champion.id, "\(retrain.out)")
            #expect(try ModelFile.load(path: dir + "/models/stage1.safetensors").metadata.quantization == nil, "the retrained champion is fp32")
        }
    }
}
