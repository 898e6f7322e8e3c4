import Foundation
import Store
import TestSupport
import Testing

/// The MQTT output, as a process against a real broker: every verdict published, the retained
/// status and its last will, a broker that is away or goes away, and a daemon that hangs.
@Suite("MQTT output", .serialized)
struct MQTTOutputTests {
    static func config(_ port: Int, keepalive: Int = 5) -> String {
        """
        [outputs.mqtt]
        enabled = true
        broker = "127.0.0.1:\(port)"
        topic = "plant/line1"
        keepalive_seconds = \(keepalive)
        """
    }

    func output(_ h: ServeHarness, _ name: String) -> Double? {
        h.metrics().first { $0.key.hasPrefix(name + "{") && $0.key.contains("output=\"mqtt\"") }?.value
    }

    @Test("every committed verdict is published once, as JSON, in order; a clean stop leaves the status 'offline: stopped'")
    func everyVerdictIsPublished() throws {
        let broker = try MosquittoBroker()
        try broker.start()
        let h = try ServeHarness(name: "mqtt-all", extraConfig: Self.config(broker.port))
        defer { try? FileManager.default.removeItem(atPath: h.dir) }
        let sub = try broker.subscribe("plant/line1/verdicts/#")
        try h.start()
        #expect(h.wait(30) { (h.metric("linesight_store_committed_total") ?? 0) >= 40 })
        let online = try broker.retained("plant/line1/status")
        #expect(online?["state"] as? String == "online", "\(String(describing: online))")
        #expect(output(h, "linesight_output_up") == 1)
        kill(h.pid, SIGTERM)
        let r = h.finish()
        #expect(r.status == 0, "\(r.err.suffix(600))")
        usleep(500_000)
        let messages = sub.stop()

        let db = try Store(path: h.dir + "/data/inspection.sqlite")
        let stored = try db.rangeStats().frames
        #expect(stored >= 40)
        #expect(messages.count == stored, "one message per committed verdict: \(messages.count) published, \(stored) committed")
        #expect(messages.allSatisfy { $0.topic == "plant/line1/verdicts/line1" })
        let sequences = messages.compactMap { $0.json["sequence"] as? Int }
        #expect(sequences.count == messages.count && sequences == sequences.sorted() && Set(sequences).count == sequences.count)
        let first = try #require(messages.first?.json)
        #expect(["pass", "fail", "no_verdict"].contains(first["decision"] as? String ?? ""))
        #expect((first["reject"] as? Bool) == ((first["decision"] as? String) != "pass"))
        #expect(first["camera"] as? String == "line1" && first["defects"] is [Any] && first["flags"] is [Any])
        #expect((first["captured_at"] as? String)?.hasSuffix("Z") == true && (first["latency_ms"] as? Double ?? -1) >= 0)
        let decisions = Dictionary(grouping: messages, by: { $0.json["decision"] as? String ?? "?" }).mapValues(\.count)
        let storedFails = try db.rangeStats().fails
        #expect(decisions["fail", default: 0] == storedFails, "published fails \(decisions) match the store's \(storedFails)")

        let goodbye = try broker.retained("plant/line1/status")
        #expect(goodbye?["state"] as? String == "offline" && goodbye?["reason"] as? String == "stopped", "\(String(describing: goodbye))")
    }

    @Test("kill -9: the broker publishes the last will, 'offline: connection lost', retained")
    func killNineFiresTheWill() throws {
        let broker = try MosquittoBroker()
        try broker.start()
        let h = try ServeHarness(name: "mqtt-will", extraConfig: Self.config(broker.port))
        defer { try? FileManager.default.removeItem(atPath: h.dir) }
        try h.start()
        #expect(h.wait(30) { output(h, "linesight_output_up") == 1 })
        #expect(try broker.retained("plant/line1/status")?["state"] as? String == "online")
        kill(h.pid, SIGKILL)
        _ = h.finish()
        var will: [String: Any]?
        let deadline = Date().addingTimeInterval(10)
        repeat { will = try broker.retained("plant/line1/status") } while will?["state"] as? String != "offline" && Date() < deadline
        #expect(will?["state"] as? String == "offline" && will?["reason"] as? String == "connection lost", "\(String(describing: will))")
    }

