import Foundation
import Imaging

/// Writes generated samples as an ImageFolder dataset:
///
///     DIR/good/000123.jpg              one folder per primary label
///     DIR/scratch/000007.jpg           (a part with two defects goes under the first)
///     DIR/labels.csv                   file,label,defects,subtle,boxes  (all defects, for multi-label)
///     DIR/synth.json                   the generator config, to regenerate or extend
///
/// Sample indices run from `start`, so two calls with disjoint ranges give disjoint
/// datasets from the same generator (e.g. train and test).
public struct DatasetWriter {
    public let generator: SyntheticGenerator
    public let quality: Int

    public init(generator: SyntheticGenerator, quality: Int = 92) {
        self.generator = generator
        self.quality = quality
    }

    /// Generates `count` samples into `directory` on `workers` threads; `progress`
    /// is called (from one thread at a time) with the number done so far.
    @discardableResult
    public func write(to directory: String, start: Int = 0, count: Int, workers: Int = 2,
                      progress: @escaping @Sendable (Int) -> Void = { _ in }) throws -> [String: Int] {
        guard count > 0 else { throw CaptureError.invalidConfig("count must be positive") }
        let fm = FileManager.default
        var isDir: ObjCBool = false
        if fm.fileExists(atPath: directory, isDirectory: &isDir) {
            guard isDir.boolValue else { throw CaptureError.invalidConfig("\(directory) exists and is not a folder") }
            let existing = try fm.contentsOfDirectory(atPath: directory).filter { !$0.hasPrefix(".") }
            guard existing.isEmpty else {
                throw CaptureError.invalidConfig("\(directory) is not empty; choose a new folder so no data is mixed or overwritten")
            }
        }
        for label in ["good"] + generator.config.kinds.map(\.rawValue) {
            try fm.createDirectory(atPath: directory + "/" + label, withIntermediateDirectories: true)
        }
        let rows = try generate(into: directory, start: start, count: count, workers: max(1, workers), progress: progress)
        var csv = "file,label,defects,subtle,boxes\n"
        var counts: [String: Int] = [:]
        for row in rows {
            csv += row.line + "\n"
            counts[row.label, default: 0] += 1
        }
        try csv.write(toFile: directory + "/labels.csv", atomically: true, encoding: .utf8)
        let meta = JSONEncoder()
        meta.outputFormatting = [.prettyPrinted, .sortedKeys]
        try meta.encode(generator.config).write(to: URL(fileURLWithPath: directory + "/synth.json"))
        return counts
    }

    private struct Row { var label: String; var line: String }

    private func generate(into directory: String, start: Int, count: Int, workers: Int,
                          progress: @escaping @Sendable (Int) -> Void) throws -> [Row] {
        let lock = NSLock()
        nonisolated(unsafe) var rows = [Row?](repeating: nil, count: count)
        nonisolated(unsafe) var failure: Error?
        nonisolated(unsafe) var done = 0
        let generator = self.generator, quality = self.quality
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            guard let encoder = try? JPEGEncoder() else { return }
            var i = worker
            while i < count {
                let sample = generator.sample(start + i)
                let label = sample.defects.first?.kind.rawValue ?? "good"
                let file = String(format: "%@/%06d.jpg", label, start + i)
                do {
                    let bytes = try encoder.encode(sample.image, quality: quality)
                    try Data(bytes).write(to: URL(fileURLWithPath: directory + "/" + file))
                    let line = [file, label, sample.kinds.map(\.rawValue).joined(separator: "+"),
                                sample.defects.map { $0.subtle ? "1" : "0" }.joined(separator: "+"),
                                sample.defects.map { "\($0.box.x) \($0.box.y) \($0.box.width) \($0.box.height)" }
                                    .joined(separator: "+")].joined(separator: ",")
                    lock.lock()
                    rows[i] = Row(label: label, line: line)
                    done += 1
                    progress(done)
                    lock.unlock()
                } catch {
                    lock.lock(); failure = failure ?? error; lock.unlock()
                    return
                }
                i += workers
            }
        }
        if let failure { throw failure }
        return rows.compactMap { $0 }
    }
}
