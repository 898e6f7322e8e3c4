import Capture
import FakeV4L2
import Foundation
import GRDB
import Imaging
import Logging
import Testing
@testable import Inspection
import Store
import TestSupport

/// The whole service in-process: a fake V4L2 camera behind open/ioctl/poll, real models,
/// a real SQLite file.
@Suite("Inspection service", .serialized)
struct ServiceTests {
    let logger = Logger(label: "test.service")

    func jpeg() throws -> [UInt8] {
        var g = SyntheticConfig()
        (g.width, g.height) = (64, 48)
        return try JPEGEncoder().encode(SyntheticGenerator(g).sample(1).image, quality: 85)
    }

    func config(_ dir: String, device: String) throws -> LineConfig {
        try stage1(dir + "/s1.safetensors", pDefect: 0.9)
        try stage2(dir + "/s2.safetensors", [("stain", 0.8)])
        var c = LineConfig()
        c.database = dir + "/db.sqlite"
        c.framesDirectory = dir + "/frames"
        c.models = ModelPaths(stage1: dir + "/s1.safetensors", stage2: dir + "/s2.safetensors")
        c.commitInterval = 0.02
        c.pipeline.queueCapacity = 1000  // a loaded test machine must not drop frames here
        var v = V4L2Config(path: device)
        (v.width, v.height, v.fps, v.formats) = (64, 48, 100, [.mjpeg])
        v.backoffInitial = 0.05
        v.backoffMax = 0.2
        c.cameras = [LineConfig.Camera(id: "fake", source: .v4l2, v4l2: v)]
        return c
    }

    func wait(_ seconds: Double, _ condition: () -> Bool) -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end { if condition() { return true }; Thread.sleep(forTimeInterval: 0.02) }
        return condition()
    }

    @Test func aCameraThatIsUnpluggedAndSendsCorruptFramesLosesNoVerdict() throws {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let device = "/dev/v4l/by-id/usb-Linesight_Service-\(UUID().uuidString.prefix(8))-video-index0"
        var fake = fakev4l2_config()
        fake.formats = (PixelFormat.mjpeg.fourcc, 0, 0, 0)
        (fake.format_count, fake.width, fake.height, fake.fps) = (1, 64, 48, 100)
        (fake.unplug_after, fake.replug_after_ms, fake.stall_after, fake.corrupt_every) = (40, 300, -1, 7)
        let bytes = try jpeg()
        bytes.withUnsafeBufferPointer { b in
            fake.jpeg = b.baseAddress
            fake.jpeg_size = b.count
            _ = fakev4l2_install(device, &fake)
        }
        defer { fakev4l2_remove(device) }
        let service = try InspectionService(config: try config(dir, device: device), logger: logger)
        service.start()
        let pipeline = service.pipelines[0]
        #expect(wait(20) { pipeline.stats.capture.reconnects >= 1 && pipeline.stats.verdicts >= 80 }, "frames resume after the replug")
        #expect(service.isAdvancing())
        service.stop()
        let s = pipeline.stats
        #expect(s.capture.corrupt >= 5, "corrupt frames are counted by capture")
        #expect(s.fails == s.received && s.defects["stain"] == s.received)
        let stored = try service.store.rangeStats()
        #expect(UInt64(stored.frames) == s.received, "every frame received has its verdict committed")
    }

    @Test func unwritableFramesStopBeingSavedWhileVerdictsFlow() throws {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var c = try config(dir, device: "/dev/null-camera")
        var g = SyntheticConfig()
        (g.width, g.height) = (64, 48)
        c.cameras = [LineConfig.Camera(id: "synth", source: .synthetic, synthetic: g, fps: 200)]
        let service = try InspectionService(config: c, logger: logger)
        // A reader holds a snapshot of the database the whole time, like a long CLI query.
        let reader = try DatabaseQueue(path: c.database)
        let release = DispatchSemaphore(value: 0), holding = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            try? reader.read { db in
                _ = try Int.fetchOne(db, sql: "SELECT count(*) FROM verdicts")
                holding.signal()
                release.wait()
            }
        }
        holding.wait()
        service.start()
        let p = service.pipelines[0]
        #expect(wait(20) { p.stats.framesSaved >= 10 })
        // The frames folder becomes a file: every save now fails (as on a full disk).
        try FileManager.default.moveItem(atPath: c.framesDirectory, toPath: c.framesDirectory + ".gone")  // atomic, unlike a delete
        try Data("x".utf8).write(to: URL(fileURLWithPath: c.framesDirectory))
        let before = p.stats.verdicts
        #expect(wait(20) { p.stats.saveErrors >= 10 && p.stats.verdicts >= before + 50 })
        #expect(wait(5) { service.committer.stats.committed >= before + 50 }, "commits go on while a reader holds its snapshot")
        release.signal()
        service.stop()
        #expect(try service.store.rangeStats().frames == Int(p.stats.received))
    }

    @Test func aBrokenModelOnReloadIsRefusedAndTheRunningOneKept() throws {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var c = try config(dir, device: "/dev/null-camera")
        var g = SyntheticConfig()
        (g.width, g.height) = (64, 48)
        c.cameras = [LineConfig.Camera(id: "synth", source: .synthetic, synthetic: g, fps: 100)]
        let service = try InspectionService(config: c, logger: logger)
        service.start()
        let old = service.pipelines[0].modelVersions.0
        let s1 = try Data(contentsOf: URL(fileURLWithPath: c.models.stage1))
        try s1.prefix(s1.count - 100).write(to: URL(fileURLWithPath: c.models.stage1))
        service.checkModelFiles()
        #expect(service.reloads.refused == 1 && service.lastReloadError?.contains("s1.safetensors") == true)
        #expect(service.pipelines[0].modelVersions.0 == old)
        try stage1(c.models.stage1, pDefect: 0.1)
        service.checkModelFiles()
        #expect(service.reloads.ok == 1 && service.pipelines[0].modelVersions.0 != old)
        #expect(wait(10) { service.pipelines[0].stats.passes > 0 }, "the new model judges")
        service.stop()
    }

    @Test func whenEveryReplayEndsTheServiceSaysSoAndStopsWithEveryVerdictCommitted() throws {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var c = try config(dir, device: "/dev/null-camera")
        try FileManager.default.createDirectory(atPath: dir + "/replay", withIntermediateDirectories: true)
        let image = try jpeg()
        for i in 0..<12 { try Data(image).write(to: URL(fileURLWithPath: dir + "/replay/\(i).jpg")) }
        c.cameras = [LineConfig.Camera(id: "a", source: .replay, replay: ReplayConfig(path: dir + "/replay", fps: 0, loop: false)),
                     LineConfig.Camera(id: "b", source: .replay, replay: ReplayConfig(path: dir + "/replay", fps: 0, loop: false))]
        let service = try InspectionService(config: c, logger: logger)
        let ended = DispatchSemaphore(value: 0)
        service.start()
        service.whenEveryCameraEnded { ended.signal() }
        #expect(ended.wait(timeout: .now() + 60) == .success, "both replays played once")
        service.stopCameras()
        service.closeStore()
        #expect(service.pipelines.map(\.stats.received) == [12, 12])
        #expect(service.committer.stats.committed == 24)
        #expect(try service.store.rangeStats().frames == 24, "every frame of both cameras has its verdict in SQLite")
    }
}