    @Test("a daemon that hangs (SIGSTOP) stops answering the broker: the will fires; on SIGCONT it is back online")
    func hangFiresTheWill() throws {
        let broker = try MosquittoBroker()
        try broker.start()
        let h = try ServeHarness(name: "mqtt-hang", extraConfig: Self.config(broker.port, keepalive: 5))
        defer { try? FileManager.default.removeItem(atPath: h.dir) }
        try h.start()
        #expect(h.wait(30) { output(h, "linesight_output_up") == 1 })
        kill(h.pid, SIGSTOP)
        let stopped = Date()
        var status: [String: Any]?
        repeat { status = try broker.retained("plant/line1/status") } while status?["state"] as? String != "offline" && Date().timeIntervalSince(stopped) < 20
        #expect(status?["state"] as? String == "offline", "the broker gave up on a silent client within 1.5 x keepalive: \(String(describing: status))")
        #expect(Date().timeIntervalSince(stopped) < 15)
        kill(h.pid, SIGCONT)
        #expect(h.wait(30) { (try? broker.retained("plant/line1/status")?["state"] as? String) == "online" }, "reconnected and online again")
        #expect(h.wait(10) { (output(h, "linesight_output_reconnects_total") ?? 0) >= 1 })
        kill(h.pid, SIGTERM)
        #expect(h.finish().status == 0)
    }

    @Test("no broker at start: the line goes on with an alarm; the broker comes, goes and comes back: reconnected, verdicts flow")
    func brokerAwayRaisesAnAlarmAndIsRetried() throws {
        let broker = try MosquittoBroker()  // not started yet
        let h = try ServeHarness(name: "mqtt-away", extraConfig: Self.config(broker.port))
        defer { try? FileManager.default.removeItem(atPath: h.dir) }
        try h.start()
        #expect(h.wait(30) { output(h, "linesight_output_alarm") == 1 }, "no broker: alarm raised")
        let before = h.metric("linesight_store_committed_total") ?? 0
        #expect(h.wait(10) { (h.metric("linesight_store_committed_total") ?? 0) > before + 20 }, "verdicts go on to SQLite")
        #expect(output(h, "linesight_output_up") == 0)
        #expect((output(h, "linesight_output_pending") ?? 0) > 0, "verdicts wait for the broker")

        try broker.start()
        #expect(h.wait(30) { output(h, "linesight_output_up") == 1 && output(h, "linesight_output_alarm") == 0 }, "connected within the back-off")
        #expect(h.wait(10) { output(h, "linesight_output_pending") == 0 }, "the backlog is delivered: \(String(describing: output(h, "linesight_output_pending"))) pending, \(String(describing: output(h, "linesight_output_delivered_total"))) delivered")
        let sub = try broker.subscribe("plant/line1/verdicts/#")
        usleep(1_000_000)
        broker.stop()
        #expect(h.wait(15) { output(h, "linesight_output_up") == 0 && output(h, "linesight_output_alarm") == 1 })
        try broker.start()
        #expect(h.wait(30) { output(h, "linesight_output_up") == 1 }, "reconnected")
        #expect((output(h, "linesight_output_reconnects_total") ?? 0) >= 1)
        #expect(h.wait(10) { output(h, "linesight_output_pending") == 0 }, "what the outage held back is delivered")
        // acknowledged promptly once connected, not held until the next verdict (Nagle on the
        // broker meeting a delayed ACK here made it ~25 ms at 40 fps)
        func acks() -> (fast: Double, all: Double) {
            let m = h.metrics().filter { $0.key.hasPrefix("linesight_output_ack_latency_ms_bucket{") }
            return (m.first { $0.key.contains("le=\"10\"") }?.value ?? 0, m.first { $0.key.contains("le=\"+Inf\"") }?.value ?? 0)
        }
        let a0 = acks()
        Thread.sleep(forTimeInterval: 2)
        let a1 = acks()
        #expect(a1.all - a0.all >= 40 && (a1.fast - a0.fast) >= 0.8 * (a1.all - a0.all),
                "acknowledged within 10 ms: \(a1.fast - a0.fast) of \(a1.all - a0.all)")
        let sub2 = try broker.subscribe("plant/line1/verdicts/#")
        usleep(1_000_000)
        kill(h.pid, SIGTERM)
        let r = h.finish()
        #expect(r.status == 0, "\(r.err.suffix(600))")
        #expect(r.err.contains("output failing") && r.err.contains("output working again"), "alarms are logged as they start and clear")
        _ = sub.stop()
        #expect(sub2.stop().count >= 10, "verdicts flow after the reconnection")
    }
}
