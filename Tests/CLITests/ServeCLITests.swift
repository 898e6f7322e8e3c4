import Foundation
import GRDB
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Imaging
import Store
import TestSupport
import Testing

/// A `linesight serve` process with its own config, models and notify socket.
final class ServeHarness {
    let dir: String
    let port: Int
    let notifyPath: String
    private var notifyFD: Int32 = -1
    private var drained: [String] = []
    private var child: Child?
    var pid: pid_t { child?.pid ?? 0 }
    var isRunning: Bool { child?.isRunning ?? false }

    /// `camera` replaces the default camera table (a synthetic camera at 40 fps, 96x64).
    init(name: String, stage1P: Double = 0.5, extraConfig: String = "", camera: String? = nil) throws {
        dir = try TemporaryDirectory.make("serve-\(name)")
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir + "/models", withIntermediateDirectories: true)
        try stage1(dir + "/models/stage1.safetensors", pDefect: stage1P)
        // scratch over its threshold but under stage2_confident: every part fails and is flagged for a person
        try stage2(dir + "/models/stage2.safetensors", [("scratch", 0.55), ("dent", 0.2)])
        port = Self.freePort()
        notifyPath = dir + "/notify.sock"
        let config = """
        [store]
        database = "data/inspection.sqlite"
        frames = "data/frames"
        commit_interval_ms = 50

        [models]
        stage1 = "models/stage1.safetensors"
        stage2 = "models/stage2.safetensors"

        [http]
        listen = "127.0.0.1:\(port)"

        \(camera ?? Self.syntheticCamera(fps: 40))
        \(extraConfig)
        """
        try config.write(toFile: dir + "/linesight.toml", atomically: true, encoding: .utf8)
    }

    /// A daemon on the shipped config (deploy/linesight.toml, what install.sh puts in /etc) as
    /// it is but for the port, with the test models where that config looks for them.
    static func shipped(name: String, stage1P: Double = 0.5) throws -> ServeHarness {
        let h = try ServeHarness(name: name, stage1P: stage1P)
        let deploy = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("deploy/linesight.toml").path
        let text = try String(contentsOfFile: deploy, encoding: .utf8)
        let listen = "listen = \"127.0.0.1:8080\""
        guard text.contains(listen) else { throw ChildError.spawn(deploy, ENOENT) }
        try text.replacingOccurrences(of: listen, with: "listen = \"127.0.0.1:\(h.port)\"")
            .write(toFile: h.dir + "/linesight.toml", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: h.dir + "/linesight-data", withIntermediateDirectories: true)
        try FileManager.default.moveItem(atPath: h.dir + "/models", toPath: h.dir + "/linesight-data/models")
        return h
    }

    /// The camera table of a synthetic camera named line1 (96x64).
    static func syntheticCamera(fps: Int) -> String {
        """
        [[cameras]]
        id = "line1"
        source = "synthetic"
        fps = \(fps)
        width = 96
        height = 64
        """
    }

    deinit {
        if notifyFD >= 0 { close(notifyFD) }
        // a test that failed before finish() must not leave a daemon behind
        if let child, child.isRunning { kill(child.pid, SIGKILL); _ = child.finish(within: 10) }
    }

    /// Starts the daemon (again, after it ended: a new notify socket); `environment` is added to the test's.
    func start(duration: Double? = nil, environment: [String: String] = [:]) throws {
        if notifyFD >= 0 { close(notifyFD) }
        unlink(notifyPath)
        drained = []
        notifyFD = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: Array(notifyPath.utf8)) }
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(notifyFD, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        var tv = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(notifyFD, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var env = ProcessInfo.processInfo.environment
        env["NOTIFY_SOCKET"] = notifyPath
        env["WATCHDOG_USEC"] = "1000000"
        env.removeValue(forKey: "WATCHDOG_PID")
        for (k, v) in environment { env[k] = v }
        let c = Child(CLI.binary, ["serve", "--config", dir + "/linesight.toml", "--threads", "1"] + (duration.map { ["--duration", "\($0)"] } ?? []),
                      environment: env)
        try c.start()
        child = c
    }

    /// sd_notify datagrams received so far (since the last call).
    func notifications() -> [String] {
        drainNotifications()
        var got = drained
        drained = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(notifyFD, &buf, buf.count, 0)
            guard n > 0 else { return got }
            got.append(String(decoding: buf[0..<n], as: UTF8.self))
        }
    }

    /// Keeps what arrived on the notify socket for `notifications()`. The socket queues only
    /// net.unix.max_dgram_qlen (10) datagrams and the daemon's sendto blocks beyond, so a
    /// daemon that runs for long must be read while it runs (`wait` does).
    private func drainNotifications() {
        guard notifyFD >= 0 else { return }
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(notifyFD, &buf, buf.count, Int32(MSG_DONTWAIT))
            guard n > 0 else { return }
            drained.append(String(decoding: buf[0..<n], as: UTF8.self))
        }
    }

    /// The daemon's exit: status and output (killed, with status -9, if it is not gone within 120 s).
    func finish() -> (status: Int32, out: String, err: String) {
        let r = child!.finish(within: 120)
        return (r.status, r.out, r.err)
    }

    func http(_ path: String, method: String = "GET", body: Data? = nil, token: String? = nil,
              headers: [String: String] = [:]) -> (status: Int, body: Data) {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        request.httpMethod = method
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        for (k, v) in headers { request.setValue(v, forHTTPHeaderField: k) }
        request.httpBody = body
        request.timeoutInterval = 5
        nonisolated(unsafe) var result: (Int, Data) = (0, Data())
        let done = DispatchSemaphore(value: 0)
        URLSession.shared.dataTask(with: request) { data, response, _ in
            result = ((response as? HTTPURLResponse)?.statusCode ?? 0, data ?? Data())
            done.signal()
        }.resume()
        done.wait()
        return result
    }

    /// Sends `n` identical requests at once (each on its own connection); their statuses.
    func concurrent(_ n: Int, _ path: String, method: String = "GET", body: Data? = nil, headers: [String: String] = [:]) -> [Int] {
        let config = URLSessionConfiguration.ephemeral
        config.httpMaximumConnectionsPerHost = n
        let session = URLSession(configuration: config)
        let lock = NSLock()
        nonisolated(unsafe) var statuses: [Int] = []
        let group = DispatchGroup()
        for _ in 0..<n {
            var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
            request.httpMethod = method
            request.httpBody = body
            request.timeoutInterval = 30
            for (k, v) in headers { request.setValue(v, forHTTPHeaderField: k) }
            group.enter()
            session.dataTask(with: request) { _, response, _ in
                lock.withLock { statuses.append((response as? HTTPURLResponse)?.statusCode ?? 0) }
                group.leave()
            }.resume()
        }
        _ = group.wait(timeout: .now() + 60)
        return lock.withLock { statuses }
    }

    /// Opens /api/v1/events on a plain socket and leaves it open (the caller closes it).
    func openEvents() -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = UInt16(port).bigEndian
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        let request = Array("GET /api/v1/events HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n".utf8)
        _ = send(fd, request, request.count, 0)
        return fd
    }

    /// Opens /api/v1/events on a plain socket and returns what arrived within `seconds`.
    func events(seconds: Double) -> String {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = UInt16(port).bigEndian
        let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard ok == 0 else { return "" }
        let request = Array("GET /api/v1/events HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n".utf8)
        _ = send(fd, request, request.count, 0)
        var tv = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var got: [UInt8] = [], buf = [UInt8](repeating: 0, count: 4096)
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            let n = recv(fd, &buf, buf.count, 0)
            if n > 0 { got += buf[0..<n] }
        }
        return String(decoding: got, as: UTF8.self)
    }

    func json(_ path: String) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: http(path).body)) as? [String: Any]
    }

    /// Polls until `condition` holds or `seconds` pass.
    func wait(_ seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            drainNotifications()
            if condition() { return true }
            Thread.sleep(forTimeInterval: 0.1)
        }
        return false
    }

    func metric(_ name: String) -> Double? {
        metrics()[name]
    }

    /// Every sample of one /metrics scrape by series name (with labels); empty if none came.
    func metrics() -> [String: Double] {
        let text = String(decoding: http("/metrics").body, as: UTF8.self)
        var samples: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: " ")
            if parts.count == 2, let value = Double(parts[1]) { samples[String(parts[0])] = value }
        }
        return samples
    }

    static func freePort() -> Int { freeLoopbackPort() }
}

