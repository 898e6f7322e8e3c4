import Foundation
import LinesightCore
import TestSupport
import Testing
@testable import LineIO

/// The libmosquitto client against a real broker: acknowledgements, the pending count, latency.
/// "Promptly" means well inside the 200 ms these tests allow: the failure they guard against
/// is an acknowledgement read only on the network loop's next tick (a second later), and a
/// tighter bound failed under a loaded host (one message of 100 past 20 ms).
@Suite("MQTT client", .serialized)
struct MQTTClientTests {
    @Test("each QoS 1 message is acknowledged promptly and leaves nothing pending")
    func acknowledgedPromptly() throws {
        let broker = try MosquittoBroker()
        try broker.start()
        let c = try MQTTClient(.init(host: "127.0.0.1", port: broker.port, clientId: "t", keepAlive: 5), will: nil)
        c.start()
        #expect(wait(10) { c.isConnected })
        var slow = 0
        for i in 0..<100 {
            let t = monotonicSeconds()
            #expect(c.publish("t/x", Array("m\(i)".utf8), qos: 1, retain: false))
            if !wait(1, poll: 0.0002, { c.pending == 0 }) || monotonicSeconds() - t > promptly { slow += 1 }
            usleep(10_000)
        }
        #expect(slow == 0, "\(slow) of 100 took over \(promptly) s to be acknowledged")
        let waiting = unacknowledgedPromptly(c)
        #expect(waiting == 0, "\(waiting) of 100 still unacknowledged \(promptly) s after publishing")
        #expect(c.stats.published == 200 && c.stats.acknowledged == 200)
        #expect(c.acknowledgementLatency.count == 200)
        c.stop(wait: 2)
    }

    @Test("reached late (the broker starts after the client): just as prompt")
    func promptAfterALateStart() throws {
        let broker = try MosquittoBroker()
        let c = try MQTTClient(.init(host: "127.0.0.1", port: broker.port, clientId: "t", keepAlive: 5), will: nil)
        c.start()
        usleep(500_000)
        try broker.start()
        #expect(wait(10) { c.isConnected })
        let waiting = unacknowledgedPromptly(c)
        #expect(waiting == 0, "\(waiting) of 100 still unacknowledged \(promptly) s after publishing")
        c.stop(wait: 2)
    }
}

/// How soon an acknowledgement must arrive, in seconds.
let promptly = 0.2

/// Of 100 messages published one after another, how many were still unacknowledged
/// `promptly` after their publish.
func unacknowledgedPromptly(_ c: MQTTClient) -> Int {
    var waiting = 0
    for i in 0..<100 {
        c.publish("t/y", Array(String(repeating: "v", count: 250 + i).utf8), qos: 1, retain: false)
        if !wait(promptly, poll: 0.0005, { c.pending == 0 }) { waiting += 1 }
    }
    return waiting
}

func wait(_ seconds: Double, poll: Double = 0.01, _ condition: () -> Bool) -> Bool {
    let deadline = monotonicSeconds() + seconds
    while monotonicSeconds() < deadline {
        if condition() { return true }
        usleep(useconds_t(poll * 1e6))
    }
    return condition()
}
