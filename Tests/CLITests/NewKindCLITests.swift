import Foundation
import GRDB
import Store
import Testing
import TestSupport

@Suite("A new defect kind, end to end")
struct NewKindCLITests {
    /// `synth` parts split into a first training without stains and a camera that sees only
    /// stains: the kind the line has never been taught.
    static func parts(_ dir: String) throws {
        #expect(try CLI.run(["synth", "--out", dir + "/all", "--count", "300", "--size", "64x48", "--seed", "7"]).status == 0)
        let fm = FileManager.default
        let rows = try String(contentsOfFile: dir + "/all/labels.csv", encoding: .utf8).split(separator: "\n").map(String.init)
        var kept = [rows[0]]
        try fm.createDirectory(atPath: dir + "/stains", withIntermediateDirectories: true)
        for row in rows.dropFirst() {
            let cols = row.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            let file = cols[0]
            if cols[2].split(separator: "+").contains("stain") {
                if cols[1] == "stain" { try fm.copyItem(atPath: dir + "/all/" + file, toPath: dir + "/stains/" + file.replacingOccurrences(of: "/", with: "-")) }
                continue
            }
            try fm.createDirectory(atPath: dir + "/first/" + cols[1], withIntermediateDirectories: true)
            try fm.copyItem(atPath: dir + "/all/" + file, toPath: dir + "/first/" + file)
            kept.append(row)
        }
        try (kept.joined(separator: "\n") + "\n").write(toFile: dir + "/first/labels.csv", atomically: true, encoding: .utf8)
    }

    @Test("serve, flag, label a new kind (confirmed once), retrain grows stage 2, promote: the running daemon names it")
    func newKindEndToEnd() throws {
        let dir = try TemporaryDirectory.make("newkind")
        try? FileManager.default.removeItem(atPath: dir)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Self.parts(dir)
        let stains = try FileManager.default.contentsOfDirectory(atPath: dir + "/stains").count
        #expect(stains >= 15, "the camera has stains to show: \(stains)")
        try lineConfig("""
        [flagging]
        audit_share = 1.0
        max_audit_per_hour = 5000
        [[cameras]]
        id = "replay"
        source = "replay"
        path = "stains"
        fps = 4
        loop = true
        """).write(toFile: dir + "/line.toml", atomically: true, encoding: .utf8)
        let cfg = ["--config", dir + "/line.toml"], small = ["--threads", "1"]
        let train = try CLI.run(["train", "--data", dir + "/first", "--input-size", "32x24", "--epochs", "3", "--width", "4"] + cfg + small)
        #expect(train.status == 0, "\(train.err)")
        let store = try Store(path: dir + "/data/db.sqlite")
        let first = try #require(try store.champion(stage: 2))
        #expect(first.knownKinds == ["crack", "dent", "missing_feature", "pit", "scratch"], "the registry records the kinds: \(String(describing: first.knownKinds))")

        let daemon = Child(CLI.binary, ["serve", "--duration", "600"] + cfg + small)
        try daemon.start()
        defer { if daemon.isRunning { kill(daemon.pid, SIGKILL); _ = daemon.finish(within: 10) } }
        // the daemon keeps the frames; wait for one pass over every stain
        func keptFrames() throws -> [Int64] { try store.pool.read { db in try Int64.fetchAll(db, sql: "SELECT id FROM frames ORDER BY id") } }
        let deadline = Date().addingTimeInterval(120)
        while try keptFrames().count < stains, Date() < deadline, daemon.isRunning { usleep(200_000) }
        let firstPass = Array(try keptFrames().prefix(stains)).map(String.init)
        #expect(firstPass.count == stains, "one pass over the camera's stains was kept")
        let flagged = try CLI.run(["flagged", "list", "--json", "--limit", "500"] + cfg)
        let flags = try #require(try JSONSerialization.jsonObject(with: Data(flagged.out.utf8)) as? [[String: Any]])
        #expect(flags.contains { firstPass.contains(String($0["frameId"] as? Int ?? -1)) }, "the daemon flagged stains for review")

        // naming it needs a confirmation; a typo of a known kind is not a new kind
        let refused = try CLI.run(["label"] + firstPass + ["--as", "stain"] + cfg)
        #expect(refused.status != 0 && refused.err.contains("confirm it once with --new-kind stain"), "\(refused.err)")
        #expect(try store.currentLabels().isEmpty, "a refused label labels nothing")
        let named = try CLI.run(["label"] + firstPass + ["--as", "stain", "--new-kind", "stain", "--who", "ana"] + cfg)
        #expect(named.status == 0 && named.out.contains("new defect kind stain recorded"), "\(named.out)\(named.err)")
        #expect(try store.namedDefectKinds().map(\.name) == ["stain"])

        // (few labels and a tiny model: the new kind's own recall gate is set to 0 here; GateTests hold it)
        let retrain = try CLI.run(["retrain", "--epochs", "10", "--new-kind-recall", "0", "--max-escape", "1", "--recall-tolerance", "1", "--max-false-reject", "1"] + cfg + small)
        #expect(retrain.status == 0, "\(retrain.out)\(retrain.err)")
        #expect(retrain.out.contains("stage 2 learned a new kind: stain") && retrain.out.contains("the old kinds' weights kept"), "\(retrain.out)")
        #expect(retrain.out.contains("stage-2 new kind stain         pass    recall") && retrain.out.contains("on 4 held-out labels, 20 trained on (needs 0.000)"),
                "the new kind's own gate on its held-out labels: \(retrain.out)")
        #expect(retrain.out.contains("stage-2 recall scratch") && retrain.out.contains("promoted stage 2"), "the old kinds keep today's rules: \(retrain.out)")
        let second = try #require(try store.champion(stage: 2))
        #expect(second.version != first.version && second.knownKinds == ["crack", "dent", "missing_feature", "pit", "scratch", "stain"])
        let list = try CLI.run(["models", "list"] + cfg)
        #expect(list.out.contains("crack,dent,missing_feature,pit,scratch,stain"), "\(list.out)")

