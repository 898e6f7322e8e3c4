import Foundation
import Inspection
import Lifecycle
import Store
import Testing
import TestSupport

/// Label import and labeling against a real SQLite store and a real stage-2 model file.
@Suite("LabelTransfer: all or nothing, kinds checked against the stage-2 model")
struct LabelTransferTests {
    /// A store with three kept frames and a config whose stage-2 model knows scratch and dent.
    static func line(_ name: String) throws -> (dir: String, transfer: LabelTransfer, frames: [Int64]) {
        let dir = try TemporaryDirectory.make("labels-\(name)")
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try stage2(dir + "/stage2.safetensors", [("scratch", 0.2), ("dent", 0.3)])
        var config = LineConfig()
        config.database = dir + "/db.sqlite"
        config.models = ModelPaths(stage1: dir + "/stage1.safetensors", stage2: dir + "/stage2.safetensors")
        let store = try Store(path: config.database)
        try store.register(camera: "a", source: "synthetic")
        _ = try store.insert((0..<3).map { i in
            VerdictBundle(verdict: VerdictRecord(cameraId: "a", capturedAt: 1_000 + Double(i), frameSequence: Int64(i), stage1Score: 0.5,
                                                 decision: .pass, totalMs: 1, flags: [.uncertain]),
                          frame: FrameRecord(path: "\(i).jpg", sha256: String(repeating: "0", count: 64), bytes: 1, width: 8, height: 8,
                                             keptBecause: .flagged))
        })
        let frames = try store.frameIds().sorted()
        return (dir, LabelTransfer(config: config, store: store), frames)
    }

    @Test("an import with one bad row imports nothing; a clean one imports every row")
    func importIsAllOrNothing() throws {
        let (dir, transfer, frames) = try Self.line("import")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(frames.count == 3)
        try "frame_id,defects\n\(frames[0]),scratch\n\(frames[1]),wobble\n999999,\n".write(toFile: dir + "/bad.csv", atomically: true, encoding: .utf8)
        do {
            _ = try transfer.importCSV(dir + "/bad.csv", who: "qa")
            Issue.record("a CSV with bad rows was imported")
        } catch LifecycleError.rejectedRows(_, let problems) {
            #expect(problems.count == 2 && problems.contains { $0.contains("999999") }, "\(problems)")
        }
        #expect(try transfer.store.currentLabels().isEmpty, "nothing was imported")
        try "frame_id,defects\n\(frames[0]),scratch+dent\n\(frames[1]),\n".write(toFile: dir + "/good.csv", atomically: true, encoding: .utf8)
        #expect(try transfer.importCSV(dir + "/good.csv", who: "qa") == 2)
        let labels = try transfer.store.currentLabels().sorted { $0.frameId < $1.frameId }
        #expect(labels.map(\.defects) == [["scratch", "dent"], []] && labels.allSatisfy { $0.source == "import" && $0.who == "qa" })
    }

    @Test("labeling refuses unknown kinds and frames, and labels nothing then")
    func labelRefusesUnknowns() throws {
        let (dir, transfer, frames) = try Self.line("label")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(throws: LifecycleError.unknown("unknown defect kinds wobble; known: dent, scratch. "
                                               + "If it is a new kind of defect, confirm it once with --new-kind wobble (until stage 2 learns it, such parts fail)")) {
            try transfer.label(frames: [frames[0]], defects: ["wobble"], who: "qa")
        }
        #expect(throws: LifecycleError.unknown("frame 999999 does not exist; nothing was labeled")) {
            try transfer.label(frames: [frames[0], 999_999], defects: ["dent"], who: "qa")
        }
        #expect(try transfer.store.currentLabels().isEmpty)
        try transfer.label(frames: [frames[2]], defects: [], who: "qa")
        #expect(try transfer.store.currentLabels().map(\.defects) == [[]])
        #expect(try transfer.knownDefectKinds() == ["scratch", "dent"])
    }

    @Test("a new defect kind is confirmed once, recorded with its labels, and then known to labels and imports")
    func newKindConfirmedOnce() throws {
        let (dir, transfer, frames) = try Self.line("newkind")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(throws: LifecycleError.unknown("--new-kind burr is not among the kinds given with --as (dent)")) {
            try transfer.label(frames: [frames[0]], defects: ["dent"], who: "qa", newKinds: ["burr"])
        }
        #expect(throws: LifecycleError.unknown("defect kind 'bu rr' is not a valid name (1-64 letters, digits, '_' or '-'; not good, ok or pass)")) {
            try transfer.label(frames: [frames[0]], defects: ["bu rr"], who: "qa", newKinds: ["bu rr"])
        }
        #expect(throws: LifecycleError.unknown("new kind Dent differs from the kind dent only in case; use dent")) {
            try transfer.label(frames: [frames[0]], defects: ["Dent"], who: "qa", newKinds: ["Dent"])
        }
        #expect(throws: LifecycleError.unknown("defect kind 'OK' is not a valid name (1-64 letters, digits, '_' or '-'; not good, ok or pass)")) {
            try transfer.label(frames: [frames[0]], defects: ["OK"], who: "qa", newKinds: ["OK"])
        }
        #expect(try transfer.store.namedDefectKinds().isEmpty && transfer.store.currentLabels().isEmpty, "a refused label names no kind")
        #expect(try transfer.label(frames: [frames[0]], defects: ["burr", "dent"], who: "ana", newKinds: ["burr"]) == ["burr"])
        let named = try transfer.store.namedDefectKinds()
        #expect(named.map(\.name) == ["burr"] && named[0].addedBy == "ana")
        // from now on anyone may use it without confirming again, and it is labelable
        try transfer.label(frames: [frames[1]], defects: ["burr"], who: "bo")
        #expect(try transfer.labelableKinds() == ["scratch", "dent", "burr"])
        // naming it again keeps the first record
        #expect(try transfer.label(frames: [frames[2]], defects: ["burr"], who: "cy", newKinds: ["burr"]).isEmpty, "not new any more")
        #expect(try transfer.store.namedDefectKinds() == named)
        let labels = try transfer.store.currentLabels().sorted { $0.frameId < $1.frameId }
        #expect(labels.map(\.defects) == [["burr", "dent"], ["burr"], ["burr"]])
        // imports: a kind nobody named is refused unless confirmed; a confirmation that labels nothing is refused
        try "frame_id,defects\n\(frames[0]),flash\n".write(toFile: dir + "/new.csv", atomically: true, encoding: .utf8)
        do {
            _ = try transfer.importCSV(dir + "/new.csv", who: "qa")
            Issue.record("an unknown kind was imported")
        } catch LifecycleError.rejectedRows(_, let problems) {
            #expect(problems == ["line 2: unknown defect kind 'flash' (known: burr, dent, scratch; a new kind is confirmed with --new-kind flash)"], "\(problems)")
        }
        #expect(throws: LifecycleError.unknown("--new-kind sliver labels no row of \(dir)/new.csv; nothing was imported")) {
            _ = try transfer.importCSV(dir + "/new.csv", who: "qa", newKinds: ["flash", "sliver"])
        }
        #expect(try transfer.importCSV(dir + "/new.csv", who: "qa", newKinds: ["flash"]) == 1)
        #expect(try transfer.store.namedDefectKinds().map(\.name) == ["burr", "flash"])
    }
}
