import Foundation
import GRDB
import Store
import TestSupport
import Testing

/// Several products on one line, as a process: a model set per product, changeover without a
/// restart by the API and by MQTT (a real broker), verdicts, outputs and stats tagged by
/// product, and the product remembered across a restart.
@Suite("products on one line", .serialized)
struct ProductsCLITests {
    /// The harness's models are product "default" (uncertain parts); product "heavy" fails every part.
    static func harness(_ name: String, extra: String = "") throws -> ServeHarness {
        let h = try ServeHarness(name: name, stage1P: 0.1, extraConfig: """
            [operator]
            enabled = true
            [[products]]
            id = "heavy"
            stage1 = "models/heavy-stage1.safetensors"
            stage2 = "models/stage2.safetensors"
            \(extra)
            """)
        try stage1(h.dir + "/models/heavy-stage1.safetensors", pDefect: 0.97)
        // a changeover is a state change: it takes the API token
        let config = h.dir + "/linesight.toml"
        let text = try String(contentsOfFile: config, encoding: .utf8)
            .replacingOccurrences(of: "listen = \"127.0.0.1:\(h.port)\"", with: "listen = \"127.0.0.1:\(h.port)\"\ntoken_file = \"token\"")
        try text.write(toFile: config, atomically: true, encoding: .utf8)
        try PartsCLITests.token.write(toFile: h.dir + "/token", atomically: true, encoding: .utf8)
        chmod(h.dir + "/token", 0o600)
        return h
    }

    func verdictsByProduct(_ h: ServeHarness) throws -> [String: [String: Int]] {
        let db = try DatabaseQueue(path: h.dir + "/data/inspection.sqlite")
        return try db.read { db in
            var out: [String: [String: Int]] = [:]
            for r in try Row.fetchAll(db, sql: "SELECT coalesce(product, '-'), decision, count(*) FROM verdicts GROUP BY 1, 2") {
                out[r[0], default: [:]][r[1]] = r[2]
            }
            return out
        }
    }

    @Test("the API changes the product without a restart; verdicts, stats and /metrics name it; a restart keeps it")
    func changeoverByAPI() throws {
        let h = try Self.harness("products-api")
        defer { try? FileManager.default.removeItem(atPath: h.dir) }
        let t = PartsCLITests.token
        try h.start()
        #expect(h.wait(30) { (h.metric("linesight_store_committed_total") ?? 0) >= 30 })
        let before = try #require(h.json("/api/v1/product"))
        #expect(before["product"] as? String == "default" && (before["products"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == ["default", "heavy"])
        #expect(h.metric("linesight_product_info{product=\"default\"}") == 1)
        // refused: unknown products and hostile ids, with the line going on
        #expect(h.http("/api/v1/product?product=heavy", method: "POST").status == 401, "a changeover needs the token")
        let unknown = h.http("/api/v1/product?product=bracket-z", method: "POST", token: t)
        #expect(unknown.status == 404 && String(decoding: unknown.body, as: UTF8.self).contains("known: default, heavy"))
        for bad in ["", String(repeating: "x", count: 5000), "a%00b", "%E2%80%AE"] {
            let r = h.http("/api/v1/product?product=\(bad)", method: "POST", token: t)
            #expect([400, 404].contains(r.status), "'\(bad.prefix(20))': \(r.status)")
        }
        #expect(h.http("/api/v1/product", method: "POST", token: t).status == 400)
        let changed = h.http("/api/v1/product?product=heavy", method: "POST", token: t)
        #expect(changed.status == 200, "\(String(decoding: changed.body, as: UTF8.self))")
        let after = try #require(h.json("/api/v1/product"))
        #expect(after["product"] as? String == "heavy" && after["changeovers"] as? Int == 1)
        #expect((after["history"] as? [[String: Any]])?.first?["by"] as? String == "api")
        #expect(h.http("/api/v1/product?product=heavy", method: "POST", token: t).status == 200, "already on it: nothing to load")
        let committed = h.metric("linesight_store_committed_total") ?? 0
        #expect(h.wait(30) { (h.metric("linesight_store_committed_total") ?? 0) >= committed + 30 })
        #expect(h.metric("linesight_product_info{product=\"heavy\"}") == 1 && h.metric("linesight_product_changeovers_total") == 1)
        let screen = try #require(h.json("/api/v1/operator/status"))
        #expect(screen["product"] as? String == "heavy" && screen["products"] as? Int == 2)
        #expect(h.wait(10) { (h.json("/api/v1/operator/status")?["events"] as? [[String: Any]])?.contains { $0["text"] as? String == "product changeover: heavy" } == true },
                "the operator screen notes the changeover: \(String(describing: h.json("/api/v1/operator/status")?["events"]))")
        let cams = try #require(h.json("/api/v1/stats")?["cameras"] as? [[String: Any]])
        #expect(cams.first?["product"] as? String == "heavy")
        let products = try #require(h.json("/api/v1/stats")?["products"] as? [String: [String: Int]])
        #expect((products["heavy"]?["fails"] ?? 0) > 0 && (products["default"]?["frames"] ?? 0) > 0, "\(products)")
        kill(h.pid, SIGTERM)
        let end = h.finish()
        #expect(end.status == 0 && end.err.contains("product changeover"), "\(end.err.suffix(800))")