@Suite("linesight serve", .serialized)
struct ServeCLITests {
    @Test("keep_maps: a failed frame keeps stage 1's map as judged, drawn by heatmap.png?map=kept; without it, map=kept is a 404")
    func keptMaps() throws {
        for keep in [true, false] {
            let h = try ServeHarness(name: "keep-maps", extraConfig: "[flagging]\nkeep_maps = \(keep)\n")
            defer { try? FileManager.default.removeItem(atPath: h.dir) }
            try h.start()
            #expect(h.wait(60) { h.http("/api/v1/frames/1.jpg").status == 200 }, "a kept frame")
            let kept = h.http("/api/v1/frames/1/heatmap.png?map=kept")
            #expect(kept.status == (keep ? 200 : 404), "\(String(decoding: kept.body.prefix(300), as: UTF8.self))")
            if keep {
                #expect(kept.body.prefix(4) == Data([0x89, 0x50, 0x4E, 0x47]))
                let store = try Store(path: h.dir + "/data/inspection.sqlite")
                let maps = try store.pool.read { db in try String.fetchAll(db, sql: "SELECT defect_map FROM frames WHERE defect_map IS NOT NULL") }
                #expect(!maps.isEmpty && maps.allSatisfy { $0.hasPrefix("{\"width\":") }, "\(maps.first ?? "none")")
            } else {
                #expect(String(decoding: kept.body, as: UTF8.self).contains("keep_maps"), "the 404 says how to get one")
            }
            #expect(h.http("/api/v1/frames/1/heatmap.png?map=kept&kind=scratch").status == 404, "a kept map is stage 1's: there is none of a kind")
            #expect(h.http("/api/v1/frames/1/heatmap.png?map=old").status == 400)
            #expect(h.http("/api/v1/frames/1/heatmap.png?map=live").status == 200)
            kill(h.pid, SIGTERM)
            #expect(h.finish().status == 0)
        }
    }

