import Foundation
import TestSupport
import Testing

private let env = ProcessInfo.processInfo.environment

/// The shipped `linesight serve` as a process under faults: kill -9 at random points, a
/// camera unplugged and replugged at the libc boundary (LD_PRELOAD fake), a full filesystem.
/// Opt-in and slow: `make chaos ROUNDS=100` (LINESIGHT_CHAOS_ROUNDS; LINESIGHT_CHAOS_SEED
/// picks the random points). Each campaign prints one line of figures.
@Suite("chaos: the daemon under faults", .serialized, .enabled(if: env["LINESIGHT_CHAOS_ROUNDS"] != nil))
struct ChaosTests {
    let rounds = max(1, Int(env["LINESIGHT_CHAOS_ROUNDS"] ?? "") ?? 5)
    let seed = UInt64(env["LINESIGHT_CHAOS_SEED"] ?? "") ?? 20

    @Test("kill -9 under load, again and again on one database: sound, and every committed verdict kept")
    func killNine() throws {
        // Every part fails: stage 2 runs and JPEGs are kept, so both the rows and the frame files are at risk.
        let h = try ServeHarness(name: "chaos-kill9", stage1P: 0.9, camera: ServeHarness.syntheticCamera(fps: 200))
        defer { try? FileManager.default.removeItem(atPath: h.dir) }
        var rng = SplitMix64(seed: seed)
        var onDisk = 0, committedTotal = 0, sound = 0, missingFrames = 0, lostCommitted = 0
        var worstVerdicts = 0, worstMs = 0.0
        for round in 1...rounds {
            try h.start()
            try #require(h.wait(60) { (h.metric("linesight_store_committed_total") ?? 0) >= 1 }, "round \(round): verdicts are committed")
            Thread.sleep(forTimeInterval: Double.random(in: 0.1...2.5, using: &rng))
            let m = h.metrics()
            let killedAt = Date().timeIntervalSince1970
            kill(h.pid, SIGKILL)
            _ = h.finish()
            let committed = Int(m["linesight_store_committed_total"] ?? 0), received = Int(m["linesight_frames_received_total{camera=\"line1\"}"] ?? 0)
            let check = try DatabaseCheck(database: h.dir + "/data/inspection.sqlite", frames: h.dir + "/data/frames")
            let kept = check.verdicts - onDisk
            onDisk = check.verdicts
            committedTotal += committed
            if check.integrity == "ok" { sound += 1 } else { Issue.record("round \(round): integrity_check says \(check.integrity)") }
            lostCommitted = max(lostCommitted, committedTotal - onDisk)
            missingFrames = max(missingFrames, check.missingFrames)
            worstVerdicts = max(worstVerdicts, received - kept)
            worstMs = max(worstMs, (killedAt - (check.lastCapturedAt ?? killedAt)) * 1000)
        }
        print("chaos kill9: \(rounds) rounds (seed \(seed)), integrity ok \(sound)/\(rounds), lost committed \(lostCommitted) "
              + "of \(committedTotal), kept frames without their JPEG \(missingFrames), "
              + "max loss window \(worstVerdicts) verdicts / \(Int(worstMs.rounded())) ms")
        #expect(sound == rounds)
        #expect(lostCommitted == 0, "every verdict /metrics reported committed before a kill is on disk")
        #expect(missingFrames == 0, "a kept frame's row never outlives its JPEG")
    }

