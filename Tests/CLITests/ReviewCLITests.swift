import Foundation
import GRDB
import Imaging
import LinesightCore
import Neural
import Store
import TestSupport
import Testing

/// A line folder with a database of flagged frames (real JPEGs) and a config.
struct ReviewFixture {
    let dir: String
    var config: String { dir + "/linesight.toml" }
    let store: Store
    /// Frame ids, in the order review shows them (uncertain newest first, then audit).
    var frames: [Int64] = []

    init() throws {
        dir = try TemporaryDirectory.make("review")
        try FileManager.default.createDirectory(atPath: dir + "/data/frames", withIntermediateDirectories: true)
        try """
        [store]
        database = "data/inspection.sqlite"
        frames = "data/frames"
        [models]
        stage1 = "models/stage1.safetensors"
        [stats]
        timezone = "UTC"
        [[cameras]]
        id = "cam1"
        """.write(toFile: dir + "/linesight.toml", atomically: true, encoding: .utf8)
        store = try Store(path: dir + "/data/inspection.sqlite")
        try store.register(camera: "cam1", source: "synthetic")
        let encoder = try JPEGEncoder()
        let t0 = Date().timeIntervalSince1970 - 3600
        // (decision, model's defects, flag): shown in the order uncertain (newest first), audit.
        let plan: [(Decision, [String], FlagReason)] = [(.pass, [], .audit), (.fail, ["scratch"], .uncertain),
                                                         (.pass, [], .uncertain), (.fail, ["dent"], .uncertain)]
        var bundles: [VerdictBundle] = []
        for (i, (decision, defects, reason)) in plan.enumerated() {
            var image = Image(width: 64, height: 48, layout: .rgb)
            for p in 0..<(64 * 48) { image.pixels[3 * p] = UInt8(40 * i); image.pixels[3 * p + 1] = 128; image.pixels[3 * p + 2] = UInt8(p % 64 * 4) }
            let bytes = try encoder.encode(image)
            let name = "f\(i).jpg"
            try Data(bytes).write(to: URL(fileURLWithPath: dir + "/data/frames/" + name))
            let v = VerdictRecord(cameraId: "cam1", capturedAt: t0 + Double(i), frameSequence: Int64(i), stage1Score: decision == .fail ? 0.7 : 0.45,
                                  decision: decision, defects: defects, stage1Model: "s1-test", totalMs: 2, flags: [reason])
            bundles.append(VerdictBundle(verdict: v, frame: FrameRecord(path: name, sha256: String(repeating: "0", count: 64), bytes: Int64(bytes.count),
                                                                      width: 64, height: 48, keptBecause: .flagged)))
        }
        try store.insert(bundles)
        frames = try store.pool.read { db in
            try Int64.fetchAll(db, sql: "SELECT fr.id FROM frames fr JOIN verdicts v ON v.id = fr.verdict_id ORDER BY v.captured_at")
        }
        frames = [frames[3], frames[2], frames[1], frames[0]]
    }

    func labels() throws -> [String] {
        try store.pool.read { db in
            try Row.fetchAll(db, sql: "SELECT frame_id, label, who FROM labels ORDER BY id").map { "\($0[0] as Int64):\($0[1] as String):\($0[2] as String)" }
        }
    }
}

/// A program in a real terminal: a detached tmux session of a fixed size.
struct TmuxSession {
    let name: String

    init(_ command: [String], cols: Int = 80, rows: Int = 24) throws {
        name = "ls-test-\(UUID().uuidString.prefix(8))"
        let quoted = command.map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
        try Self.tmux(["new-session", "-d", "-s", name, "-x", "\(cols)", "-y", "\(rows)", "env -u OPENBLAS_CORETYPE \(quoted); echo EXITED $?; sleep 30"])
    }

    @discardableResult
    static func tmux(_ args: [String]) throws -> String {
        let r = try Child.run(URL(fileURLWithPath: "/usr/bin/env"), ["tmux"] + args, within: 60)
        return r.out
    }