    @Test("serve: verdicts in SQLite, HTTP on loopback, sd_notify, SIGHUP with a broken model, SIGTERM drains")
    func serveEndToEnd() throws {
        let h = try ServeHarness(name: "e2e")
        defer { try? FileManager.default.removeItem(atPath: h.dir) }
        try h.start()
        #expect(h.wait(60) { h.http("/healthz").status == 200 }, "the HTTP API comes up")
        #expect(h.wait(30) { (h.metric("linesight_store_committed_total") ?? 0) >= 20 }, "verdicts are committed")
        #expect(h.http("/readyz").status == 200)
        let metrics = String(decoding: h.http("/metrics").body, as: UTF8.self)
        for name in ["linesight_verdicts_total{camera=\"line1\",decision=\"fail\"}", "linesight_defects_total{camera=\"line1\",kind=\"scratch\"}",
                     "linesight_stage_latency_ms_bucket{camera=\"line1\",stage=\"2\",le=\"+Inf\"}", "linesight_model_info{camera=\"line1\",stage=\"1\",version=",
                     "linesight_queue_depth{camera=\"line1\"}", "linesight_camera_up{camera=\"line1\"} 1"] {
            #expect(metrics.contains(name), "\(name)")
        }
        let page = try #require(h.json("/api/v1/verdicts?limit=5&decision=fail"))
        let items = try #require(page["items"] as? [[String: Any]])
        #expect(items.count == 5 && items.allSatisfy { $0["decision"] as? String == "fail" && $0["defects"] as? String == "scratch" })
        #expect(page["next_before"] is Int)
        #expect(h.http("/api/v1/verdicts?decision=maybe").status == 400)
        let stats = try #require(h.json("/api/v1/stats")?["range"] as? [String: Any])
        #expect((stats["frames"] as? Int ?? 0) >= 20 && (stats["defects"] as? [String: Int])?["scratch"] != nil)
        #expect(h.http("/api/v1/frames/1.jpg").body.prefix(2) == Data([0xFF, 0xD8]), "a kept frame, as JPEG")
        #expect(h.http("/api/v1/frames/999999.jpg").status == 404)
        // where the models look, over the kept frame: a PNG of the frame's size (no ROI here)
        let heat = h.http("/api/v1/frames/1/heatmap.png")
        #expect(heat.status == 200 && heat.body.prefix(8) == Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]), "\(heat.status)")
        let jpegSize = try h.http("/api/v1/frames/1.jpg").body.withUnsafeBytes { try JPEGDecoder().header($0) }
        let ihdr = [UInt8](heat.body.dropFirst(16).prefix(8))
        func be32(_ b: ArraySlice<UInt8>) -> Int { b.reduce(0) { $0 << 8 | Int($1) } }
        let pngWidth = ihdr.count == 8 ? be32(ihdr[0..<4]) : -1, pngHeight = ihdr.count == 8 ? be32(ihdr[4..<8]) : -1
        #expect(pngWidth == jpegSize.width && pngHeight == jpegSize.height, "PNG \(pngWidth)x\(pngHeight) vs JPEG \(jpegSize)")
        #expect(h.http("/api/v1/frames/1/heatmap.png?kind=scratch").status == 200, "stage 2's map of a kind it knows")
        let rust = h.http("/api/v1/frames/1/heatmap.png?kind=rust")
        #expect(rust.status == 404 && String(decoding: rust.body, as: UTF8.self).contains("scratch, dent"), "a kind stage 2 does not know has no map; the known ones are named")
        #expect(h.http("/api/v1/frames/999999/heatmap.png").status == 404)
        #expect(h.http("/api/v1/frames/abc/heatmap.png").status == 400)
        #expect(h.http("/api/v1/frames/1/heatmap.png?colour=red").status == 400, "an unknown parameter")
        let frame = h.http("/api/v1/frames/1.jpg").body
        let jpeg = ["Content-Type": "image/jpeg"]
        let classified = try #require(try JSONSerialization.jsonObject(with: h.http("/api/v1/classify", method: "POST", body: frame, headers: jpeg).body) as? [String: Any])
        #expect(classified["decision"] as? String == "fail" && classified["defects"] as? [String] == ["scratch"])
        #expect(h.http("/api/v1/classify", method: "POST", body: Data("not a jpeg".utf8), headers: jpeg).status == 415)
        #expect(h.http("/api/v1/classify", method: "POST", body: frame.prefix(frame.count / 2), headers: jpeg).status == 422, "a truncated JPEG")
        #expect(h.http("/api/v1/models/reload", method: "POST").status == 403, "state changes need a token")
        let stream = h.events(seconds: 1.5)
        #expect(stream.contains("text/event-stream") && stream.contains("event: verdict\ndata: {") && stream.contains("\"camera\":\"line1\""),
                "\(stream.prefix(300))")

