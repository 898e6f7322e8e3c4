import Foundation
import GRDB
import LinesightCore
import Store
import TestSupport
import Testing

/// A line database with three days of seeded verdicts (two cameras, two model versions),
/// some of them flagged, kept and labeled.
struct StatsFixture {
    let dir: String
    var config: String { dir + "/linesight.toml" }
    let store: Store
    /// 2026-11-02 00:00 UTC.
    static let start = 1_793_577_600.0

    init() throws {
        dir = try TemporaryDirectory.make("stats")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try """
        [store]
        database = "inspection.sqlite"
        frames = "frames"
        [models]
        stage1 = "models/stage1.safetensors"
        [stats]
        timezone = "UTC"
        [[stats.shifts]]
        name = "day"
        start = "06:00"
        end = "18:00"
        [[stats.shifts]]
        name = "night"
        start = "18:00"
        end = "06:00"
        [[cameras]]
        id = "cam1"
        """.write(toFile: dir + "/linesight.toml", atomically: true, encoding: .utf8)
        store = try Store(path: dir + "/inspection.sqlite")
        for c in ["cam1", "cam2"] { try store.register(camera: c, source: "synthetic") }
        var bundles: [VerdictBundle] = []
        var labels: [(Int, [String])] = []
        let kinds = ["scratch", "dent", "scratch", "stain", "scratch,dent"]
        for i in 0..<3000 {
            let t = Self.start + Double(i) * 86.4 * 3 / 3   // 3000 verdicts over 3 days
            let fail = i % 17 == 0 || (i >= 1500 && i < 1600 && i % 3 == 0)
            let noVerdict = !fail && i % 97 == 0
            let decision: Decision = fail ? .fail : noVerdict ? .noVerdict : .pass
            let defects = fail ? kinds[i % kinds.count].split(separator: ",").map(String.init) : []
            let audit = decision == .pass && i % 50 == 1
            let flags: [FlagReason] = fail && i % 2 == 0 ? [.uncertain] : audit ? [.audit] : noVerdict ? [.noVerdict] : []
            let v = VerdictRecord(cameraId: i % 3 == 0 ? "cam2" : "cam1", capturedAt: t, frameSequence: Int64(i),
                                  stage1Score: noVerdict ? nil : (fail ? 0.8 : 0.1), decision: decision, defects: defects,
                                  stage1Model: t < Self.start + 2 * 86400 ? "s1-v1" : "s1-v2", totalMs: 2, flags: flags,
                                  error: noVerdict ? "decode failed" : nil)
            let keep = !flags.isEmpty
            bundles.append(VerdictBundle(verdict: v, frame: keep ? FrameRecord(path: "f\(i).jpg", sha256: String(repeating: "0", count: 64), bytes: 100,
                                                                              width: 8, height: 8, keptBecause: .flagged) : nil))
            // People label the flagged fails (every 4th was really good) and the audit samples
            // (every 5th of those is a defect the model passed).
            if fail && keep { labels.append((i, i % 8 == 0 ? [] : defects)) }
            if audit { labels.append((i, i % 250 == 1 ? ["scratch"] : [])) }
        }
        try store.insert(bundles)
        let frameOf = try store.pool.read { db in
            Dictionary(uniqueKeysWithValues: try Row.fetchAll(db, sql: "SELECT v.frame_sequence, fr.id FROM frames fr JOIN verdicts v ON v.id = fr.verdict_id")
                .map { ($0[0] as Int, $0[1] as Int64) })
        }
        try store.label(labels.map { (frameOf[$0.0]!, $0.1) }, who: "qa", source: "review", now: Self.start + 4 * 86400)
    }

    func stats(_ args: [String]) throws -> String {
        let r = try CLI.run(["stats"] + args + ["--config", config, "--since", "2026-11-02", "--until", "2026-11-05"])
        #expect(r.status == 0, "\(r.err)")
        return r.out
    }
}

