import Capture
import Foundation
import Imaging
import Neural
@testable import Inspection
import Store
import Testing

func scratchDirectory() throws -> String {
    let dir = NSTemporaryDirectory() + "linesight-inspection-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

/// A real model file whose output ignores the image: the last layer's weights are zero
/// and its bias holds `logits`, so a test knows exactly what the model will say.
func constantModel(_ path: String, classes: [String], logits: [Float], task: ModelMetadata.Task = .multiclass,
                   thresholds: [String: Double] = [:], input: Shape = Shape(1, 32, 32)) throws {
    let net = try Network(Zoo.lightNet(input: input, classes: classes.count, width: 4), seed: 3)
    let last = try #require(net.allLayers.compactMap { $0 as? Linear }.last)
    for i in 0..<last.weight.value.count { last.weight.value[i] = 0 }
    for (i, z) in logits.enumerated() { last.bias!.value[i] = z }
    let meta = ModelMetadata(spec: net.spec, task: task, classes: classes,
                             normalization: .init(mean: [0.5], std: [0.25]), thresholds: thresholds,
                             provenance: .init(created: "2026-11-29", notes: "test constant model"))
    try ModelFile.save(net, meta, to: path)
}

/// Stage-1 model with a fixed P(defect).
func stage1(_ path: String, pDefect: Double, thresholds: [String: Double] = [:]) throws {
    try constantModel(path, classes: ["good", "defect"], logits: [0, Float(log(pDefect / (1 - pDefect)))], thresholds: thresholds)
}

/// Stage-2 multilabel model with fixed per-kind probabilities.
func stage2(_ path: String, _ scores: [(String, Double)]) throws {
    try constantModel(path, classes: scores.map(\.0), logits: scores.map { Float(log($0.1 / (1 - $0.1))) }, task: .multilabel)
}

/// A source that plays a fixed list of frames, then ends: for corrupt bytes and exact sequences.
final class ListSource: FrameSource {
    let name = "list"
    private(set) var counters = CaptureCounters()
    private(set) var state: SourceState = .idle
    private var frames: [Frame]

    init(_ frames: [Frame]) { self.frames = frames }

    func read(timeout: Double) throws -> CaptureResult {
        guard !frames.isEmpty, state != .ended else { state = .ended; return .ended }
        counters.frames += 1
        state = .streaming
        var f = frames.removeFirst()
        f.monotonicNanos = monotonicNow()
        return .frame(f)
    }

    func close() { state = .ended }
}

/// Collects what a pipeline sends to the store, in order.
final class Collector: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [VerdictBundle] = []
    var bundles: [VerdictBundle] { lock.lock(); defer { lock.unlock() }; return items }
    func add(_ b: VerdictBundle) { lock.lock(); items.append(b); lock.unlock() }
}
