import Capture
import Config
import Foundation
import GRDB
import Imaging
import LinesightCore
import Logging
import Neural
import Testing
@testable import Inspection
import Store
import TestSupport

@Suite("Inspection pipeline")
struct PipelineTests {
    let logger = Logger(label: "test.inspection")

    func synthetic(count: Int, format: PixelFormat = .mjpeg) throws -> SyntheticSource {
        var c = SyntheticConfig()
        c.width = 96
        c.height = 64
        return try SyntheticSource(c, fps: 0, format: format, count: count)
    }

    /// A queue long enough that a loaded test machine never drops a frame.
    var roomy: PipelineSettings {
        var s = PipelineSettings()
        s.queueCapacity = 1000
        return s
    }

    func run(_ pipeline: InspectionPipeline, until done: () -> Bool) {
        pipeline.start()
        let deadline = Date().addingTimeInterval(30)
        while !done() && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        pipeline.stop()
    }

    @Test func stageModelsAreCheckedForTheirJob() throws {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try constantModel(dir + "/nopass.safetensors", classes: ["scratch", "dent"], logits: [0, 0])
        #expect(throws: InspectionError.self) { _ = try StageModel(path: dir + "/nopass.safetensors", stage: .one) }
        try constantModel(dir + "/ml.safetensors", classes: ["good", "dent"], logits: [0, 0], task: .multilabel)
        #expect(throws: InspectionError.self) { _ = try StageModel(path: dir + "/ml.safetensors", stage: .two) }
        try stage1(dir + "/s1.safetensors", pDefect: 0.2)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: dir + "/s1.safetensors"))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: dir + "/cut.safetensors"))
        #expect { _ = try StageModel(path: dir + "/cut.safetensors", stage: .one) } throws: { error in
            guard case InspectionError.model(let path, _) = error else { return false }
            return path == dir + "/cut.safetensors"
        }
        let good = try StageModel(path: dir + "/s1.safetensors", stage: .one)
        #expect(good.version == String(Hashing.sha256(bytes).prefix(12)))
        #expect(good.geometry.width == 32 && good.geometry.layout == .gray)
    }

    @Test func stageOneAppliesTheModelsCalibrationTemperature() throws {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let logit = Float(log(0.9 / 0.1))
        try constantModel(dir + "/t.safetensors", classes: ["good", "defect"], logits: [0, logit], temperature: 2)
        let model = try StageModel(path: dir + "/t.safetensors", stage: .one)
        let input = [Float](repeating: 0, count: model.geometry.floatCount)
        let p = try input.withUnsafeBufferPointer { try model.defectProbability($0.baseAddress!) }
        #expect(abs(p - 1 / (1 + exp(-Double(logit) / 2))) < 1e-5, "softmax(z / T), T = 2: \(p)")
    }

    @Test func thresholdsComeFromTheModelUnlessTheConfigSaysOtherwise() throws {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try stage1(dir + "/s1.safetensors", pDefect: 0.5, thresholds: ["fail": 0.8, "pass": 0.1])
        var paths = ModelPaths(stage1: dir + "/s1.safetensors")
        #expect(try StagedClassifier(paths, roi: nil).thresholds.fail == 0.8)
        paths.fail = 0.6
        #expect(try StagedClassifier(paths, roi: nil).thresholds.fail == 0.8, "a config value does not undo the calibration")
        paths.overrideModel = true
        let c = try StagedClassifier(paths, roi: nil)
        #expect(c.thresholds.fail == 0.6 && c.thresholds.pass == 0.1)
        try stage1(dir + "/plain.safetensors", pDefect: 0.5)
        paths = ModelPaths(stage1: dir + "/plain.safetensors")
        paths.fail = 0.65
        #expect(try StagedClassifier(paths, roi: nil).thresholds.fail == 0.65, "a model without thresholds takes the config's")
    }

    /// The installed config (deploy/linesight.toml) once threw away what `train` fitted: it set
    /// fail, pass and defect explicitly, and those overrode the model's own thresholds.
    @Test func theShippedConfigKeepsTheModelsCalibratedThresholds() throws {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try stage1(dir + "/s1.safetensors", pDefect: 0.5, thresholds: ["fail": 0.83, "pass": 0.04])
        try stage2(dir + "/s2.safetensors", [("scratch", 0.9), ("dent", 0.2)], thresholds: ["defect": 0.35, "defect.dent": 0.15])
        var paths = try LineConfig.read(try ConfigSection.load(path: LineConfigTests.documented), baseDirectory: (LineConfigTests.documented as NSString).deletingLastPathComponent).models
        paths.stage1 = dir + "/s1.safetensors"
        paths.stage2 = dir + "/s2.safetensors"
        let t = try StagedClassifier(paths, roi: nil).thresholds
        #expect(t.fail == 0.83 && t.pass == 0.04 && t.defect == 0.35 && t.defect("dent") == 0.15)
    }

    @Test func everyFrameGetsOneVerdictAndFlaggedFramesAreKept() throws {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try stage1(dir + "/s1.safetensors", pDefect: 0.5)  // always unsure
        try stage2(dir + "/s2.safetensors", [("scratch", 0.55), ("dent", 0.1)])  // scratch, but not beyond doubt: both stages doubt
        let classifier = try StagedClassifier(ModelPaths(stage1: dir + "/s1.safetensors", stage2: dir + "/s2.safetensors"), roi: nil)
        let store = try Store(path: dir + "/db.sqlite")
        try store.register(camera: "cam1", source: "synthetic")
        let committer = GroupCommitter(store: store, interval: 0.02)
        let pipeline = InspectionPipeline(camera: "cam1", source: try synthetic(count: 25), classifier: classifier,
                                          flags: FlagSettings(), saver: try FrameSaver(root: dir + "/frames"),
                                          settings: roomy, logger: logger) { committer.submit($0) }
        run(pipeline) { pipeline.stats.verdicts == 25 }
        #expect(committer.flush())
        committer.close()
        let s = pipeline.stats
        #expect(s.received == 25 && s.fails == 25 && s.defects == ["scratch": 25] && s.flags[.uncertain] == 25)
        let rows = try store.pool.read { db in try VerdictRecord.order(Column("frame_sequence")).fetchAll(db) }
        #expect(rows.map(\.frameSequence) == Array(1...25), "one row per frame, none lost")
        #expect(rows.allSatisfy { $0.decision == .fail && $0.defectList == ["scratch"] && $0.flagList.contains(.uncertain) })
        #expect(rows[0].stage1Model == classifier.stage1.version && rows[0].stage2Model == classifier.stage2?.version)
        #expect(rows[0].stage2Scores == #"{"dent":0.1,"scratch":0.55}"#)
        let frames = try store.pool.read { db in try FrameRecord.fetchAll(db) }
        #expect(frames.count == 25 && frames.allSatisfy { $0.keptBecause == .flagged })
        let first = try #require(frames.first)
        let onDisk = try [UInt8](Data(contentsOf: URL(fileURLWithPath: dir + "/frames/" + first.path)))
        #expect(Hashing.sha256(onDisk) == first.sha256 && Int64(onDisk.count) == first.bytes)
        #expect(try JPEGDecoder().header(onDisk.withUnsafeBytes { $0 }).width == 96, "a real JPEG")
    }

    @Test func unreadableFramesBecomeNoVerdictsAndTheLineGoesOn() throws {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try stage1(dir + "/s1.safetensors", pDefect: 0.05)
        let classifier = try StagedClassifier(ModelPaths(stage1: dir + "/s1.safetensors"), roi: nil)
        var gen = SyntheticConfig()
        gen.width = 64
        gen.height = 48
        let good = try JPEGEncoder().encode(SyntheticGenerator(gen).sample(0).image, quality: 90)
        let frames = [
            Frame(sequence: 1, format: .mjpeg, width: 64, height: 48, bytes: good),
            Frame(sequence: 2, format: .mjpeg, width: 64, height: 48, bytes: Array(good.prefix(200))),
            Frame(sequence: 3, format: .grey, width: 64, height: 48, bytes: [UInt8](repeating: 9, count: 10)),
            Frame(sequence: 4, format: .grey, width: 64, height: 48, bytes: [UInt8](repeating: 128, count: 64 * 48)),
        ]
        let collected = Collector()
        let pipeline = InspectionPipeline(camera: "cam1", source: ListSource(frames), classifier: classifier,
                                          flags: FlagSettings(), saver: try FrameSaver(root: dir + "/frames"),
                                          logger: logger) { collected.add($0) }
        run(pipeline) { pipeline.stats.verdicts == 4 }
        let v = collected.bundles.map(\.verdict)
        #expect(v.map(\.decision) == [.pass, .noVerdict, .noVerdict, .pass])
        #expect(v[1].error?.isEmpty == false && v[1].flagList == [.noVerdict] && v[1].stage1Score == nil)
        #expect(collected.bundles[1].frame?.keptBecause == .flagged, "the broken frame is kept to look at")
    }

    @Test func framesThatWaitedTooLongAreRecordedAsTimeouts() throws {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try stage1(dir + "/s1.safetensors", pDefect: 0.05)
        var settings = PipelineSettings()
        settings.maxFrameAge = 0
        let collected = Collector()
        let pipeline = InspectionPipeline(camera: "cam1", source: try synthetic(count: 5),
                                          classifier: try StagedClassifier(ModelPaths(stage1: dir + "/s1.safetensors"), roi: nil),
                                          flags: FlagSettings(), saver: nil, settings: settings, logger: logger) { collected.add($0) }
        run(pipeline) { pipeline.stats.verdicts == 5 }
        #expect(collected.bundles.allSatisfy { $0.verdict.decision == .noVerdict && $0.verdict.error?.hasPrefix("timeout") == true })
        #expect(pipeline.stats.timedOut == 5)
    }

    @Test func aSwappedModelTakesOverBetweenFramesWithNoneLost() throws {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try stage1(dir + "/old.safetensors", pDefect: 0.05)
        try stage1(dir + "/new.safetensors", pDefect: 0.95)
        let old = try StagedClassifier(ModelPaths(stage1: dir + "/old.safetensors"), roi: nil)
        let new = try StagedClassifier(ModelPaths(stage1: dir + "/new.safetensors"), roi: nil)
        let collected = Collector()
        var c = SyntheticConfig()
        c.width = 64
        c.height = 48
        var settings = PipelineSettings()
        settings.queueCapacity = 64
        let pipeline = InspectionPipeline(camera: "cam1", source: try SyntheticSource(c, fps: 200, count: 60),
                                          classifier: old, flags: FlagSettings(), saver: nil, settings: settings,
                                          logger: logger) { collected.add($0) }
        pipeline.start()
        while pipeline.stats.verdicts < 10 { Thread.sleep(forTimeInterval: 0.005) }
        pipeline.swap(new)
        let deadline = Date().addingTimeInterval(30)
        while pipeline.stats.verdicts < 60 && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        pipeline.stop()
        let v = collected.bundles.map(\.verdict)
        #expect(v.map(\.frameSequence).sorted() == Array(1...60), "every frame accounted for")
        // Frames dropped on a loaded machine are no-verdicts recorded by the capture thread;
        // the judged ones, in frame order, show the swap.
        let judged = v.filter { $0.error == nil }.sorted { $0.frameSequence < $1.frameSequence }
        let versions = judged.map(\.stage1Model)
        let firstNew = try #require(versions.firstIndex(of: new.stage1.version))
        #expect(firstNew >= 10 && versions[..<firstNew].allSatisfy { $0 == old.stage1.version }
                && versions[firstNew...].allSatisfy { $0 == new.stage1.version }, "one clean switch")
        #expect(judged[..<firstNew].allSatisfy { $0.decision == .pass } && judged[firstNew...].allSatisfy { $0.decision == .fail })
        #expect(pipeline.stats.modelSwaps == 1)
        // Against the camera's truth (the same frames again): the old model's defective parts
        // escaped, the new one's good parts were falsely rejected, dropped frames not counted.
        let replay = try SyntheticSource(c, fps: 0, count: 60)
        var defective: [Int64: Bool] = [:]
        while case .frame(let f) = try replay.read(timeout: 1) { defective[Int64(f.sequence)] = !(f.truth ?? []).isEmpty }
        let truth = pipeline.stats.truth
        let isDefective = { (v: VerdictRecord) in defective[v.frameSequence] == true }
        #expect(truth.defective == UInt64(judged.filter(isDefective).count) && truth.good == UInt64(judged.count) - truth.defective)
        #expect(truth.escapes == UInt64(judged[..<firstNew].filter(isDefective).count))
        #expect(truth.falseRejects == UInt64(judged[firstNew...].filter { !isDefective($0) }.count))
        #expect(truth.defective > 0 && truth.good > 0, "the synthetic camera made both")
    }

    @Test func rawFramesAreEncodedWhenKept() throws {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try stage1(dir + "/s1.safetensors", pDefect: 0.99)
        let collected = Collector()
        let pipeline = InspectionPipeline(camera: "cam1", source: try synthetic(count: 3, format: .grey),
                                          classifier: try StagedClassifier(ModelPaths(stage1: dir + "/s1.safetensors"), roi: nil),
                                          flags: FlagSettings(), saver: try FrameSaver(root: dir + "/f"), settings: roomy,
                                          logger: logger) { collected.add($0) }
        run(pipeline) { pipeline.stats.verdicts == 3 }
        let f = try #require(collected.bundles.first?.frame)
        #expect(f.keptBecause == .failed && f.path.hasPrefix("cam1/") && f.path.hasSuffix(".jpg"))
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: dir + "/f/" + f.path)))
        let image = try JPEGDecoder().decode(bytes, layout: .gray)
        #expect(image.width == 96 && image.height == 64)
    }

    @Test(arguments: [false, true])
    func failedFramesKeepStageOnesMapWhenAsked(keepMaps: Bool) throws {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try brightnessModel(dir + "/s1.safetensors", input: Shape(1, 64, 96))   // fails every frame; its map is the brightness
        let collected = Collector()
        var settings = roomy
        settings.keepMaps = keepMaps
        let pipeline = InspectionPipeline(camera: "cam1", source: try synthetic(count: 4, format: .grey),
                                          classifier: try StagedClassifier(ModelPaths(stage1: dir + "/s1.safetensors"), roi: nil),
                                          flags: FlagSettings(), saver: try FrameSaver(root: dir + "/f"), settings: settings,
                                          logger: logger) { collected.add($0) }
        run(pipeline) { pipeline.stats.verdicts == 4 }
        let frames = collected.bundles.compactMap(\.frame)
        #expect(frames.count == 4 && frames.allSatisfy { $0.keptBecause == .failed })
        for f in frames {
            guard keepMaps else { #expect(f.defectMap == nil); continue }
            let map = try #require(f.defectMap.flatMap { ClassMap(json: $0) }, "\(f.defectMap?.prefix(80) ?? "nil")")
            #expect(map.width == 96 && map.height == 64 && map.values.max() == 1 && map.values.min()! >= 0)
            #expect(map.values.filter { $0 > 0 }.count > 100, "the brightness of a plate, not one spot")
        }
    }

    @Test("a map in the store's JSON: round trip to three decimals; not a map is nil")
    func mapJSON() {
        let m = ClassMap(width: 3, height: 2, values: [0, 0.25, 1, 0.12345, 0.5, 0])
        let back = ClassMap(json: m.json)
        #expect(m.json == #"{"width":3,"height":2,"values":[0,0.25,1,0.123,0.5,0]}"#)
        #expect(back?.width == 3 && back?.height == 2 && back?.values == [0, 0.25, 1, 0.123, 0.5, 0])
        for bad in [#"{"width":2,"height":2,"values":[0,1,0]}"#, #"{"width":1,"height":1,"values":[2]}"#, #"{"width":1,"height":1,"values":[-0.5]}"#,
                    #"{"width":0,"height":1,"values":[]}"#, #"{"width":70000,"height":70000,"values":[]}"#, "[]", "not json"] {
            #expect(ClassMap(json: bad) == nil, "\(bad)")
        }
    }

    @Test func twoWorkersJudgeEveryFrameExactlyOnce() throws {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try stage1(dir + "/s1.safetensors", pDefect: 0.5)
        try stage2(dir + "/s2.safetensors", [("crack", 0.8)])
        let paths = ModelPaths(stage1: dir + "/s1.safetensors", stage2: dir + "/s2.safetensors")
        var settings = roomy
        settings.workers = 2
        let collected = Collector()
        let pipeline = InspectionPipeline(camera: "cam1", source: try synthetic(count: 80),
                                          classifiers: [try StagedClassifier(paths, roi: nil), try StagedClassifier(paths, roi: nil)],
                                          flags: FlagSettings(), saver: try FrameSaver(root: dir + "/f"), settings: settings,
                                          logger: logger) { collected.add($0) }
        run(pipeline) { pipeline.stats.verdicts == 80 }
        let seqs = collected.bundles.map(\.verdict.frameSequence)
        #expect(seqs.sorted() == Array(1...80) && pipeline.workers == 2)
        #expect(collected.bundles.allSatisfy { $0.verdict.defectList == ["crack"] && $0.frame != nil })
        #expect(Set(collected.bundles.compactMap { $0.frame?.path }).count == 80, "each kept frame has its own file")
    }
}