        // each verdict names the product whose models judged it: "heavy" fails every part
        let byProduct = try verdictsByProduct(h)
        #expect(byProduct["heavy", default: [:]]["pass"] == nil && (byProduct["heavy", default: [:]]["fail"] ?? 0) >= 30, "\(byProduct)")
        #expect((byProduct["default", default: [:]].values.reduce(0, +)) >= 30 && byProduct["-"] == nil, "\(byProduct)")
        let stats = try CLI.run(["stats", "--config", h.dir + "/linesight.toml", "--by", "product", "--format", "csv", "--since", "1d"])
        #expect(stats.status == 0, "\(stats.err)")
        let rows = stats.out.split(separator: "\n").map { $0.split(separator: ",").map(String.init) }
        #expect(rows.contains { $0.first == "heavy" } && rows.contains { $0.first == "default" }, "\(stats.out.prefix(600))")
        let heavyParts = rows.first { $0.first == "heavy" }.flatMap { $0.count > 1 ? Int($0[1]) : nil }
        #expect(heavyParts == byProduct["heavy"]?.values.reduce(0, +), "stats' heavy parts match the verdict rows: \(stats.out.prefix(400))")

        // a restart starts on the product the line was on
        try h.start()
        #expect(h.wait(20) { h.json("/api/v1/product")?["product"] as? String == "heavy" })
        kill(h.pid, SIGTERM)
        #expect(h.finish().status == 0)
    }

    @Test("MQTT: a message on <topic>/product/set changes the product; <topic>/product says which, retained; nonsense is ignored")
    func changeoverByMQTT() throws {
        let broker = try MosquittoBroker()
        try broker.start()
        let h = try Self.harness("products-mqtt", extra: MQTTOutputTests.config(broker.port))
        defer { try? FileManager.default.removeItem(atPath: h.dir) }
        let sub = try broker.subscribe("plant/line1/verdicts/#")
        try h.start()
        func announced() -> String? {
            let r = try? Child.run(URL(fileURLWithPath: "/usr/bin/mosquitto_sub"),
                                   ["-h", "127.0.0.1", "-p", "\(broker.port)", "-t", "plant/line1/product", "-C", "1", "-W", "3", "--retained-only"], within: 10)
            return r?.out.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        #expect(h.wait(20) { announced() == "default" })
        #expect(h.wait(30) { (h.metric("linesight_store_committed_total") ?? 0) >= 20 })
        // nonsense payloads change nothing and do not stop the line
        for junk in ["", "{\"product\": 7}", "no spaces allowed", String(repeating: "p", count: 300), "nope"] {
            try broker.publish("plant/line1/product/set", junk)
        }
        usleep(500_000)
        #expect(h.json("/api/v1/product")?["product"] as? String == "default")
        try broker.publish("plant/line1/product/set", #"{"product": "heavy"}"#)
        #expect(h.wait(20) { h.json("/api/v1/product")?["product"] as? String == "heavy" })
        #expect(h.wait(10) { announced() == "heavy" })
        let committed = h.metric("linesight_store_committed_total") ?? 0
        #expect(h.wait(30) { (h.metric("linesight_store_committed_total") ?? 0) >= committed + 20 })
        kill(h.pid, SIGTERM)
        let end = h.finish()
        #expect(end.status == 0 && end.err.contains("product changeover message refused"), "\(end.err.suffix(800))")
        usleep(300_000)
        let messages = sub.stop()
        let tagged = Dictionary(grouping: messages.compactMap { $0.json["product"] as? String }, by: { $0 }).mapValues(\.count)
        #expect(tagged["default", default: 0] > 0 && tagged["heavy", default: 0] > 0 && tagged.values.reduce(0, +) == messages.count,
                "every published verdict names its product: \(tagged), \(messages.count) messages")
        let heavyFails = messages.filter { $0.json["product"] as? String == "heavy" }.allSatisfy { $0.json["decision"] as? String != "pass" }
        #expect(heavyFails)
        let history = try Store(path: h.dir + "/data/inspection.sqlite").productChanges()
        #expect(history.first?.product == "heavy" && history.first?.by == "mqtt", "\(history)")
    }

    @Test("a stage 2 the config gives two products is [models]'s: the other's first training trains stage 1 beside it, its file and registry untouched")
    func sharedStageTwoHasOneOwner() throws {
        let h = try Self.harness("products-shared")
        defer { try? FileManager.default.removeItem(atPath: h.dir) }
        let live = try Data(contentsOf: URL(fileURLWithPath: h.dir + "/models/stage2.safetensors"))
        let heavyBefore = try Data(contentsOf: URL(fileURLWithPath: h.dir + "/models/heavy-stage1.safetensors"))
        #expect(try CLI.run(["synth", "--out", h.dir + "/parts", "--count", "40", "--size", "64x48"]).status == 0)
        let cfg = ["--config", h.dir + "/linesight.toml"]
        // no --input-size or --colour: stage 1 takes the shared stage 2's images (1x32x32), so its scores can pick the thresholds
        let train = ["train", "--data", h.dir + "/parts", "--product", "heavy", "--epochs", "1", "--width", "4"] + cfg
        // the owner has no live stage 2 yet: refused before any training, nothing left behind
        try FileManager.default.moveItem(atPath: h.dir + "/models/stage2.safetensors", toPath: h.dir + "/stage2.away")
        let early = try CLI.run(train)
        try FileManager.default.moveItem(atPath: h.dir + "/stage2.away", toPath: h.dir + "/models/stage2.safetensors")
        #expect(early.status != 0 && early.err.contains("which owns it and has not trained it yet") && early.err.contains("train 'default' first"),
                "\(early.out.suffix(300)) \(early.err.suffix(600))")
        #expect(!early.out.contains("epoch"), "refused before any training: \(early.out.suffix(300))")
        // stage 1 alone, its thresholds picked with the owner's live stage 2 settling the unsure parts
        let r = try CLI.run(train)
        #expect(r.status == 0, "\(r.out.suffix(600)) \(r.err.suffix(600))")
        #expect(r.out.contains("stage 2: not trained; the line's") && r.out.contains("settles the unsure parts: stage 1's thresholds are picked with it"),
                "\(r.out.suffix(1500))")
        #expect(r.out.contains("the line on test (stage 1, stage 2 settles the unsure)"), "the line's figures with the shared stage 2: \(r.out.suffix(1500))")
        #expect(r.out.contains("model input: 32 (the shared stage 2's") && r.out.contains("gray (the shared stage 2's"), "\(r.out.prefix(400))")
        let promoted = r.out.split(separator: "\n").filter { $0.hasPrefix("registered and promoted") }
        #expect(promoted.count == 1 && promoted.allSatisfy { $0.contains("stage 1 ") && !$0.contains("stage 2") }, "\(promoted)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: h.dir + "/models/stage2.safetensors")) == live, "the owner's live stage 2 untouched")
        #expect(try Data(contentsOf: URL(fileURLWithPath: h.dir + "/models/heavy-stage1.safetensors")) != heavyBefore, "heavy's new stage 1 is live")
        let heavy = try Store(path: h.dir + "/data/inspection.sqlite").models(product: "heavy")
        #expect(heavy.filter { $0.stage == 1 && $0.status == .champion }.count == 1 && !heavy.contains { $0.stage == 2 },
                "heavy's registry holds its stage 1 and no stage 2: \(heavy.map { ($0.stage, $0.status) })")
        // from the line's labels: no longer refused for the shared stage 2 (heavy has no labels yet)
        let labels = try CLI.run(["train", "--labels", "--product", "heavy", "--epochs", "1"] + cfg)
        #expect(labels.status != 0 && labels.err.contains("no labeled frames of product 'heavy'") && !labels.err.contains("which owns it"),
                "\(labels.err.suffix(400))")
        // a stage-2 version for heavy could never be promoted: refused at registration
        let register = try CLI.run(["models", "register", h.dir + "/models/stage2.safetensors", "--stage", "2", "--product", "heavy"] + cfg)
        #expect(register.status != 0 && register.err.contains("which owns it"), "\(register.err.suffix(400))")
        #expect(try Data(contentsOf: URL(fileURLWithPath: h.dir + "/models/stage2.safetensors")) == live)
        let left = try FileManager.default.contentsOfDirectory(atPath: h.dir + "/models").filter { $0.hasPrefix("trained-") || $0.hasPrefix("train-labels") }
        #expect(left.count == 1 && left.allSatisfy { $0.hasPrefix("trained-") }, "the one training's folder, no half-made model or label folder: \(left)")
        let folder = h.dir + "/models/" + (left.first ?? "?")
        #expect(FileManager.default.fileExists(atPath: folder + "/stage1.safetensors") && !FileManager.default.fileExists(atPath: folder + "/stage2.safetensors"),
                "stage 1 alone was trained and written")
        // every test part's line call counts the shared stage 2 (it names "scratch" over its threshold: the unsure fail with it)
        let csv = (try? String(contentsOfFile: folder + "/test-scores.csv", encoding: .utf8)) ?? ""
        let rows = csv.split(separator: "\n").dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false) }
        #expect(!rows.isEmpty && rows.allSatisfy { $0.count == 8 && $0[7] != "unsure" }, "\(csv.prefix(600))")
        #expect(rows.allSatisfy { $0[5] == "scratch" }, "the shared stage 2's kinds name the parts: \(csv.prefix(600))")
    }
}
