import Foundation
import Store
import TestSupport
import Testing

/// The daemon as a group of services: SIGHUP reloads, a service failing at start ends the
/// process, SIGINT drains like SIGTERM.
@Suite("serve lifecycle", .serialized)
struct DaemonLifecycleTests {
    @Test("SIGHUP reloads changed model files (file watching off): RELOADING=1, READY=1, the new version in use")
    func sighupReloads() throws {
        let h = try ServeHarness(name: "sighup")
        defer { try? FileManager.default.removeItem(atPath: h.dir) }
        let config = h.dir + "/linesight.toml"
        try (try String(contentsOfFile: config, encoding: .utf8))
            .replacingOccurrences(of: "stage2 = \"models/stage2.safetensors\"\n", with: "stage2 = \"models/stage2.safetensors\"\nwatch = false\n")
            .write(toFile: config, atomically: true, encoding: .utf8)
        try h.start()
        #expect(h.wait(60) { (h.metric("linesight_store_committed_total") ?? 0) >= 10 })
        let before = h.metrics().keys.first { $0.hasPrefix("linesight_model_info{camera=\"line1\",stage=\"1\"") }
        try stage1(h.dir + "/models/stage1.safetensors", pDefect: 0.2)
        Thread.sleep(forTimeInterval: 3)
        #expect(h.metric("linesight_model_reloads_total{result=\"ok\"}") == 0, "models.watch = false: nothing reloads on its own")
        _ = h.notifications()

        kill(h.pid, SIGHUP)
        #expect(h.wait(15) { h.metric("linesight_model_reloads_total{result=\"ok\"}") == 1 })
        #expect(h.wait(15) {
            let after = h.metrics().keys.first { $0.hasPrefix("linesight_model_info{camera=\"line1\",stage=\"1\"") }
            return after != nil && after != before
        }, "the pipeline judges with the new stage-1 model")
        let notes = h.notifications()
        let reloading = notes.firstIndex { $0.hasPrefix("RELOADING=1") }
        let ready = notes.lastIndex { $0.hasPrefix("READY=1") }
        #expect(reloading != nil && ready != nil && reloading! < ready!, "\(notes)")

        kill(h.pid, SIGINT)
        let r = h.finish()
        #expect(r.status == 0, "\(r.err.suffix(800))")
        let received = r.out.split(separator: "\n").first { $0.hasPrefix("line1:") }.flatMap { Int($0.split(separator: " ")[1]) }
        let stored = try Store(path: h.dir + "/data/inspection.sqlite").rangeStats().frames
        #expect(received == stored, "SIGINT drains like SIGTERM: every frame received has its committed verdict")
    }

    @Test("a service that cannot start ends the daemon: non-zero exit, the reason, no READY=1, no camera started")
    func failedStartEndsTheDaemon() throws {
        let h = try ServeHarness(name: "failstart")
        defer { try? FileManager.default.removeItem(atPath: h.dir) }
        // Someone else holds the port.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var on: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = UInt16(h.port).bigEndian
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        try #require(bound == 0 && listen(fd, 1) == 0)

        try h.start(duration: 30)
        let r = h.finish()
        #expect(r.status != 0)
        #expect(r.err.contains("cannot serve HTTP on 127.0.0.1:\(h.port)"), "\(r.err.suffix(800))")
        let notes = h.notifications()
        #expect(!notes.contains { $0.hasPrefix("READY=1") }, "\(notes)")
        let stored = try Store(path: h.dir + "/data/inspection.sqlite").rangeStats().frames
        #expect(stored == 0, "the cameras start only once the API listens")
    }
}