        // the running daemon swaps the promoted stage 2 in and names the new kind
        func naming(by version: String) throws -> (verdicts: Int, stain: Int) {
            try store.pool.read { db in
                let row = try Row.fetchOne(db, sql: "SELECT count(*), coalesce(sum(defects LIKE '%stain%'), 0) FROM verdicts WHERE stage2_model = ?", arguments: [version])!
                return (row[0], row[1])
            }
        }
        let until = Date().addingTimeInterval(120)
        while try naming(by: second.version).verdicts < stains, Date() < until, daemon.isRunning { usleep(250_000) }
        let after = try naming(by: second.version)
        #expect(after.verdicts >= stains && after.stain > 0, "the daemon names stains with the new stage 2: \(after)")
        #expect(try naming(by: first.version).stain == 0, "the first stage 2 never could")

        // anyone may now label it without confirming, and the next round keeps it: its older
        // labels are replayed and it is judged like every kind the champion knows
        let more = try store.pool.read { db in try Int64.fetchAll(db, sql: "SELECT id FROM frames ORDER BY id DESC LIMIT 6") }.map(String.init)
        let plain = try CLI.run(["label"] + more + ["--as", "stain"] + cfg)
        #expect(plain.status == 0 && !plain.out.contains("new defect kind"), "\(plain.out)\(plain.err)")
        let next = try CLI.run(["retrain", "--epochs", "1", "--dry-run", "--max-escape", "1", "--recall-tolerance", "1", "--max-false-reject", "1"] + cfg + small)
        #expect(next.status == 0 && next.out.contains("older labels of kinds reviewers named, which every round replays"), "\(next.out)\(next.err)")
        #expect(next.out.contains("stage-2 recall stain") && !next.out.contains("stage-2 new kind"), "\(next.out)")
        // a kind folder nobody named is a defect to stage 1 only
        let fm = FileManager.default
        try fm.createDirectory(atPath: dir + "/unnamed/burr", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: dir + "/unnamed/good", withIntermediateDirectories: true)
        for (i, f) in try fm.contentsOfDirectory(atPath: dir + "/stains").sorted().prefix(6).enumerated() {
            try fm.copyItem(atPath: dir + "/stains/" + f, toPath: dir + "/unnamed/burr/\(i).jpg")
        }
        for f in try fm.contentsOfDirectory(atPath: dir + "/first/good").sorted().prefix(6) { try fm.copyItem(atPath: dir + "/first/good/" + f, toPath: dir + "/unnamed/good/" + f) }
        let unnamed = try CLI.run(["retrain", "--data", dir + "/unnamed", "--epochs", "1", "--dry-run", "--max-escape", "1", "--recall-tolerance", "1", "--max-false-reject", "1"] + cfg + small)
        #expect(unnamed.status == 0 && unnamed.out.contains("kind burr (6 labelled parts) not learned by stage 2 this round: not a named kind"), "\(unnamed.out)\(unnamed.err)")
        kill(daemon.pid, SIGTERM)
        let end = daemon.finish(within: 60)
        #expect(end.status == 0, "\(end.err.suffix(2000))")
    }
}
