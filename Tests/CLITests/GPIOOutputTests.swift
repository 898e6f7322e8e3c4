import Foundation
import Store
import TestSupport
import Testing

/// The GPIO output, as a process, down to libgpiod's calls: a fake libgpiod (Tests/FakeGPIOD)
/// loaded with LD_PRELOAD records every level a line is driven to, with its time. (This kernel
/// has no gpio-sim; README says how to check the lines on the target with gpiomon.)
@Suite("GPIO output", .serialized)
struct GPIOOutputTests {
    struct Fake {
        let library: String, log: String
        init(dir: String) throws {
            let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
            library = dir + "/fakegpiod.so"
            log = dir + "/gpio.log"
            let args = ["-shared", "-fPIC", "-O2", "-o", library, root + "/Tests/FakeGPIOD/fakegpiod.c", "-lpthread"]
            var built = try Child.run(URL(fileURLWithPath: "/usr/bin/env"), ["cc"] + args, within: 120)
            if built.status != 0 { built = try Child.run(URL(fileURLWithPath: "/opt/swift/usr/bin/clang"), args, within: 120) }
            guard built.status == 0 else { throw ChildError.spawn("cc fakegpiod.c: \(built.err)", ENOEXEC) }
        }
        var environment: [String: String] { ["LD_PRELOAD": library, "FAKEGPIOD_CHIP": "fakechip", "FAKEGPIOD_LOG": log] }
        /// Each level written, per line: (monotonic seconds, level).
        func levels() -> [Int: [(at: Double, on: Bool)]] {
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            var out: [Int: [(Double, Bool)]] = [:]
            for line in text.split(separator: "\n") {
                let f = line.split(separator: " ")
                guard f.count == 3, let o = Int(f[0]), let v = Int(f[1]), let t = Double(f[2]) else { continue }
                out[o, default: []].append((t / 1e9, v == 1))
            }
            return out
        }
    }

    static func config(chip: String = "fakechip", activeLow: Bool = false) -> String {
        "[outputs.gpio]\nenabled = true\nchip = \"\(chip)\"\nreject_line = 4\nready_line = 5\nreject_pulse_ms = 100\nactive_low = \(activeLow)\n"
    }

    @Test("each reject drives the reject line for reject_pulse_ms; the ready line is on while the daemon runs, off after")
    func rejectsAndReady() throws {
        let h = try ServeHarness(name: "gpio", extraConfig: Self.config(activeLow: true), camera: ServeHarness.syntheticCamera(fps: 3))
        defer { try? FileManager.default.removeItem(atPath: h.dir) }
        let fake = try Fake(dir: h.dir)
        try h.start(duration: 4, environment: fake.environment)
        let r = h.finish()
        #expect(r.status == 0, "\(r.err.suffix(600))")
        let stats = try Store(path: h.dir + "/data/inspection.sqlite").rangeStats()
        #expect(stats.frames >= 6 && stats.fails == stats.frames)
        let levels = fake.levels()
        // active-low: the line rests high and pulls low for a reject
        let reject = try #require(levels[4])
        #expect(reject.first?.on == true, "requested at rest (high, active-low)")
        let pulls = zip(reject, reject.dropFirst()).filter { $0.0.on && !$0.1.on }
        #expect(pulls.count == stats.fails, "one pulse per reject at 3 parts/s: \(pulls.count) vs \(stats.fails)")
        var widths: [Double] = []
        for (i, x) in reject.enumerated() where !x.on && i + 1 < reject.count && reject[i + 1].on { widths.append(reject[i + 1].at - x.at) }
        #expect(!widths.isEmpty && widths.allSatisfy { (0.09...0.5).contains($0) }, "widths \(widths.map { Int($0 * 1000) }) ms")
        #expect(reject.last?.on == true, "left inactive at the end")
        let ready = try #require(levels[5])
        #expect(ready.map(\.on).contains(false), "ready: driven active (low) while running")
        #expect(ready.last?.on == true, "and inactive (high) after the stop")
    }

    @Test("a GPIO chip that is not there ends the start with the reason, before any camera runs")
    func missingChipEndsTheStart() throws {
        let h = try ServeHarness(name: "gpio-missing", extraConfig: Self.config(chip: "nochip"))
        defer { try? FileManager.default.removeItem(atPath: h.dir) }
        let fake = try Fake(dir: h.dir)
        try h.start(duration: 10, environment: fake.environment)
        let r = h.finish()
        #expect(r.status != 0)
        #expect(r.err.contains("cannot open GPIO chip 'nochip'"), "\(r.err.suffix(600))")
        #expect(try Store(path: h.dir + "/data/inspection.sqlite").rangeStats().frames == 0)
    }

    @Test("a photo-eye on a GPIO line triggers parts on its rising edge (pull-up asked for); a bouncing contact is one part")
    func gpioTriggerInput() throws {
        let gpio = "[outputs.gpio]\nenabled = true\nchip = \"fakechip\"\nreject_line = 4\ntrigger_line = 7\ntrigger_edge = \"rising\"\n"
            + "trigger_bias = \"up\"\ntrigger_debounce_ms = 50\n"
        let h = try PartsCLITests.harness("gpio-trigger", frames: 1, triggers: "[\"gpio\"]", extra: gpio)
        defer { try? FileManager.default.removeItem(atPath: h.dir) }
        let fake = try Fake(dir: h.dir)
        let input = h.dir + "/gpio.input"
        FileManager.default.createFile(atPath: input, contents: nil)
        /// Appends levels of line 7, each stamped with when it happens (monotonic ns), `spacing` apart.
        func edges(_ levels: [Int], spacing: Double = 0) throws {
            let t0 = monotonicTime()
            try level(levels.enumerated().map { i, v in "7 \(v) \(Int64((t0 + Double(i) * spacing) * 1e9))\n" }.joined())
        }
        func level(_ lines: String) throws {
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: input))
            try handle.seekToEnd()
            try handle.write(contentsOf: Data(lines.utf8))
            try handle.close()
        }
        var env = fake.environment
        env["FAKEGPIOD_INPUT"] = input
        try h.start(environment: env)
        #expect(h.wait(30) { (h.metric("linesight_frames_skipped_total{camera=\"side\"}") ?? 0) > 10 }, "the views run, untriggered")
        for _ in 1...3 {
            try edges([1])
            usleep(150_000)
            try edges([0])  // a falling edge: no part
            usleep(150_000)
        }
        #expect(h.wait(10) { h.metric("linesight_parts_total{decision=\"fail\",station=\"s1\"}") == 3 }, "one part per rising edge")
        try edges([1, 0, 1, 0, 1], spacing: 0.002)  // a contact bouncing within a few ms
        #expect(h.wait(10) { h.metric("linesight_parts_total{decision=\"fail\",station=\"s1\"}") == 4 })
        usleep(500_000)
        #expect(h.metric("linesight_parts_total{decision=\"fail\",station=\"s1\"}") == 4, "the bounces made no more parts")
        kill(h.pid, SIGTERM)
        #expect(h.finish().status == 0)
        let log = (try? String(contentsOfFile: fake.log, encoding: .utf8)) ?? ""
        #expect(log.contains("bias 7 up"), "the trigger line is requested with its pull-up")
        #expect(try Store(path: h.dir + "/data/inspection.sqlite").parts(limit: 10).count == 4)
    }
}