        // A broken model file on SIGHUP is refused; the line keeps going on the old one.
        try Data("garbage".utf8).write(to: URL(fileURLWithPath: h.dir + "/models/stage2.safetensors"))
        kill(h.pid, SIGHUP)
        #expect(h.wait(10) { h.metric("linesight_model_reloads_total{result=\"refused\"}") ?? 0 >= 1 })
        let before = h.metric("linesight_store_committed_total") ?? 0
        #expect(h.wait(10) { (h.metric("linesight_store_committed_total") ?? 0) > before + 10 }, "verdicts keep flowing")

        kill(h.pid, SIGTERM)
        let r = h.finish()
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("line1:") && r.out.contains("verdicts committed"))
        let notes = h.notifications()
        #expect(notes.contains { $0.hasPrefix("READY=1") } && notes.contains("WATCHDOG=1") && notes.contains { $0.contains("STATUS=") }
                && notes.contains { $0.hasPrefix("STOPPING=1") }, "\(notes.prefix(5))")
        #expect(notes.contains { $0.hasPrefix("RELOADING=1") })
        let store = try Store(path: h.dir + "/data/inspection.sqlite")
        let rows = try store.verdicts(VerdictQuery()).items
        let total = try store.rangeStats().frames
        let received = r.out.split(separator: "\n").first { $0.hasPrefix("line1:") }.flatMap { Int($0.split(separator: " ")[1]) }
        #expect(received == total, "every frame received has its committed verdict after a SIGTERM drain")
        #expect(!rows.isEmpty)
    }

    @Test("flagged frames are labeled from the CLI and exported as an ImageFolder tree")
    func labelAndExport() throws {
        let h = try ServeHarness(name: "label", extraConfig: "")
        defer { try? FileManager.default.removeItem(atPath: h.dir) }
        let cfgText = try String(contentsOfFile: h.dir + "/linesight.toml", encoding: .utf8).replacingOccurrences(of: "[http]\n", with: "[http]\nenabled = false\n")
        try cfgText.write(toFile: h.dir + "/linesight.toml", atomically: true, encoding: .utf8)
        let cfg = ["--config", h.dir + "/linesight.toml"]
        #expect(try CLI.run(["serve", "--duration", "2", "--threads", "1"] + cfg).status == 0)
        let listed = try CLI.run(["flagged", "list", "--json", "--limit", "5"] + cfg)
        let flags = try #require(try JSONSerialization.jsonObject(with: Data(listed.out.utf8)) as? [[String: Any]])
        #expect(flags.count == 5 && flags.allSatisfy { $0["reason"] as? String == "uncertain" }, "\(listed.out.prefix(300))")
        let ids = flags.compactMap { $0["frameId"] as? Int }
        #expect(try CLI.run(["label", "\(ids[0])", "\(ids[1])", "--as", "scratch,dent"] + cfg).status == 0)
        #expect(try CLI.run(["label", "\(ids[2])", "--pass"] + cfg).status == 0)
        let bogus = try CLI.run(["label", "\(ids[3])", "--as", "wobble"] + cfg)
        #expect(bogus.status != 0 && bogus.err.contains("unknown defect kinds wobble"))
        let missing = try CLI.run(["label", "\(ids[3])", "999999", "--pass"] + cfg)
        #expect(missing.status != 0 && missing.err.contains("frame 999999 does not exist; nothing was labeled"))
        let after = try CLI.run(["flagged", "list", "--json", "--limit", "1000"] + cfg)
        let remaining = (try JSONSerialization.jsonObject(with: Data(after.out.utf8)) as? [[String: Any]] ?? []).compactMap { $0["frameId"] as? Int }
        #expect(!remaining.contains(ids[0]) && !remaining.contains(ids[2]) && remaining.contains(ids[3]), "labeled frames leave the queue, nothing else")
        #expect(try CLI.run(["labels", "export", "--format", "imagefolder", "--out", h.dir + "/export"] + cfg).status == 0)
        let csv = try String(contentsOfFile: h.dir + "/export/labels.csv", encoding: .utf8)
        #expect(csv.contains("scratch/\(ids[0]).jpg,scratch,scratch+dent") && csv.contains("good/\(ids[2]).jpg,good,"))
        #expect(FileManager.default.fileExists(atPath: h.dir + "/export/scratch/\(ids[1]).jpg"))
        #expect(try CLI.run(["label", "\(ids[0])", "--pass"] + cfg).status == 0, "a relabel supersedes")
        #expect(try CLI.run(["labels", "export", "--format", "csv", "--out", h.dir + "/labels.csv"] + cfg).status == 0)
        let rows = try String(contentsOfFile: h.dir + "/labels.csv", encoding: .utf8).split(separator: "\n")
        #expect(rows.count == 4 && rows.contains { $0.hasPrefix("\(ids[0]),") && $0.contains(",good,,") })

        // Import: every bad row is reported and nothing lands; a clean file lands whole.
        try "frame_id,defects\n\(ids[3]),dent\n999999,dent\n\(ids[4]),wobble\nabc,dent\n\(ids[3]),dent\n"
            .write(toFile: h.dir + "/bad.csv", atomically: true, encoding: .utf8)
        let bad = try CLI.run(["labels", "import", h.dir + "/bad.csv"] + cfg)
        #expect(bad.status != 0 && bad.err.contains("line 3: frame 999999 does not exist") && bad.err.contains("line 4: unknown defect kind 'wobble'")
                && bad.err.contains("line 5: frame_id 'abc' is not a number") && bad.err.contains("line 6: frame \(ids[3]) appears twice")
                && bad.err.contains("4 rejected rows; nothing was imported") && !bad.err.contains("Usage:"), "\(bad.err)")
        try "frame_id,defects\n\(ids[3]),scratch\n\(ids[4]),\n".write(toFile: h.dir + "/good.csv", atomically: true, encoding: .utf8)
        let good = try CLI.run(["labels", "import", h.dir + "/good.csv", "--who", "cvat:ana"] + cfg)
        #expect(good.status == 0 && good.out.contains("imported 2 labels"), "\(good.err)")
        #expect(try CLI.run(["labels", "export", "--format", "csv", "--out", h.dir + "/labels2.csv"] + cfg).status == 0)
        let all = try String(contentsOfFile: h.dir + "/labels2.csv", encoding: .utf8)
        #expect(all.split(separator: "\n").count == 6 && all.contains("\(ids[3]),") && all.contains("cvat:ana"))
    }

    @Test("a bearer token from http.token_file guards state changes")
    func token() throws {
        let secret = "s3cret-token-for-tests-0123456789"
        let h = try ServeHarness(name: "token", extraConfig: "")
        defer { try? FileManager.default.removeItem(atPath: h.dir) }
        try secret.write(toFile: h.dir + "/token", atomically: true, encoding: .utf8)
        let cfg = try String(contentsOfFile: h.dir + "/linesight.toml", encoding: .utf8)
            .replacingOccurrences(of: "[http]\n", with: "[http]\ntoken_file = \"token\"\n")
        try cfg.write(toFile: h.dir + "/linesight.toml", atomically: true, encoding: .utf8)
        chmod(h.dir + "/token", 0o644)
        let open = try CLI.run(["serve", "--config", h.dir + "/linesight.toml", "--duration", "1"])
        #expect(open.status != 0 && open.err.contains("others may read or change the bearer token (mode 644)"), "\(open.err)")
        chmod(h.dir + "/token", 0o600)
        try h.start()
        #expect(h.wait(60) { h.http("/healthz").status == 200 }, "reads stay open on loopback")
        let denied = h.http("/api/v1/models/reload", method: "POST", token: "wrong-token-wrong-token")
        #expect(denied.status == 401 && String(decoding: denied.body, as: UTF8.self).contains("\"error\""))
        #expect(h.http("/api/v1/models/reload", method: "POST", token: String(secret.dropLast())).status == 401, "a prefix is not the token")
        #expect(h.http("/api/v1/models/reload", method: "POST", token: secret).status == 200)
        #expect(h.wait(5) { h.metric("linesight_model_reloads_total{result=\"ok\"}") == 1 })
        let lower = h.http("/api/v1/models/reload", method: "POST", headers: ["Authorization": "bearer " + secret])
        #expect(lower.status == 200, "the scheme is case-insensitive (RFC 7235)")
        try Data("not a model".utf8).write(to: URL(fileURLWithPath: h.dir + "/models/stage2.safetensors"))
        let refused = h.http("/api/v1/models/reload", method: "POST", token: secret)
        #expect(refused.status == 422 && String(decoding: refused.body, as: UTF8.self).contains("stage2.safetensors"),
                "a refused reload says why: \(String(decoding: refused.body, as: UTF8.self))")
        #expect(h.http("/healthz", method: "POST").status == 405, "a wrong method is a 405, before any token check")
        kill(h.pid, SIGTERM)
        #expect(h.finish().status == 0)
    }

    @Test("kill -9 under load loses at most the last group-commit window; the database stays sound")
    func killNine() throws {
        let h = try ServeHarness(name: "kill9", stage1P: 0.1)
        defer { try? FileManager.default.removeItem(atPath: h.dir) }
        try h.start()
        #expect(h.wait(60) { (h.metric("linesight_store_committed_total") ?? 0) >= 50 })
        let committed = h.metric("linesight_store_committed_total") ?? 0
        let received = h.metric("linesight_frames_received_total{camera=\"line1\"}") ?? 0
        kill(h.pid, SIGKILL)
        _ = h.finish()
        let store = try Store(path: h.dir + "/data/inspection.sqlite")  // runs quick_check
        let ok = try store.pool.read { db in try String.fetchOne(db, sql: "PRAGMA integrity_check") }
        #expect(ok == "ok")
        let kept = try store.rangeStats().frames
        #expect(Double(kept) >= committed, "\(kept) verdicts on disk, \(Int(committed)) reported committed before the kill")
        // What the kill cost: frames received but not yet committed (the last group-commit window).
        let lost = max(0, Int(received) - kept)
        #expect(lost <= Int(received - committed) + 40, "lost \(lost) verdicts of \(Int(received)) received (at most one 50 ms window at 40 fps, plus frames in flight)")
        print("kill -9: \(kept) verdicts on disk, \(Int(committed)) committed before the kill, \(lost) of \(Int(received)) received lost")
    }

    @Test("bad configs are refused at start with file, line and key")
    func badConfig() throws {
        let h = try ServeHarness(name: "badcfg", extraConfig: "fsp = 10")
        defer { try? FileManager.default.removeItem(atPath: h.dir) }
        let r = try CLI.run(["serve", "--config", h.dir + "/linesight.toml"])
        #expect(r.status != 0)
        #expect(r.err.contains("linesight.toml:") && r.err.contains("unknown key 'cameras[0].fsp'") && r.err.contains("did you mean 'fps'?"), "\(r.err)")
        try stage1(h.dir + "/models/stage1.safetensors", pDefect: 0.5)
        try Data("broken".utf8).write(to: URL(fileURLWithPath: h.dir + "/models/stage1.safetensors"))
        try (try String(contentsOfFile: h.dir + "/linesight.toml", encoding: .utf8)).replacingOccurrences(of: "fsp = 10", with: "")
            .write(toFile: h.dir + "/linesight.toml", atomically: true, encoding: .utf8)
        let m = try CLI.run(["serve", "--config", h.dir + "/linesight.toml"])
        #expect(m.status != 0 && m.err.contains("stage1.safetensors"), "\(m.err)")
    }
}

