// `make bench-pipeline`: the inspection pipeline at line speed. A replay source of 640x480
// MJPEG frames (from the synthetic generator), stage 1 = the small ResNet at 128x128, about
// 10% of frames sent on to stage 2, verdicts group-committed to a real SQLite file.
// Steps the replay rate up and reports the highest rate sustained with zero drops, its
// p50/p99 capture-to-verdict latency, and the store's verdicts/s. Prints a table and
// writes the figures as JSON.
// With --models DIR it runs trained models (DIR/stage1.safetensors, DIR/stage2.safetensors,
// e.g. what `linesight train` wrote) at their own input size and flip averaging instead.
//   linesight-pipeline-bench WORKDIR [--seconds S] [--rates 100,150,...] [--workers N] [--models DIR]
import Capture
import Foundation
import Imaging
import Inspection
import Logging
import Neural
import Store

let args = CommandLine.arguments
guard args.count >= 2, args[1] != "--help" else {
    print("usage: linesight-pipeline-bench WORKDIR [--seconds S] [--rates 100,150,200] [--workers N] [--models DIR]\n(see `make bench-pipeline`)")
    exit(args.count >= 2 ? 0 : 2)
}
func option(_ name: String) -> String? { args.firstIndex(of: name).map { args[$0 + 1] } }
let work = args[1]
let seconds = option("--seconds").flatMap(Double.init) ?? 8
let rates = (option("--rates") ?? "100,150,200,250,300,400").split(separator: ",").compactMap { Double($0) }
let workers = option("--workers").flatMap(Int.init) ?? ProcessInfo.processInfo.activeProcessorCount
// one core per pipeline worker, the workers side by side: the models run `Compute.serial`,
// which is what library code runs with when given no other
BLASRuntime.setThreads(1)

var quiet = Logger(label: "bench")
quiet.logLevel = .critical
try? FileManager.default.removeItem(atPath: work)
try FileManager.default.createDirectory(atPath: work + "/frames", withIntermediateDirectories: true)

// Frames: 200 distinct 640x480 parts, 10% defective, as camera-like 4:2:0 JPEGs.
var gen = SyntheticConfig()
(gen.width, gen.height, gen.layout, gen.defectRate) = (640, 480, .gray, 0.1)
let generator = try SyntheticGenerator(gen)
let encoder = try JPEGEncoder()
for i in 0..<200 {
    try Data(encoder.encode(generator.sample(i).image, quality: 85)).write(to: URL(fileURLWithPath: work + "/frames/\(String(format: "%04d", i)).jpg"))
}

// Models: trained ones from --models, or the small ResNet (depth 8, width 32) at 1x128x128
// for both stages.
func model(_ path: String, classes: [String], task: ModelMetadata.Task, seed: UInt64) throws {
    let net = try Network(Zoo.smallResNet(input: Shape(1, 128, 128), classes: classes.count, depth: 8, width: 32), seed: seed)
    try ModelFile.save(net, ModelMetadata(spec: net.spec, task: task, classes: classes, normalization: .init(mean: [0.5], std: [0.25]),
                                          provenance: .init(created: "bench")), to: path)
}
var stageDescription = "resnet8-w32 at 1x128x128, stage 2 the same for ~10%"
if let dir = option("--models") {
    for stage in ["stage1", "stage2"] {
        try FileManager.default.copyItem(atPath: "\(dir)/\(stage).safetensors", toPath: "\(work)/\(stage).safetensors")
    }
    let (_, m1) = try ModelFile.load(path: work + "/stage1.safetensors")
    let (_, m2) = try ModelFile.load(path: work + "/stage2.safetensors")
    let describe = { (m: ModelMetadata) in "\(m.spec.name) at \(m.spec.input.channels)x\(m.spec.input.height)x\(m.spec.input.width)" }
    stageDescription = "\(dir): stage 1 \(describe(m1))\(m1.flipAverage == true ? " averaged over 4 flips" : ""), stage 2 \(describe(m2)) for ~10%"
} else {
    try model(work + "/stage1.safetensors", classes: ["good", "defect"], task: .multiclass, seed: 1)
    try model(work + "/stage2.safetensors", classes: DefectKind.allCases.map(\.rawValue), task: .multilabel, seed: 2)
}

// Route ~10% to stage 2: the pass threshold is the 90th percentile of stage-1 scores here.
var paths = ModelPaths(stage1: work + "/stage1.safetensors", stage2: work + "/stage2.safetensors")
let probe = try StagedClassifier(paths, roi: nil)
var scores: [Double] = []
let replay = try ReplaySource(ReplayConfig(path: work + "/frames", fps: 0, loop: false))
while case .frame(let f) = try replay.read(timeout: 1) {
    scores.append(try f.withView { try probe.judge($0) }.stage1Score)
}
scores.sort()
paths.pass = scores[scores.count * 9 / 10]
paths.fail = 1.0