    func keys(_ keys: String...) throws { try Self.tmux(["send-keys", "-t", name] + keys) }
    func screen() throws -> String { try Self.tmux(["capture-pane", "-p", "-t", name]) }
    /// The screen with its colours (escape sequences): what the half-blocks draw.
    func colours() throws -> String { try Self.tmux(["capture-pane", "-e", "-p", "-t", name]) }

    /// The screen once it shows `text` (within 20 s).
    @discardableResult
    func wait(for text: String) throws -> String {
        let deadline = Date().addingTimeInterval(20)
        var last = ""
        while Date() < deadline {
            last = try screen()
            if last.contains(text) { return last }
            Thread.sleep(forTimeInterval: 0.1)
        }
        Issue.record("the screen never showed '\(text)'; it shows:\n\(last)")
        return last
    }

    func kill() { _ = try? Self.tmux(["kill-session", "-t", name]) }
}

@Suite("linesight review in a real terminal (tmux)", .serialized)
struct ReviewCLITests {
    @Test func labelUndoQuitAndResume() throws {
        let fx = try ReviewFixture()
        defer { try? FileManager.default.removeItem(atPath: fx.dir) }
        let s = try TmuxSession([CLI.binary.path, "review", "--config", fx.config, "--who", "alice"])
        defer { s.kill() }
        var screen = try s.wait(for: "frame \(fx.frames[0]) ")
        #expect(screen.contains("4 open"))
        #expect(screen.contains("model: FAIL") && screen.contains("dent"))
        #expect(screen.contains("[1] dent [2] scratch"))
        #expect(screen.contains("▀"), "the frame is drawn with half-blocks")
        #expect(screen.split(separator: "\n").allSatisfy { $0.count <= 80 })

        try s.keys("p")                                   // first: good
        try s.wait(for: "frame \(fx.frames[1]) ")
        try s.keys("2", "Enter")                          // second: model said pass; toggle scratch on
        try s.wait(for: "frame \(fx.frames[2]) ")
        try s.keys("z")                                   // undo the second
        screen = try s.wait(for: "undone: frame \(fx.frames[1])")
        #expect(screen.contains("frame \(fx.frames[1]) "))
        try s.keys("?")
        try s.wait(for: "toggle a defect kind")
        try s.keys("x")
        try s.wait(for: "frame \(fx.frames[1]) ")
        try s.keys("q")
        screen = try s.wait(for: "EXITED 0")
        #expect(screen.contains("reviewed 1 frame as alice"))
        #expect(try fx.labels() == ["\(fx.frames[0]):good:alice"])

        // Resume: the undone frame comes back first; label the rest, uncertain before audit.
        let again = try TmuxSession([CLI.binary.path, "review", "--config", fx.config, "--who", "alice"])
        defer { again.kill() }
        screen = try again.wait(for: "frame \(fx.frames[1]) ")
        #expect(screen.contains("3 open"))
        try again.keys("1", "Enter")
        try again.wait(for: "frame \(fx.frames[2]) ")
        try again.keys("Enter")                          // agree with the model: scratch
        try again.wait(for: "frame \(fx.frames[3]) ")
        #expect(try again.screen().contains("audit"))
        try again.keys("u")                               // unsure
        try again.wait(for: "Nothing to review")
        try again.keys("q")
        try again.wait(for: "EXITED 0")
        #expect(try fx.labels() == ["\(fx.frames[0]):good:alice", "\(fx.frames[1]):dent:alice", "\(fx.frames[2]):scratch:alice"])
        let statuses = try fx.store.pool.read { db in try String.fetchAll(db, sql: "SELECT status FROM flags ORDER BY verdict_id") }
        #expect(statuses == ["unsure", "labeled", "labeled", "labeled"])
    }

