import Foundation
import Store
import TestSupport
import Testing

/// Parts, not frames: a station of two views, software triggers over HTTP, the part verdict
/// combining the views, stored with its frames and sent to the line once per part.
@Suite("parts and triggers", .serialized)
struct PartsCLITests {
    static let token = "parts-test-token-0123456789"

    /// Two synthetic views (`side` at `sideFps`) and one station over them.
    static func harness(_ name: String, frames: Int = 2, deadlineMs: Int = 2000, sideFps: Double = 40, triggers: String = "[\"api\"]",
                        select: String = "all", extra: String = "") throws -> ServeHarness {
        let cameras = """
        [[cameras]]
        id = "top"
        source = "synthetic"
        fps = 40
        width = 96
        height = 64

        [[cameras]]
        id = "side"
        source = "synthetic"
        fps = \(sideFps)
        width = 96
        height = 64
        seed = 2

        [[stations]]
        id = "s1"
        cameras = ["top", "side"]
        frames = \(frames)
        select = "\(select)"
        deadline_ms = \(deadlineMs)
        triggers = \(triggers)
        """
        let h = try ServeHarness(name: name, extraConfig: extra, camera: cameras)
        let config = h.dir + "/linesight.toml"
        let text = try String(contentsOfFile: config, encoding: .utf8)
            .replacingOccurrences(of: "listen = \"127.0.0.1:\(h.port)\"", with: "listen = \"127.0.0.1:\(h.port)\"\ntoken_file = \"token\"")
        try text.write(toFile: config, atomically: true, encoding: .utf8)
        try token.write(toFile: h.dir + "/token", atomically: true, encoding: .utf8)
        chmod(h.dir + "/token", 0o600)
        return h
    }

    func trigger(_ h: ServeHarness, _ query: String = "") -> (status: Int, json: [String: Any]?) {
        let r = h.http("/api/v1/trigger" + query, method: "POST", token: Self.token)
        return (r.status, try? JSONSerialization.jsonObject(with: r.body) as? [String: Any])
    }

    @Test("each trigger is one part, judged from the next frames of both views; stored with them, published once per part")
    func triggersMakeParts() throws {
        let broker = try MosquittoBroker()
        try broker.start()
        let h = try Self.harness("parts", extra: MQTTOutputTests.config(broker.port) + "\n[pipeline]\nstall_seconds = 1\n")
        defer { try? FileManager.default.removeItem(atPath: h.dir) }
        let sub = try broker.subscribe("plant/line1/#")
        try h.start()
        #expect(h.wait(30) { (h.metric("linesight_frames_skipped_total{camera=\"side\"}") ?? 0) > 10 }, "the views run, unjudged")
        #expect(h.metric("linesight_store_committed_total") == 0, "no frame is judged without a trigger")
        Thread.sleep(forTimeInterval: 2.5)  // idle for longer than stall_seconds: a pause of the line, not a stall
        #expect(h.metric("linesight_pipeline_advancing") == 1, "an idle station whose frames arrive is alive (watchdog fed)")
        #expect(try broker.retained("plant/line1/status")?["state"] as? String == "online", "and the outputs' lease is renewed")

        var ids: [Int] = []
        for i in 1...10 {
            let r = trigger(h, "?station=s1&serial=SN-\(i)")
            #expect(r.status == 202 && r.json?["station"] as? String == "s1" && r.json?["deadline_ms"] as? Int == 2000)
            if let id = r.json?["part"] as? Int { ids.append(id) }
            usleep(100_000)
        }
        #expect(ids.count == 10 && ids == Array((ids.first ?? 0)..<((ids.first ?? 0) + 10)), "ids count up: \(ids)")
        #expect(h.wait(15) { h.metric("linesight_parts_total{decision=\"fail\",station=\"s1\"}") == 10 })

        // What a line sends: bad input is refused, naming what is wrong.
        #expect(h.http("/api/v1/trigger", method: "POST").status == 403 || h.http("/api/v1/trigger", method: "POST").status == 401)
        let long = trigger(h, "?serial=" + String(repeating: "x", count: 129))
        #expect(long.status == 400 && long.json?["parameter"] as? String == "serial")
        let unknown = trigger(h, "?station=s2")
        #expect(unknown.status == 400 && unknown.json?["parameter"] as? String == "station")
        #expect(h.http("/api/v1/parts?station=nope").status == 404)
        let apiStats = try #require(try JSONSerialization.jsonObject(with: h.http("/api/v1/stats?since=0").body) as? [String: Any])
        let apiParts = try #require(apiStats["parts"] as? [String: Any])
        #expect(apiParts["parts"] as? Int == 10 && apiParts["fails"] as? Int == 10 && apiParts["yield"] as? Double == 0)

        let page = try #require(try JSONSerialization.jsonObject(with: h.http("/api/v1/parts?limit=10").body) as? [String: Any])
        let parts = try #require(page["items"] as? [[String: Any]])
        #expect(parts.count == 10)
        for p in parts {
            #expect(p["decision"] as? String == "fail" && p["views"] as? Int == 2 && p["frames"] as? Int == 4)
            #expect((p["serial"] as? String)?.hasPrefix("SN-") == true)
            #expect(Set((p["defects"] as? String ?? "").split(separator: ",")) == ["top:scratch", "side:scratch"])
            let frames = p["frames_judged"] as? [[String: Any]] ?? []
            #expect(frames.count == 4 && frames.allSatisfy { $0["part_id"] as? Int == p["id"] as? Int })
            #expect(Set(frames.compactMap { $0["camera_id"] as? String }) == ["top", "side"])
        }

        kill(h.pid, SIGTERM)
        let r = h.finish()
        #expect(r.status == 0, "\(r.err.suffix(600))")
        usleep(300_000)
        let messages = sub.stop()
        let store = try Store(path: h.dir + "/data/inspection.sqlite")
        let stored = try store.rangeStats().frames
        #expect(stored == 40, "10 parts x 2 views x 2 frames, nothing else judged: \(stored)")
        let flagged = try store.openFlags(limit: 100)
        #expect(!flagged.isEmpty && flagged.allSatisfy { $0.part != nil && $0.station == "s1" && $0.serial?.hasPrefix("SN-") == true && $0.partDecision == .fail },
                "review shows each flagged frame's part, station, serial and verdict")
        let partMessages = messages.filter { $0.topic == "plant/line1/parts/s1" }
        #expect(partMessages.count == 10, "one message per part")
        #expect(!messages.contains { $0.topic.contains("/verdicts/") }, "a station's frames are not published one by one")
        let m = try #require(partMessages.first?.json)
        #expect(m["part"] as? Int == ids.first && m["serial"] as? String == "SN-1" && m["reject"] as? Bool == true)
        #expect((m["views"] as? [String: String]) == ["top": "fail", "side": "fail"])

