import Config
import Foundation

/// [outputs.mqtt] of the line config: where the broker is and how verdicts are published.
public struct MQTTSettings: Sendable, Equatable {
    public var enabled = false
    public var host = "127.0.0.1"
    public var port = 1883
    public var clientId = "linesight"
    /// Topics: `<topic>/status` (retained: online, or the last will's offline),
    /// `<topic>/verdicts/<camera>` (QoS 1, one JSON message per verdict of a free-running
    /// camera) and `<topic>/parts/<station>` (one per part of a triggered station).
    public var topic = "linesight"
    public var keepAlive = 5
    public var username: String?
    public var passwordFile: String?
    /// Verdicts waiting for the broker's acknowledgement beyond this are not published
    /// (counted as dropped, an alarm): an outage must not grow memory without bound.
    public var maxPending = 10_000
    /// At shutdown, how long queued verdicts may take to be acknowledged.
    public var flushSeconds = 2.0

    public init() {}

    public var statusTopic: String { topic + "/status" }
    public func verdictTopic(camera: String) -> String { topic + "/verdicts/" + camera }
    public func partTopic(station: String) -> String { topic + "/parts/" + station }
    /// Where a station's triggers arrive, when it takes them from MQTT.
    public func triggerTopic(station: String) -> String { topic + "/trigger/" + station }
    /// Where a product changeover is asked for (payload: the product id, or `{"product": ID}`),
    /// when the config names several products; `<topic>/product` (retained) says the product
    /// the line makes.
    public var productSetTopic: String { topic + "/product/set" }
    public var productTopic: String { topic + "/product" }

    /// Reads [outputs.mqtt]; `password_file` is taken relative to the config's folder.
    public static func read(_ s: ConfigSection, resolve: (String) -> String) throws -> MQTTSettings {
        var m = MQTTSettings()
        m.enabled = try s.bool("enabled", default: false)
        (m.host, m.port) = try s.hostAndPort("broker", default: "127.0.0.1:1883", example: "127.0.0.1:1883")
        m.clientId = try s.string("client_id", default: m.clientId)
        guard (1...128).contains(m.clientId.utf8.count) else { throw s.bad("client_id", "must be 1-128 bytes") }
        m.topic = try s.string("topic", default: m.topic)
        guard !m.topic.isEmpty, m.topic.utf8.count <= 512, !m.topic.contains(where: { "+#\0".contains($0) }), !m.topic.hasSuffix("/") else {
            throw s.bad("topic", "'\(m.topic)' must be a topic prefix without wildcards (+, #) or a trailing '/'")
        }
        m.keepAlive = try s.int("keepalive_seconds", default: m.keepAlive, in: 5...3600)
        m.username = try s.optionalString("username")
        m.passwordFile = try s.optionalString("password_file").map(resolve)
        if m.passwordFile != nil && m.username == nil { throw s.bad("password_file", "needs a username") }
        // below MQTT's 65,535 message ids: each waiting message holds one
        m.maxPending = try s.int("max_pending", default: m.maxPending, in: 1...60_000)
        m.flushSeconds = try s.double("flush_seconds", default: m.flushSeconds, in: 0...60)
        return m
    }

    /// The password from `password_file` (its first line), or nil without one.
    func password() throws(LineIOError) -> String? {
        guard let passwordFile else { return nil }
        guard let text = try? String(contentsOfFile: passwordFile, encoding: .utf8) else {
            throw .output("mqtt", "cannot read password_file \(passwordFile)")
        }
        let line = text.split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init) ?? ""
        guard !line.isEmpty else { throw .output("mqtt", "password_file \(passwordFile) is empty") }
        return line
    }
}
