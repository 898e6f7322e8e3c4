import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A real `mosquitto` broker on a loopback port of its own, started and stopped by the test.
public final class MosquittoBroker {
    public let port: Int
    let dir: String
    private var child: Child?

    public init(port: Int = freeLoopbackPort()) throws {
        self.port = port
        dir = try TemporaryDirectory.make("mosquitto")
        try "listener \(port) 127.0.0.1\nallow_anonymous true\npersistence false\n"
            .write(toFile: dir + "/mosquitto.conf", atomically: true, encoding: .utf8)
    }

    deinit {
        stop()
        TemporaryDirectory.remove(dir)
    }

    /// Starts the broker and waits until it accepts connections.
    public func start() throws {
        let binary = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let binary else { throw ChildError.spawn("mosquitto (Debian package mosquitto; make test installs it)", ENOENT) }
        let c = Child(URL(fileURLWithPath: binary), ["-c", dir + "/mosquitto.conf"])
        try c.start()
        child = c
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if acceptsConnections(port: port) { return }
            usleep(50_000)
        }
        throw ChildError.spawn("mosquitto on port \(port) (not listening after 10 s)", ETIMEDOUT)
    }

    public func stop() {
        guard let c = child else { return }
        kill(c.pid, SIGTERM)
        _ = c.finish(within: 10)
        child = nil
    }


    /// A `mosquitto_sub` following `topic` (QoS 1) until `stop()`: its lines are "topic payload".
    public func subscribe(_ topic: String) throws -> Subscription {
        let c = Child(URL(fileURLWithPath: "/usr/bin/mosquitto_sub"), ["-h", "127.0.0.1", "-p", "\(port)", "-t", topic, "-q", "1", "-v"])
        try c.start()
        usleep(300_000)  // subscribed before the test goes on
        return Subscription(child: c)
    }

    /// Publishes one message (QoS 1) with `mosquitto_pub`; nil `message` sends an empty payload.
    public func publish(_ topic: String, _ message: String?) throws {
        let body = message.map { ["-m", $0] } ?? ["-n"]
        let r = try Child.run(URL(fileURLWithPath: "/usr/bin/mosquitto_pub"),
                              ["-h", "127.0.0.1", "-p", "\(port)", "-t", topic, "-q", "1"] + body, within: 10)
        guard r.status == 0 else { throw ChildError.spawn("mosquitto_pub: \(r.err)", EIO) }
    }

    /// The retained message on `topic` (nil when none arrives within 3 s).
    public func retained(_ topic: String) throws -> [String: Any]? {
        let r = try Child.run(URL(fileURLWithPath: "/usr/bin/mosquitto_sub"),
                              ["-h", "127.0.0.1", "-p", "\(port)", "-t", topic, "-C", "1", "-W", "3", "--retained-only"], within: 10)
        return r.out.split(separator: "\n").first.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    public struct Subscription {
        let child: Child
        /// Ends the subscriber; the messages it got, as (topic, JSON object).
        public func stop() -> [(topic: String, json: [String: Any])] {
            kill(child.pid, SIGTERM)
            let out = child.finish(within: 10).out
            return out.split(separator: "\n").compactMap { line in
                guard let space = line.firstIndex(of: " ") else { return nil }
                let json = try? JSONSerialization.jsonObject(with: Data(line[line.index(after: space)...].utf8)) as? [String: Any]
                return json.map { (String(line[..<space]), $0) }
            }
        }
    }
}