struct Run: Codable {
    var rate: Double; var achieved_fps: Double; var verdicts: Int; var dropped: Int; var timed_out: Int
    var stage2_share: Double; var p50_ms: Double; var p99_ms: Double; var sustained: Bool
}

final class Latencies: @unchecked Sendable {
    let lock = NSLock()
    var ms: [Double] = []
    var stage2 = 0
}

func runAt(_ rate: Double) throws -> Run {
    let dbPath = work + "/bench-\(Int(rate)).sqlite"
    let store = try Store(path: dbPath)
    try store.register(camera: "bench", source: "replay")
    let committer = GroupCommitter(store: store, interval: 0.1, logger: quiet)
    let lat = Latencies()
    var settings = PipelineSettings()
    settings.queueCapacity = 16
    settings.workers = workers
    let classifiers = try (0..<workers).map { _ in try StagedClassifier(paths, roi: nil) }
    let pipeline = InspectionPipeline(camera: "bench", source: try ReplaySource(ReplayConfig(path: work + "/frames", fps: rate, loop: true)),
                                      classifiers: classifiers, flags: FlagSettings(), saver: nil, settings: settings, logger: quiet) { b in
        committer.submit(b)
        lat.lock.lock()
        lat.ms.append(b.verdict.totalMs)
        if b.verdict.stage2Ms != nil { lat.stage2 += 1 }
        lat.lock.unlock()
    }
    pipeline.start()
    Thread.sleep(forTimeInterval: 1)  // warm-up, not counted
    lat.lock.lock(); lat.ms.removeAll(); lat.stage2 = 0; lat.lock.unlock()
    let start = pipeline.stats
    let t0 = Date()
    Thread.sleep(forTimeInterval: seconds)
    let end = pipeline.stats
    let elapsed = Date().timeIntervalSince(t0)
    pipeline.stop()
    _ = committer.flush(timeout: 30)
    committer.close()
    lat.lock.lock()
    let sorted = lat.ms.sorted()
    let stage2 = lat.stage2
    lat.lock.unlock()
    let verdicts = Int(end.verdicts - start.verdicts), dropped = Int(end.dropped - start.dropped), late = Int(end.timedOut - start.timedOut)
    let fps = Double(verdicts) / elapsed
    let p = { (q: Double) in sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(q * Double(sorted.count)))] }
    return Run(rate: rate, achieved_fps: fps, verdicts: verdicts, dropped: dropped, timed_out: late,
               stage2_share: sorted.isEmpty ? 0 : Double(stage2) / Double(sorted.count), p50_ms: p(0.5), p99_ms: p(0.99),
               sustained: dropped == 0 && late == 0 && fps >= rate * 0.97)
}

var runs: [Run] = []
for rate in rates {
    let r = try runAt(rate)
    runs.append(r)
    FileHandle.standardError.write(Data(String(format: "rate %5.0f fps: achieved %6.1f, dropped %d, p50 %.2f ms, p99 %.2f ms, stage 2 %.0f%%\n",
                                               r.rate, r.achieved_fps, r.dropped, r.p50_ms, r.p99_ms, r.stage2_share * 100).utf8))
}

// The store alone: 200k verdicts through the group committer.
let store = try Store(path: work + "/commit.sqlite")
try store.register(camera: "bench", source: "replay")
let committer = GroupCommitter(store: store, interval: 0.1, maxBatch: 5000, logger: quiet)
let n = 200_000
let c0 = Date()
for i in 0..<n {
    committer.submit(VerdictBundle(verdict: VerdictRecord(cameraId: "bench", capturedAt: 1.8e9 + Double(i) / 200, frameSequence: Int64(i),
                                                          stage1Score: 0.1, decision: .pass, stage1Model: "bench", stage1Ms: 1, totalMs: 3)))
}
_ = committer.flush(timeout: 600)
let commitRate = Double(n) / Date().timeIntervalSince(c0)
committer.close()

struct Report: Codable {
    var frames: String; var stage1: String; var workers: Int; var seconds_per_rate: Double
    var runs: [Run]; var sustained_fps: Double; var sustained_p50_ms: Double?; var sustained_p99_ms: Double?
    var sqlite_verdicts_per_second: Double; var target: String
}
let best = runs.filter(\.sustained).max { $0.rate < $1.rate }
let report = Report(frames: "640x480 gray MJPEG (replay)", stage1: stageDescription,
                    workers: workers, seconds_per_rate: seconds, runs: runs, sustained_fps: best?.rate ?? 0,
                    sustained_p50_ms: best?.p50_ms, sustained_p99_ms: best?.p99_ms, sqlite_verdicts_per_second: commitRate,
                    target: ">= 200 frames/s sustained with zero drops, p99 <= 20 ms")
let enc = JSONEncoder()
enc.outputFormatting = [.prettyPrinted, .sortedKeys]
print(String(decoding: try enc.encode(report), as: UTF8.self))