    @Test func nNamesAKindAndANewKindIsConfirmedOnce() throws {
        let fx = try ReviewFixture()
        defer { try? FileManager.default.removeItem(atPath: fx.dir) }
        let s = try TmuxSession([CLI.binary.path, "review", "--config", fx.config, "--who", "alice"])
        defer { s.kill() }
        try s.wait(for: "frame \(fx.frames[0]) ")
        // a typo is not a kind until confirmed; anything but y drops it
        try s.keys("n")
        try s.wait(for: "name the defect kind")
        try s.keys("d", "n", "e", "t", "Enter")
        try s.wait(for: "'dnet' is a new defect kind: y adds it")
        try s.keys("x")
        try s.wait(for: "'dnet' not added")
        // a space cannot be part of a name; esc cancels
        try s.keys("n", "a", "Space")
        try s.wait(for: "a kind's name is letters, digits")
        try s.keys("Escape")
        try s.wait(for: "naming cancelled")
        // a known kind is selected at once
        try s.keys("n", "s", "c", "r", "a", "t", "c", "h", "Enter")
        try s.wait(for: "selected: dent+scratch")
        try s.keys("2")                                   // scratch off again
        try s.wait(for: "selected: dent")
        // a new kind: confirmed with y, selected, and a key of its own
        try s.keys("n", "b", "u", "r", "r", "Enter")
        try s.wait(for: "'burr' is a new defect kind")
        try s.keys("y")
        let screen = try s.wait(for: "new defect kind burr selected")
        #expect(screen.contains("[3] burr"), "\(screen)")
        #expect(try fx.store.namedDefectKinds().isEmpty, "a kind is recorded with its first label, not before")
        try s.keys("Enter")
        try s.wait(for: "new kind burr recorded")
        try s.wait(for: "frame \(fx.frames[1]) ")
        try s.keys("3", "Enter")
        try s.wait(for: "frame \(fx.frames[2]) ")
        // a kind confirmed on a frame that is then skipped is never recorded
        try s.keys("n", "f", "l", "a", "s", "h", "Enter", "y")
        try s.wait(for: "new defect kind flash selected")
        try s.keys("s")
        try s.wait(for: "frame \(fx.frames[3]) ")
        // it stays selectable in this session; the label that names it records it, and undo forgets it again
        try s.keys("n", "f", "l", "a", "s", "h", "Enter")
        try s.wait(for: "selected: flash")
        try s.keys("Enter")
        try s.wait(for: "new kind flash recorded")
        #expect(try fx.store.namedDefectKinds().map(\.name) == ["burr", "flash"])
        try s.keys("z")
        try s.wait(for: "undone: frame \(fx.frames[3])")
        #expect(try fx.store.namedDefectKinds().map(\.name) == ["burr"], "an undone label's new kind is forgotten")
        try s.keys("q")
        try s.wait(for: "EXITED 0")
        #expect(try fx.labels() == ["\(fx.frames[0]):dent+burr:alice", "\(fx.frames[1]):burr:alice"])
        #expect(try fx.store.namedDefectKinds().map { "\($0.name):\($0.addedBy)" } == ["burr:alice"])
        // everyone sees it from then on, and `label` takes it without confirming again
        let again = try TmuxSession([CLI.binary.path, "review", "--config", fx.config, "--who", "bob"])
        defer { again.kill() }
        // waited for on the kinds' line itself: under load tmux can catch the screen half drawn
        #expect(try again.wait(for: "[1] burr").contains("frame \(fx.frames[2]) "), "the kinds seen so far, sorted, on the first flagged frame")
        try again.keys("q")
        try again.wait(for: "EXITED 0")
        let label = try CLI.run(["label", "\(fx.frames[3])", "--as", "burr", "--config", fx.config])
        #expect(label.status == 0, "\(label.err)")
    }