    @Test("unplug and replug of a V4L2 camera in the real daemon: no verdict lost, reconnect within 2 s, controls pinned again")
    func unplugReplug() throws {
        let dir = try TemporaryDirectory.make("chaos-camera")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let camera = try PreloadedCamera(dir: dir)
        let h = try ServeHarness(name: "chaos-unplug", stage1P: 0.1, camera: camera.cameraTable(exposure: 150, gain: 4))
        defer { try? FileManager.default.removeItem(atPath: h.dir) }
        try h.start(environment: camera.environment)
        try #require(h.wait(60) { (h.metric("linesight_store_committed_total") ?? 0) >= 1 }, "verdicts from the fake camera")
        #expect(camera.stats()["exposure"] == 150 && camera.stats()["gain"] == 4, "controls pinned at start: \(camera.stats())")
        var rng = SplitMix64(seed: seed)
        var figures = UnplugFigures()
        for round in 1...rounds {
            Thread.sleep(forTimeInterval: Double.random(in: 0.3...1.2, using: &rng))
            if round % 4 == 0 {
                try ioErrorRound(h, camera, afterFrames: Int.random(in: 0...10, using: &rng), &figures)
            } else {
                // Every other unplug lands mid-frame: after a buffer was dequeued, before its re-queue.
                try unplugRound(h, camera, away: Double.random(in: 0.2...1.4, using: &rng), midFrame: round % 2 == 0, &figures)
            }
        }
        kill(h.pid, SIGTERM)
        let r = h.finish()
        #expect(r.status == 0, "\(r.err.suffix(2000))")
        let last = camera.stats()
        let check = try DatabaseCheck(database: h.dir + "/data/inspection.sqlite", frames: h.dir + "/data/frames")
        print("chaos unplug: \(rounds) rounds (seed \(seed)): \(figures.unplugs) unplug/replug, \(figures.ioErrors) EIO; "
              + "\(last["frames"] ?? -1) frames delivered, \(check.verdicts) verdict rows (\(check.distinctSequences) distinct), "
              + "lost \(figures.worstLost) at worst per round; reconnect max \(figures.worstReconnectMs) ms after replug "
              + "(EIO max \(figures.worstIORecoveryMs) ms); controls re-applied \(figures.controlsOK)/\(figures.unplugs); "
              + "double_closes \(last["double_closes"] ?? -1)")
        #expect(Int64(check.verdicts) == last["frames"] && check.distinctSequences == check.verdicts,
                "every frame the camera delivered has exactly one verdict row")
        #expect(figures.worstLost == 0 && figures.lateReconnects == 0 && figures.controlsOK == figures.unplugs)
        #expect(last["double_closes"] == 0, "no device descriptor closed twice")
    }

    /// Unplugs (between frames, or mid-frame: after a dequeue, before its re-queue), checks every
    /// delivered frame got its verdict, replugs after `away`
    /// seconds and times the reconnect from the `present 1` write to the next VIDIOC_STREAMON.
    private func unplugRound(_ h: ServeHarness, _ camera: PreloadedCamera, away: Double, midFrame: Bool, _ f: inout UnplugFigures) throws {
        try camera.command(midFrame ? "unplug-midframe" : "present 0")
        try #require(h.wait(5) { camera.stats()["present"] == 0 }, "the fake unplugs")
        let settled = h.wait(5) { Int64(h.metric("linesight_store_committed_total") ?? -1) == camera.stats()["frames"] }
        let lost = (camera.stats()["frames"] ?? 0) - Int64(h.metric("linesight_store_committed_total") ?? 0)
        if !settled { Issue.record("\(lost) delivered frames without a committed verdict while unplugged") }
        f.worstLost = max(f.worstLost, lost)
        Thread.sleep(forTimeInterval: away)
        let pluggedAt = Int64(Date().timeIntervalSince1970 * 1000)
        try camera.command("present 1")
        let back = h.wait(10) { (camera.stats()["streamon_at_ms"] ?? 0) >= pluggedAt }
        let s = camera.stats()
        let ms = (s["streamon_at_ms"] ?? 0) - pluggedAt
        if !back || ms > 2000 { f.lateReconnects += 1; Issue.record("reconnect \(back ? "\(ms) ms" : "never") after a \(away) s unplug") }
        f.worstReconnectMs = max(f.worstReconnectMs, ms)
        if s["exposure"] == 150 && s["gain"] == 4 { f.controlsOK += 1 } else { Issue.record("controls after replug: \(s)") }
        f.unplugs += 1
    }

    /// VIDIOC_DQBUF fails with EIO after `afterFrames` frames while the device stays: the daemon reopens it.
    private func ioErrorRound(_ h: ServeHarness, _ camera: PreloadedCamera, afterFrames: Int, _ f: inout UnplugFigures) throws {
        let before = camera.stats()
        try camera.command("fail \(afterFrames)")
        try #require(h.wait(10) { (camera.stats()["failed_dequeues"] ?? 0) > (before["failed_dequeues"] ?? 0) }, "the fault fires")
        let failedAt = Int64(Date().timeIntervalSince1970 * 1000)
        let back = h.wait(10) { (camera.stats()["streamons"] ?? 0) > (before["streamons"] ?? 0) }
        let ms = (camera.stats()["streamon_at_ms"] ?? 0) - failedAt
        if !back || ms > 2000 { f.lateReconnects += 1; Issue.record("reopen \(back ? "\(ms) ms" : "never") after EIO") }
        f.worstIORecoveryMs = max(f.worstIORecoveryMs, ms)
        f.ioErrors += 1
    }

    @Test("a full filesystem under the running daemon: no crash, verdicts kept or counted, commits resume when space returns")
    func fullDisk() throws {
        let h = try ServeHarness(name: "chaos-full", stage1P: 0.9, camera: ServeHarness.syntheticCamera(fps: 200))
        defer { try? FileManager.default.removeItem(atPath: h.dir) }
        guard case .success(let fs) = try SmallFilesystem.mount(h.dir + "/data", megabytes: 4) else {
            print("chaos full-disk: not run, cannot mount a tmpfs here (needs root)")
            return
        }
        defer {
            if h.isRunning { kill(h.pid, SIGKILL); _ = h.finish() }
            fs.unmount()
        }
        try h.start()
        try #require(h.wait(60) { (h.metric("linesight_store_committed_total") ?? 0) >= 20 })
        var rng = SplitMix64(seed: seed)
        var figures = FullDiskFigures()
        for _ in 1...min(rounds, 10) {
            try fullDiskCycle(h, fs, hold: Double.random(in: 0.5...2, using: &rng), &figures)
        }
        let m = h.metrics()
        kill(h.pid, SIGTERM)
        let r = h.finish()
        let received = r.out.split(separator: "\n").first { $0.hasPrefix("line1:") }.flatMap { Int($0.split(separator: " ")[1]) } ?? -1
        let check = try DatabaseCheck(database: h.dir + "/data/inspection.sqlite", frames: h.dir + "/data/frames")
        let dropped = Int(m["linesight_store_dropped_total"] ?? 0)
        print("chaos full-disk: \(figures.cycles) fill/free cycles on a 4 MiB tmpfs, crashes \(figures.crashes), "
              + "store failing seen \(figures.failingSeen)/\(figures.cycles), JPEG save errors seen \(figures.saveErrorsSeen)/\(figures.cycles) "
              + "(\(Int(m["linesight_frame_save_errors_total{camera=\"line1\"}"] ?? 0)) in all), "
              + "commits resumed \(figures.resumed)/\(figures.cycles) (max \(figures.worstResumeMs) ms after free); "
              + "\(received) received = \(check.verdicts) rows + \(dropped) dropped; integrity \(check.integrity)")
        #expect(r.status == 0 && figures.crashes == 0, "\(r.err.suffix(2000))")
        #expect(figures.resumed == figures.cycles, "commits go on once space returns")
        #expect(received == check.verdicts + dropped, "every verdict is on disk or counted as dropped")
        #expect(check.integrity == "ok")
    }

    /// Fills the filesystem, holds it full for `hold` seconds with the daemon running, frees it.
    private func fullDiskCycle(_ h: ServeHarness, _ fs: SmallFilesystem, hold: Double, _ f: inout FullDiskFigures) throws {
        f.cycles += 1
        let saveErrors = "linesight_frame_save_errors_total{camera=\"line1\"}"
        let before = h.metrics()
        _ = fs.fill("filler")
        // SQLite may go on committing for a while in WAL space it already has; JPEG writes fail at once.
        if h.wait(5, { h.metric("linesight_store_failing") == 1 }) { f.failingSeen += 1 }
        if (h.metric(saveErrors) ?? 0) > (before[saveErrors] ?? 0) { f.saveErrorsSeen += 1 }
        Thread.sleep(forTimeInterval: hold)
        if !h.isRunning || h.http("/healthz").status != 200 { f.crashes += 1; Issue.record("the daemon is gone or deaf on a full disk") }
        let committed = h.metric("linesight_store_committed_total") ?? 0
        try FileManager.default.removeItem(atPath: fs.path + "/filler")
        let freedAt = Date()
        if h.wait(15, { let m = h.metrics(); return m["linesight_store_failing"] == 0 && (m["linesight_store_committed_total"] ?? 0) > committed }) {
            f.resumed += 1
            f.worstResumeMs = max(f.worstResumeMs, Int(Date().timeIntervalSince(freedAt) * 1000))
        }
    }
}

struct UnplugFigures {
    var unplugs = 0, ioErrors = 0, controlsOK = 0, lateReconnects = 0
    var worstLost: Int64 = 0, worstReconnectMs: Int64 = 0, worstIORecoveryMs: Int64 = 0
}

struct FullDiskFigures {
    var cycles = 0, crashes = 0, failingSeen = 0, saveErrorsSeen = 0, resumed = 0, worstResumeMs = 0
}