        // Statistics count parts on a line with stations, frames on request.
        let config = h.dir + "/linesight.toml"
        let byStation = try CLI.run(["stats", "--config", config, "--since", "1h", "--by", "station", "--format", "csv"])
        #expect(byStation.status == 0, "\(byStation.err)")
        let rows = byStation.out.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        let header = try #require(rows.first)
        let s1 = try #require(rows.first { $0.first == "s1" })
        func cell(_ name: String) -> String? { header.firstIndex(of: name).map { s1[$0] } }
        #expect(header.first == "station" && cell("parts") == "10" && cell("fails") == "10" && cell("first_pass_yield") == "0.000000", "\(byStation.out)")
        #expect(cell("top:scratch_count") == "10" && cell("side:scratch_count") == "10", "defects as view:kind, once per part")
        let frames = try CLI.run(["stats", "--config", config, "--since", "1h", "--unit", "frames", "--by", "camera", "--format", "csv"])
        #expect(frames.status == 0 && frames.out.contains("\ntop,20,") && frames.out.contains("\nside,20,"), "\(frames.out)")
        let refused = try CLI.run(["stats", "--config", config, "--by", "camera"])
        #expect(refused.status != 0 && refused.err.contains("--by station, or --unit frames"))
    }

    @Test("select = sharpest: a burst of 4 frames per view, only the sharpest judged: one frame row per view and part")
    func sharpestOfBurst() throws {
        let h = try Self.harness("parts-sharpest", frames: 4, select: "sharpest")
        defer { try? FileManager.default.removeItem(atPath: h.dir) }
        try h.start()
        #expect(h.wait(30) { (h.metric("linesight_frames_skipped_total{camera=\"side\"}") ?? 0) > 10 })
        for i in 1...4 {
            #expect(trigger(h, "?serial=F-\(i)").status == 202)
            usleep(200_000)
        }
        #expect(h.wait(15) { h.metric("linesight_parts_total{decision=\"fail\",station=\"s1\"}") == 4 })
        let page = try #require(try JSONSerialization.jsonObject(with: h.http("/api/v1/parts?limit=10").body) as? [String: Any])
        let parts = try #require(page["items"] as? [[String: Any]])
        #expect(parts.count == 4 && parts.allSatisfy { $0["frames"] as? Int == 2 && ($0["frames_judged"] as? [Any])?.count == 2 },
                "one judged frame per view: \(parts.map { $0["frames"] ?? "-" })")
        #expect(parts.allSatisfy { $0["error"] as? String == nil } && parts.allSatisfy { $0["decision"] as? String == "fail" }, "no view missed its deadline")
        kill(h.pid, SIGTERM)
        #expect(h.finish().status == 0)
        #expect(try Store(path: h.dir + "/data/inspection.sqlite").rangeStats().frames == 8, "4 parts x 2 views, the other frames of each burst unjudged")
    }

    @Test("presence gating: a part passing the camera on a belt is one part, judged from frames with the part in view")
    func presenceGating() throws {
        // top: a conveyor, 6 frames of empty belt then 6 of a part, at 40 fps (a part every 0.3 s)
        let cameras = """
        [[cameras]]
        id = "top"
        source = "synthetic"
        fps = 40
        width = 128
        height = 96
        belt_part_frames = 6
        belt_gap_frames = 6

        [[stations]]
        id = "s1"
        cameras = ["top"]
        frames = 1
        deadline_ms = 2000
        triggers = ["presence"]
        presence_threshold = 0.1
        presence_frames = 2
        """
        let h = try ServeHarness(name: "parts-presence", camera: cameras)
        defer { try? FileManager.default.removeItem(atPath: h.dir) }
        try h.start()
        #expect(h.wait(30) { (h.metric("linesight_parts_total{decision=\"fail\",station=\"s1\"}") ?? 0) >= 8 }, "parts from presence alone")
        #expect((h.metric("linesight_presence_score{camera=\"top\"}") ?? -1) >= 0, "the score is in /metrics for tuning")
        kill(h.pid, SIGTERM)
        #expect(h.finish().status == 0)
        let store = try Store(path: h.dir + "/data/inspection.sqlite")
        let parts = try store.parts(limit: 1000)
        let frames = try store.verdicts(ofParts: parts.map(\.id)).values.flatMap { $0 }
        #expect(frames.count == parts.count, "one judged frame per part")
        // sequence n (from 1) is frame n-1 of the belt: cycle (n-1)/12, in view when (n-1)%12 >= 6
        let sequences = frames.map { Int($0.frameSequence) - 1 }
        #expect(sequences.allSatisfy { $0 % 12 >= 6 }, "judged frames show the part: \(sequences.map { $0 % 12 })")
        let cycles = sequences.map { $0 / 12 }
        #expect(Set(cycles).count == cycles.count, "one part per pass of the belt: \(cycles)")
        #expect(try store.rangeStats().frames == parts.count, "no frame judged outside a part")
    }

    @Test("the PLC gets one reject pulse per failing part, not one per frame")
    func oneRejectPerPart() throws {
        let plc = ModbusServer()
        try plc.start()
        let h = try Self.harness("parts-plc", frames: 1, extra: ModbusOutputTests.config(plc.port))
        defer { try? FileManager.default.removeItem(atPath: h.dir) }
        try h.start()
        #expect(h.wait(30) { (h.metric("linesight_frames_skipped_total{camera=\"top\"}") ?? 0) > 10 })
        for _ in 1...5 {
            #expect(trigger(h).status == 202, "the only station needs no name")
            usleep(300_000)
        }
        #expect(h.wait(10) { h.metric("linesight_parts_total{decision=\"fail\",station=\"s1\"}") == 5 })
        kill(h.pid, SIGTERM)
        #expect(h.finish().status == 0)
        #expect(plc.coil(ModbusOutputTests.coil).filter(\.on).count == 5, "five parts, five pulses (ten frames)")
        #expect(plc.value(ModbusOutputTests.base + 2) == 5 && plc.value(ModbusOutputTests.base + 4) == 5)
    }

    @Test("a view that misses the deadline rejects the part, the reason stored; its frame is no longer waited for")
    func deadlineRejects() throws {
        // the side camera delivers its first frame at start and the next 100 s later
        let h = try Self.harness("parts-late", frames: 1, deadlineMs: 1000, sideFps: 0.01)
        defer { try? FileManager.default.removeItem(atPath: h.dir) }
        try h.start()
        #expect(h.wait(30) { (h.metric("linesight_frames_skipped_total{camera=\"top\"}") ?? 0) > 10 })
        for _ in 1...3 {
            #expect(trigger(h).status == 202)
            usleep(200_000)
        }
        #expect(h.wait(10) { h.metric("linesight_parts_late_total{station=\"s1\"}") == 3 })
        kill(h.pid, SIGTERM)
        let r = h.finish()
        #expect(r.status == 0)
        let db = try Store(path: h.dir + "/data/inspection.sqlite")
        let parts = try db.parts()
        #expect(parts.count == 3)
        for p in parts {
            #expect(p.decision == .fail, "rejected: the top view failed, the side view never came")
            #expect(p.error?.contains("deadline: no verdict from side within 1000 ms") == true, "\(p.error ?? "nil")")
            #expect(try db.verdicts(ofPart: p.id).map(\.cameraId) == ["top"])
            #expect(p.decidedMs >= 1000 && p.frames == 1)
        }
        #expect(r.err.contains("part decided by its deadline"))
    }

    @Test("triggers over MQTT: a serial as text, as JSON, none; a payload with no usable serial still makes its part")
    func mqttTriggers() throws {
        let broker = try MosquittoBroker()
        try broker.start()
        let h = try Self.harness("parts-mqtt", frames: 1, triggers: "[\"mqtt\"]", extra: MQTTOutputTests.config(broker.port))
        defer { try? FileManager.default.removeItem(atPath: h.dir) }
        try h.start()
        #expect(h.wait(30) { h.metrics().contains { $0.key.hasPrefix("linesight_output_up{") && $0.value == 1 } })
        let sub = try broker.subscribe("plant/line1/parts/#")
        for payload in ["SN-7", "{\"serial\": \"SN-8\"}", nil, "{\"serial\": 5}", String(repeating: "x", count: 200)] {
            try broker.publish("plant/line1/trigger/s1", payload)
            usleep(200_000)
        }
        try broker.publish("plant/line1/trigger/elsewhere", "SN-9")  // not a station of ours
        #expect(h.wait(10) { h.metric("linesight_parts_triggered_total{station=\"s1\"}") == 5 })
        let api = trigger(h, "?serial=SN-10")
        #expect(api.status == 400 && api.json?["parameter"] as? String == "station", "this station takes its triggers from MQTT only")
        #expect(h.wait(10) { h.metric("linesight_parts_total{decision=\"fail\",station=\"s1\"}") == 5 })
        kill(h.pid, SIGTERM)
        let r = h.finish()
        #expect(r.status == 0)
        usleep(300_000)
        let messages = sub.stop()
        let serials = try Store(path: h.dir + "/data/inspection.sqlite").parts().reversed().map(\.serial)
        #expect(serials == ["SN-7", "SN-8", nil, nil, nil], "\(serials)")
        #expect(messages.count == 5 && messages.first?.json["serial"] as? String == "SN-7")
        #expect(r.err.contains("trigger payload without a usable serial"))
    }

    @Test("a photo-eye on the PLC's discrete input triggers parts on its rising edge; a bouncing contact is one part")
    func modbusInputTriggers() throws {
        let plc = ModbusServer()
        try plc.start()
        let modbus = ModbusOutputTests.config(plc.port) + "\ntrigger_input = 5\ntrigger_poll_ms = 5\ntrigger_debounce_ms = 100\n"
        let h = try Self.harness("parts-eye", frames: 1, triggers: "[\"modbus\"]", extra: modbus)
        defer { try? FileManager.default.removeItem(atPath: h.dir) }
        try h.start()
        #expect(h.wait(30) { h.metrics().contains { $0.key.hasPrefix("linesight_output_up{") && $0.value == 1 } })
        for _ in 1...4 {
            plc.setInput(5, true)
            usleep(150_000)
            plc.setInput(5, false)
            usleep(150_000)
        }
        // a bouncing contact: three rising edges within 60 ms, inside the debounce time
        for _ in 1...3 {
            plc.setInput(5, true)
            usleep(10_000)
            plc.setInput(5, false)
            usleep(10_000)
        }
        #expect(h.wait(10) { h.metric("linesight_parts_triggered_total{station=\"s1\"}") == 5 })
        Thread.sleep(forTimeInterval: 0.5)
        #expect(h.metric("linesight_parts_triggered_total{station=\"s1\"}") == 5, "four parts, then one for the bouncing contact")
        #expect(h.wait(10) { h.metric("linesight_parts_total{decision=\"fail\",station=\"s1\"}") == 5 })
        let api = trigger(h)
        #expect(api.status == 400, "this station takes its triggers from the PLC only")
        kill(h.pid, SIGTERM)
        #expect(h.finish().status == 0)
        #expect(plc.coil(ModbusOutputTests.coil).filter(\.on).count == 5, "each part rejected on the same PLC")
    }
}
