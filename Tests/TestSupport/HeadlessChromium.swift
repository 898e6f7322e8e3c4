import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Debian's `chromium`, headless, driven over the DevTools protocol on a pipe
/// (`--remote-debugging-pipe`: JSON messages, each ended by a NUL byte, written to the
/// browser's fd 3 and read from its fd 4). Opens one page at a panel's size, evaluates
/// JavaScript in it, and takes screenshots: a page is tested as it runs, live updates included.
public final class HeadlessChromium: @unchecked Sendable {
    public enum Failure: Error, CustomStringConvertible {
        case notInstalled, spawn(Int32), protocolError(String), timeout(String)
        public var description: String {
            switch self {
            case .notInstalled: "chromium is not installed (scripts/install-deps.sh --test installs it)"
            case .spawn(let e): "cannot start chromium: \(String(cString: strerror(e)))"
            case .protocolError(let m): "DevTools: \(m)"
            case .timeout(let what): "chromium did not answer \(what) in time"
            }
        }
    }

    public private(set) var pid: pid_t = 0
    private let toBrowser: Int32
    private let fromBrowser: Int32
    private let profile: String
    private var nextId = 1
    private var session: String?
    private let lock = NSCondition()
    private var replies: [Int: [String: Any]] = [:]
    private var closed = false
    /// The browser's end of the event pipe closed (it exited).
    private var gone = false

    public init(width: Int = 1366, height: Int = 768) throws {
        let path = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let path else { throw Failure.notInstalled }
        profile = NSTemporaryDirectory() + "chromium-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        var commands: [Int32] = [0, 0], events: [Int32] = [0, 0]
        guard pipe(&commands) == 0, pipe(&events) == 0 else { throw Failure.spawn(errno) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, commands[0], 3)
        posix_spawn_file_actions_adddup2(&actions, events[1], 4)
        let args = [path, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--mute-audio", "--no-first-run",
                    "--disable-extensions", "--disable-background-networking", "--remote-debugging-pipe",
                    "--window-size=\(width),\(height)", "--user-data-dir=\(profile)", "about:blank"]
        let argv = args.map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var attr = posix_spawnattr_t()
        cleanSignals(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        let rc = posix_spawn(&pid, path, &actions, &attr, argv, environ)
        Glibc.close(commands[0])
        Glibc.close(events[1])
        guard rc == 0 else { Glibc.close(commands[1]); Glibc.close(events[0]); throw Failure.spawn(rc) }
        toBrowser = commands[1]
        fromBrowser = events[0]
        signal(SIGPIPE, SIG_IGN)
        Thread.detachNewThread { [self] in readLoop() }
        _ = try command("Browser.getVersion", timeout: 30)
        let target = try command("Target.createTarget", ["url": "about:blank"])
        guard let id = target["targetId"] as? String else { throw Failure.protocolError("no target id") }
        let attached = try command("Target.attachToTarget", ["targetId": id, "flatten": true])
        session = attached["sessionId"] as? String
        _ = try command("Emulation.setDeviceMetricsOverride", ["width": width, "height": height, "deviceScaleFactor": 1, "mobile": false])
        _ = try command("Page.enable")
    }

    deinit { close() }

    /// Navigates the page to `url`.
    public func open(_ url: String) throws {
        let r = try command("Page.navigate", ["url": url])
        if let error = r["errorText"] as? String { throw Failure.protocolError("navigate \(url): \(error)") }
    }

    /// The value of a JavaScript expression in the page (JSON-serializable values).
    public func evaluate(_ expression: String) throws -> Any? {
        let r = try command("Runtime.evaluate", ["expression": expression, "returnByValue": true])
        if let e = r["exceptionDetails"] as? [String: Any] { throw Failure.protocolError("\(expression): \(e["text"] ?? e)") }
        return (r["result"] as? [String: Any])?["value"]
    }

    /// Evaluates `expression` until it is true, up to `seconds`.
    public func waitFor(_ expression: String, seconds: Double) -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if (try? evaluate(expression)) as? Bool == true { return true }
            usleep(100_000)
        }
        return false
    }

    /// The page as the panel shows it, PNG; with `element` (a CSS selector), only that element's box.
    public func screenshot(element: String? = nil) throws -> Data {
        var params: [String: Any] = ["format": "png"]
        if let element {
            let box = try evaluate("(() => { const r = document.querySelector(\(Self.quoted(element))).getBoundingClientRect(); return [r.x, r.y, r.width, r.height]; })()")
            guard let b = box as? [Double], b.count == 4 else { throw Failure.protocolError("no element \(element)") }
            params["clip"] = ["x": b[0], "y": b[1], "width": b[2], "height": b[3], "scale": 1]
        }
        let r = try command("Page.captureScreenshot", params)
        guard let b64 = r["data"] as? String, let png = Data(base64Encoded: b64) else { throw Failure.protocolError("no screenshot") }
        return png
    }

    static func quoted(_ s: String) -> String {
        String(decoding: try! JSONSerialization.data(withJSONObject: [s]), as: UTF8.self).dropFirst().dropLast().description
    }

    public func close() {
        lock.lock()
        let was = closed
        closed = true
        lock.unlock()
        guard !was, pid > 0 else { return }
        Glibc.close(toBrowser)  // the browser exits when its command pipe closes
        var status: Int32 = 0
        for _ in 0..<50 {
            if waitpid(pid, &status, WNOHANG) == pid { break }
            usleep(100_000)
            if waitpid(pid, &status, WNOHANG) == pid { break }
        }
        kill(pid, SIGKILL)
        _ = waitpid(pid, &status, 0)
        try? FileManager.default.removeItem(atPath: profile)
    }

    // MARK: Protocol

    private func command(_ method: String, _ params: [String: Any] = [:], timeout: Double = 15) throws -> [String: Any] {
        lock.lock()
        let id = nextId
        nextId += 1
        lock.unlock()
        var message: [String: Any] = ["id": id, "method": method, "params": params]
        if let session, !method.hasPrefix("Target.") && !method.hasPrefix("Browser.") { message["sessionId"] = session }
        var bytes = [UInt8](try JSONSerialization.data(withJSONObject: message))
        bytes.append(0)
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { write(toBrowser, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw Failure.protocolError("\(method): the browser is gone") }
            off += n
        }
        lock.lock()
        defer { lock.unlock() }
        let end = Date().addingTimeInterval(timeout)
        while replies[id] == nil && !gone {
            guard lock.wait(until: end) else { throw Failure.timeout(method) }
        }
        guard let reply = replies.removeValue(forKey: id) else { throw Failure.protocolError("\(method): the browser is gone") }
        if let error = reply["error"] as? [String: Any] { throw Failure.protocolError("\(method): \(error["message"] ?? error)") }
        return reply["result"] as? [String: Any] ?? [:]
    }

    private func readLoop() {
        var buffer = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = read(fromBrowser, &chunk, chunk.count)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            buffer += chunk[0..<n]
            while let end = buffer.firstIndex(of: 0) {
                let message = Array(buffer[..<end])
                buffer.removeSubrange(...end)
                guard let object = try? JSONSerialization.jsonObject(with: Data(message)) as? [String: Any],
                      let id = object["id"] as? Int else { continue }  // events are not needed
                lock.lock()
                replies[id] = object
                lock.broadcast()
                lock.unlock()
            }
        }
        Glibc.close(fromBrowser)
        lock.lock()
        gone = true
        lock.broadcast()
        lock.unlock()
    }
}
