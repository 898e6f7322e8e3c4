import Capture
import Foundation
import Imaging
import LinesightCore
import Neural
@testable import Inspection
import Store
import TestSupport
import Testing

func scratchDirectory() throws -> String {
    let dir = try TemporaryDirectory.make("inspection")
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
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