func cliGolden(_ name: String, _ text: String) throws {
    let mismatch = try Golden.mismatch(text, name, besides: #filePath)
    #expect(mismatch == nil, "\(mismatch ?? "")")
}

@Suite("linesight stats on a seeded database")
struct StatsCLITests {
    @Test func tablesCSVAndJSONMatchTheGoldenFiles() throws {
        let fx = try StatsFixture()
        defer { try? FileManager.default.removeItem(atPath: fx.dir) }
        try cliGolden("stats-by-day.txt", try fx.stats(["--by", "day"]))
        try cliGolden("stats-by-shift.csv", try fx.stats(["--by", "shift", "--format", "csv"]))
        try cliGolden("stats-by-model.json", try fx.stats(["--by", "model", "--format", "json"]))
        try cliGolden("stats-by-camera.txt", try fx.stats(["--by", "camera"]))
        let json = try JSONSerialization.jsonObject(with: Data(try fx.stats(["--by", "total", "--format", "json"]).utf8)) as! [String: Any]
        let total = json["total"] as! [String: Any]
        #expect(total["parts"] as? Int == 3000)
        let direct = try fx.store.pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM verdicts WHERE decision = 'fail'") }
        #expect(total["fails"] as? Int == direct)
        // Labeled-good fails count toward yield, not first-pass yield.
        #expect((total["recovered"] as! Int) > 0)
        #expect((total["yield"] as! Double) > (total["first_pass_yield"] as! Double))
    }

    @Test func chartsAreWrittenAndMatchTheData() throws {
        let fx = try StatsFixture()
        defer { try? FileManager.default.removeItem(atPath: fx.dir) }
        let svg = fx.dir + "/pareto.svg"
        #expect(try fx.stats(["--plot", "pareto", "--out", svg]).contains("wrote"))
        let doc = try String(contentsOfFile: svg, encoding: .utf8)
        #expect(doc.components(separatedBy: "class=\"bar\"").count - 1 == 3, "scratch, dent, stain")
        let png = fx.dir + "/pchart.png"
        let r = try CLI.run(["stats", "--config", fx.config, "--since", "2026-11-02", "--until", "2026-11-05", "--by", "hour", "--plot", "pchart", "--out", png])
        #expect(r.status == 0)
        #expect(r.err.contains("out of control"), "the burst of fails on day 2 is out of control: \(r.err)")
        let bytes = try #require(FileManager.default.contents(atPath: png))
        #expect(bytes.prefix(4) == Data([0x89, 0x50, 0x4E, 0x47]))
        let bad = try CLI.run(["stats", "--config", fx.config, "--by", "camera", "--plot", "trend", "--out", fx.dir + "/t.svg"])
        #expect(bad.status != 0 && bad.err.contains("need periods"))
        let noOut = try CLI.run(["stats", "--config", fx.config, "--plot", "pareto"])
        #expect(noOut.status != 0 && noOut.err.contains("--out"))
    }

    @Test func agreementComparesTheModelWithThePeople() throws {
        let fx = try StatsFixture()
        defer { try? FileManager.default.removeItem(atPath: fx.dir) }
        let r = try CLI.run(["stats", "agreement", "--json", "--config", fx.config, "--since", "2026-11-02", "--until", "2026-11-05"])
        #expect(r.status == 0, "\(r.err)")
        let json = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as! [String: Any]
        let models = json["models"] as! [[String: Any]]
        #expect(models.map { $0["model"] as! String } == ["all models", "s1-v1", "s1-v2"])
        let all = models[0]["overall"] as! [String: Any]
        // Compute the same 2x2 straight from SQL.
        let (hits, falseAlarms, misses) = try fx.store.pool.read { db -> (Int, Int, Int) in
            let rows = try Row.fetchAll(db, sql: """
                SELECT v.decision, l.label FROM labels l JOIN frames fr ON fr.id = l.frame_id JOIN verdicts v ON v.id = fr.verdict_id
                """)
            return (rows.filter { $0[0] as String == "fail" && $0[1] as String != "good" }.count,
                    rows.filter { $0[0] as String == "fail" && $0[1] as String == "good" }.count,
                    rows.filter { $0[0] as String == "pass" && $0[1] as String != "good" }.count)
        }
        #expect(all["hits"] as? Int == hits && all["false_alarms"] as? Int == falseAlarms && all["misses"] as? Int == misses)
        #expect(misses > 0 && falseAlarms > 0)
        let audit = json["audit"] as! [String: Any]
        #expect(audit["escapes"] as? Int == misses, "every labeled pass is an audit sample here")
        let ci = audit["ci95"] as! [Double]
        #expect(ci[0] <= (audit["escape_rate"] as! Double) && (audit["escape_rate"] as! Double) <= ci[1])
        let table = try CLI.run(["stats", "agreement", "--config", fx.config, "--since", "2026-11-02", "--until", "2026-11-05"]).out
        #expect(table.contains("kappa") && table.contains("escape rate from the audit sample"))
    }
}
