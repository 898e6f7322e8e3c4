import Foundation
import LinesightCore
import Logging

/// How one output is doing, for /api/v1/health, /metrics and the logs.
public struct OutputHealth: Sendable {
    public var name: String
    public var target: String
    public var connected: Bool
    /// Verdicts the far end acknowledged.
    public var delivered: UInt64
    /// Verdicts handed over but not yet acknowledged.
    public var pending: UInt64
    /// Verdicts not sent because the backlog was full.
    public var dropped: UInt64
    public var reconnects: UInt64
    /// Hand-over to acknowledgement, milliseconds.
    public var latency: Histogram
    /// Why the output is failing, while it is (nil when it works).
    public var alarm: String?
}

/// Verdicts to an MQTT broker: each verdict as JSON on `<topic>/verdicts/<camera>` (QoS 1),
/// a retained `<topic>/status` ("online" once connected; the last will, "offline", when the
/// daemon vanishes or hangs; "offline" with reason "stopped" on a clean stop), reconnection
/// with back-off. A broker that is away raises an alarm and never slows the pipelines.
public final class MQTTOutput: @unchecked Sendable {
    public let settings: MQTTSettings
    private let client: MQTTClient
    private let logger: Logger
    private let lock = NSLock()
    private var dropped: UInt64 = 0
    private var alarmLogged: String?
    private var started = monotonicSeconds()
    private let about: [String: String]
    private var handlers: [String: (ignoringRetained: Bool, body: @Sendable ([UInt8]) -> Void)] = [:]
    private var product: String?

    /// - Parameter about: what the status message says of this daemon (e.g. version, host).
    public init(_ settings: MQTTSettings, about: [String: String], logger: Logger) throws(LineIOError) {
        self.settings = settings
        self.logger = logger
        let will = MQTTClient.Will(topic: settings.statusTopic, payload: Self.status("offline", reason: "connection lost", about),
                                   qos: 1, retain: true)
        let endpoint = MQTTClient.Endpoint(host: settings.host, port: settings.port, clientId: settings.clientId,
                                           keepAlive: settings.keepAlive, username: settings.username, password: try settings.password())
        client = try MQTTClient(endpoint, will: will)
        let online = Self.status("online", reason: nil, about), topic = settings.statusTopic
        self.about = about
        let productTopic = settings.productTopic
        client.onConnect = { [weak self, weak client] in
            client?.publish(topic, online, qos: 1, retain: true)
            // read and published under the lock `announce` holds: an older product is never published after a newer one
            self?.lock.withLock { if let p = self?.product { _ = client?.publish(productTopic, Array(p.utf8), qos: 1, retain: true) } }
        }
    }

    static func status(_ state: String, reason: String?, _ about: [String: String]) -> [UInt8] {
        var o: [String: Any] = about
        o["state"] = state
        if let reason { o["reason"] = reason }
        return Array((try? JSONSerialization.data(withJSONObject: o, options: [.sortedKeys])) ?? Data())
    }

    public var target: String { "\(settings.host):\(settings.port)" }

    /// Takes triggers for `stations` from `<topic>/trigger/<station>` (call before `start`):
    /// `fire(station, serial)` for each message; the payload is empty, the serial as text, or
    /// `{"serial": "..."}`. A payload that is no usable serial still fires (the part is there
    /// and must be judged), without a serial, and is logged.
    public func takeTriggers(for stations: [String], fire: @escaping @Sendable (_ station: String, _ serial: String?) -> Void) {
        let logger = logger
        for station in stations {
            handle(settings.triggerTopic(station: station)) { payload in
                let (serial, problem) = Self.serial(payload)
                if let problem { logger.warning("trigger payload without a usable serial", metadata: ["station": "\(station)", "problem": "\(problem)"]) }
                fire(station, serial)
            }
        }
    }

    /// Takes product changeovers from `<topic>/product/set` (call before `start`): `change(id)`
    /// for each message whose payload is a product id or `{"product": "ID"}`; any other
    /// payload is logged and ignored. Retained requests are ignored too (a changeover is an
    /// act, not a state: an old request must not switch the line when the daemon restarts).
    public func takeProductChanges(_ change: @escaping @Sendable (_ product: String) -> Void) {
        let logger = logger
        handle(settings.productSetTopic, ignoringRetained: true) { payload in
            switch Self.product(payload) {
            case .success(let id): change(id)
            case .failure(let why): logger.warning("product changeover message refused", metadata: ["problem": "\(why.message)"])
            }
        }
    }

    /// Publishes the product the line makes on `<topic>/product`, retained (again at every
    /// connection).
    public func announce(product: String) {
        lock.withLock {
            self.product = product
            if client.isConnected { _ = client.publish(settings.productTopic, Array(product.utf8), qos: 1, retain: true) }
        }
    }

    struct PayloadProblem: Error { var message: String }