    @Test func twoReviewersNeverGetTheSameFrame() throws {
        let fx = try ReviewFixture()
        defer { try? FileManager.default.removeItem(atPath: fx.dir) }
        let a = try TmuxSession([CLI.binary.path, "review", "--config", fx.config, "--who", "alice"])
        defer { a.kill() }
        try a.wait(for: "frame \(fx.frames[0]) ")
        let b = try TmuxSession([CLI.binary.path, "review", "--config", fx.config, "--who", "bob"])
        defer { b.kill() }
        // The daemon keeps writing verdicts meanwhile.
        let writing = Thread {
            for i in 0..<200 {
                try? fx.store.insert([VerdictBundle(verdict: VerdictRecord(cameraId: "cam1", capturedAt: Date().timeIntervalSince1970, frameSequence: Int64(100 + i),
                                                                           stage1Score: 0.1, decision: .pass, totalMs: 1))])
                Thread.sleep(forTimeInterval: 0.01)
            }
        }
        writing.start()
        let bob = try b.wait(for: "frame \(fx.frames[1]) ")
        #expect(bob.contains("(1 with other reviewers)"))
        try a.keys("p")
        try a.wait(for: "frame \(fx.frames[2]) ")      // alice skips bob's frame
        try b.keys("p")
        try b.wait(for: "frame \(fx.frames[3]) ")      // bob skips alice's
        try a.keys("p")
        try a.wait(for: "Nothing to review")           // the last one is bob's
        try b.keys("p")
        try b.wait(for: "Nothing to review")
        try a.keys("q"); try b.keys("q")
        try a.wait(for: "EXITED 0"); try b.wait(for: "EXITED 0")
        let labels = try fx.labels()
        #expect(labels.count == 4)
        #expect(Set(labels.map { $0.split(separator: ":")[0] }).count == 4, "every frame labeled once")
        #expect(labels.filter { $0.hasSuffix(":alice") }.count == 2 && labels.filter { $0.hasSuffix(":bob") }.count == 2)
    }

    @Test func mShowsWhereStageOneLookedAndHidesItAgain() throws {
        let fx = try ReviewFixture()
        defer { try? FileManager.default.removeItem(atPath: fx.dir) }
        // no model file yet: the map says why it is not drawn, and review goes on
        let bare = try TmuxSession([CLI.binary.path, "review", "--config", fx.config, "--who", "alice", "--graphics", "halfblock"])
        defer { bare.kill() }
        try bare.wait(for: "frame \(fx.frames[0]) ")
        try bare.keys("m")
        let bareScreen = try bare.wait(for: "no map:")
        #expect(bareScreen.contains("no map: " + fx.dir + "/models/stage1"), "the model that did not load: \(bareScreen)")
        try bare.keys("q")
        try bare.wait(for: "EXITED 0")

        // a model whose map is the frame's brightness (the fixture's frames brighten to the right)
        try FileManager.default.createDirectory(atPath: fx.dir + "/models", withIntermediateDirectories: true)
        try brightnessModel(fx.dir + "/models/stage1.safetensors", input: Shape(3, 48, 64))
        let s = try TmuxSession([CLI.binary.path, "review", "--config", fx.config, "--who", "alice", "--graphics", "halfblock"])
        defer { s.kill() }
        try s.wait(for: "frame \(fx.frames[0]) ")
        func imageRows(_ screen: String) -> [Substring] { screen.split(separator: "\n").filter { $0.contains("▀") } }
        let plain = imageRows(try s.colours())
        #expect(plain.count >= 3)
        try s.keys("m")
        let shown = try s.wait(for: "m hides it")
        #expect(!shown.contains("no map"))
        let mapped = imageRows(try s.colours())
        #expect(mapped.count == plain.count && mapped != plain, "the overlay changes the frame's colours")
        try s.keys("m")
        try s.wait(for: "map hidden")
        #expect(imageRows(try s.colours()) == plain, "hidden again, the frame is as it was")
        try s.keys("q")
        try s.wait(for: "EXITED 0")
        #expect(try fx.labels().isEmpty, "looking decides nothing")
    }

    @Test func withoutATerminalReviewPointsToTheScriptableCommands() throws {
        let fx = try ReviewFixture()
        defer { try? FileManager.default.removeItem(atPath: fx.dir) }
        let r = try CLI.run(["review", "--config", fx.config])
        #expect(r.status != 0)
        #expect(r.err.contains("flagged list"))
    }
}
