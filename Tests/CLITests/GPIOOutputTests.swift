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
}