    /// The product id a changeover message carries.
    static func product(_ payload: [UInt8]) -> Result<String, PayloadProblem> {
        guard let text = String(validating: payload, as: UTF8.self) else { return .failure(.init(message: "not UTF-8")) }
        var id = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if id.hasPrefix("{") {
            guard let o = try? JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any], let p = o["product"] as? String else {
                return .failure(.init(message: "a JSON payload must be an object with a string \"product\""))
            }
            id = p
        }
        guard LineID.isValid(id) else { return .failure(.init(message: "a product id is \(LineID.rule)")) }
        return .success(id)
    }

    /// Routes messages on `topic` to `body` (subscribed at every connect).
    private func handle(_ topic: String, ignoringRetained: Bool = false, _ body: @escaping @Sendable ([UInt8]) -> Void) {
        lock.withLock {
            handlers[topic] = (ignoringRetained, body)
            let table = handlers
            client.subscriptions = Array(table.keys).sorted()
            client.onMessage = { topic, payload, retained in
                guard let h = table[topic], !(h.ignoringRetained && retained) else { return }
                h.body(payload)
            }
        }
    }

    /// The serial a trigger message carries, or why it carries none usable.
    static func serial(_ payload: [UInt8]) -> (String?, String?) {
        guard !payload.isEmpty else { return (nil, nil) }
        guard let text = String(validating: payload, as: UTF8.self) else { return (nil, "not UTF-8") }
        var serial = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if serial.hasPrefix("{") {
            guard let o = try? JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any] else { return (nil, "not a JSON object") }
            guard let s = o["serial"] as? String else { return (nil, o["serial"] == nil ? nil : "serial is not a string") }
            serial = s
        }
        guard (1...128).contains(serial.unicodeScalars.count), !serial.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            return (nil, "a serial must be 1-128 characters without control characters")
        }
        return (serial, nil)
    }

    /// Connects in the background (a broker that is down now is reached when it comes up).
    public func start() {
        started = monotonicSeconds()
        client.start()
        logger.info("mqtt output starting", metadata: ["broker": "\(target)", "topic": "\(settings.topic)"])
    }

    /// Keeps the connection (and so the status "online") for `seconds` more; call it while the
    /// inspection is healthy. Without it the broker's keep-alive lapses and the will says offline.
    public func renew(for seconds: Double) { client.renew(for: seconds) }

    /// Publishes one verdict; cheap, never blocks (called on a pipeline's thread).
    public func send(_ v: LineVerdict) {
        guard client.pending < UInt64(settings.maxPending) else {
            lock.withLock { dropped += 1 }
            return
        }
        let topic = v.part == nil ? settings.verdictTopic(camera: v.camera) : settings.partTopic(station: v.camera)
        client.publish(topic, v.json(), qos: 1, retain: false)
    }

    public var health: OutputHealth {
        let s = client.stats, connected = client.isConnected
        let dropped = lock.withLock { self.dropped }
        var alarm: String?
        if !connected && monotonicSeconds() - started > 2 {
            alarm = "not connected to the broker at \(target)" + (client.error.map { ": \($0)" } ?? "")
        } else if client.pending >= UInt64(settings.maxPending) {
            alarm = "\(client.pending) verdicts wait for the broker's acknowledgement: new ones are dropped"
        }
        return OutputHealth(name: "mqtt", target: target, connected: connected, delivered: s.acknowledged,
                            pending: client.pending, dropped: dropped, reconnects: s.connects > 0 ? s.connects - 1 : 0,
                            latency: client.acknowledgementLatency, alarm: alarm)
    }

    /// Logs an alarm when it starts and when it clears (call it periodically).
    public func checkAlarm() {
        let h = health
        let previous = lock.withLock { () -> String? in defer { alarmLogged = h.alarm }; return alarmLogged }
        if let alarm = h.alarm, previous == nil {
            logger.error("output failing", metadata: ["output": "mqtt", "alarm": "\(alarm)"])
        } else if h.alarm == nil, previous != nil {
            logger.notice("output working again", metadata: ["output": "mqtt", "broker": "\(target)"])
        }
    }

    /// A clean goodbye: waits up to `flush_seconds` for queued verdicts, says "offline"
    /// (stopped) on the status topic, disconnects (so no last will), ends the thread.
    public func stop() {
        client.renew(for: settings.flushSeconds + 3)  // the goodbye must go out even from an unhealthy daemon
        if client.isConnected {
            client.publish(settings.statusTopic, Self.status("offline", reason: "stopped", about), qos: 1, retain: true)
            client.disconnect(flush: settings.flushSeconds)
        }
        client.stop(wait: 2)
        let h = health
        logger.info("mqtt output stopped", metadata: ["delivered": "\(h.delivered)", "pending": "\(h.pending)", "dropped": "\(h.dropped)"])
    }
}
