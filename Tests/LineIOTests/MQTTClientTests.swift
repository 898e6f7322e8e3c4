import Foundation
import LinesightCore
import TestSupport
import Testing
@testable import LineIO

/// The libmosquitto client against a real broker: acknowledgements, the pending count, latency.
@Suite("MQTT client", .serialized)
struct MQTTClientTests {
    @Test("each QoS 1 message is acknowledged within milliseconds and leaves nothing pending")
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
            if !wait(1, poll: 0.0002, { c.pending == 0 }) || monotonicSeconds() - t > 0.02 { slow += 1 }
            usleep(10_000)
        }
        #expect(slow == 0, "\(slow) of 100 took over 20 ms to be acknowledged")
        let waiting = unacknowledgedAfter20ms(c)
        #expect(waiting == 0, "\(waiting) of 100 still unacknowledged 20 ms after publishing")
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
        let waiting = unacknowledgedAfter20ms(c)
        #expect(waiting == 0, "\(waiting) of 100 still unacknowledged 20 ms after publishing")
        c.stop(wait: 2)
    }
}

/// Publishes 100 messages 20 ms apart; how many were still unacknowledged when the next was due.
func unacknowledgedAfter20ms(_ c: MQTTClient) -> Int {
    var waiting = 0
    for i in 0..<100 {
        c.publish("t/y", Array(String(repeating: "v", count: 250 + i).utf8), qos: 1, retain: false)
        usleep(20_000)
        if c.pending > 0 { waiting += 1 }
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