@Suite("one ROI path", .serialized)
struct ROIPathTests {
    /// The crop the daemon judges is the crop that is kept (with its ROI), exported, and so
    /// retrained on: once, kept frames and exports were whole frames while the daemon judged the ROI.
    @Test func theRegionTheDaemonJudgedIsTheRegionExported() throws {
        let h = try ServeHarness(name: "roi", extraConfig: "roi = [16, 8, 48, 40]")
        defer { try? FileManager.default.removeItem(atPath: h.dir) }
        let text = try String(contentsOfFile: h.dir + "/linesight.toml", encoding: .utf8).replacingOccurrences(of: "[http]\n", with: "[http]\nenabled = false\n")
        try text.write(toFile: h.dir + "/linesight.toml", atomically: true, encoding: .utf8)
        let cfg = ["--config", h.dir + "/linesight.toml"]
        #expect(try CLI.run(["serve", "--duration", "2", "--threads", "1"] + cfg).status == 0)
        let store = try Store(path: h.dir + "/data/inspection.sqlite")
        let kept = try store.pool.read { db in try FrameRecord.fetchAll(db) }
        #expect(!kept.isEmpty && kept.allSatisfy { $0.roi == FrameRegion(x: 16, y: 8, width: 48, height: 40) && $0.width == 96 && $0.height == 64 },
                "each kept frame records the region judged")
        let listed = try CLI.run(["flagged", "list", "--json", "--limit", "1"] + cfg)
        #expect(listed.out.contains("\"roi\"") && listed.out.contains("\"width\" : 48"), "review shows the region judged: \(listed.out.prefix(400))")
        let ids = kept.prefix(3).compactMap(\.id)
        #expect(try CLI.run(["label"] + ids.map(String.init) + ["--as", "scratch"] + cfg).status == 0)
        #expect(try CLI.run(["labels", "export", "--format", "imagefolder", "--out", h.dir + "/export"] + cfg).status == 0)
        let decoder = try JPEGDecoder()
        for f in kept.prefix(3) {
            let whole = try decoder.decode([UInt8](try Data(contentsOf: URL(fileURLWithPath: h.dir + "/data/frames/" + f.path))), layout: .rgb)
            let cut = try decoder.decode([UInt8](try Data(contentsOf: URL(fileURLWithPath: h.dir + "/export/scratch/\(f.id!).jpg"))), layout: .rgb)
            #expect(cut.width == 48 && cut.height == 40, "the export is the region, not the whole \(whole.width)x\(whole.height) frame")
            var diff = 0.0
            for y in 0..<40 {
                for x in 0..<48 {
                    for c in 0..<3 {
                        diff += abs(Double(cut.pixels[(y * 48 + x) * 3 + c]) - Double(whole.pixels[((y + 8) * 96 + x + 16) * 3 + c]))
                    }
                }
            }
            #expect(diff / Double(48 * 40 * 3) < 3, "the same pixels as the daemon's region (JPEG q95 re-encoding aside): mean |diff| \(diff / Double(48 * 40 * 3))")
        }
        #expect(try CLI.run(["labels", "export", "--format", "csv", "--out", h.dir + "/labels.csv"] + cfg).status == 0)
        let csv = try String(contentsOfFile: h.dir + "/labels.csv", encoding: .utf8)
        #expect(csv.hasPrefix("frame_id,file,label,defects,who,labeled_at,camera,roi\n") && csv.contains(",line1,16 8 48 40\n"), "\(csv.prefix(300))")
    }
}
