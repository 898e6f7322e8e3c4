import Foundation
import TestSupport
import Testing

/// The cameras lines use, through the shipped binary and the fake camera loaded with
/// LD_PRELOAD: `linesight cameras` says how each format is read and which controls a line
/// pins (trigger and strobe included), and the daemon inspects a Bayer camera through
/// libv4lconvert with its trigger mode pinned.
@Suite("camera formats and line controls", .serialized)
struct CameraFormatsCLITests {
    @Test("cameras: each format read as it comes, converted by libv4lconvert, or not supported; the controls for the line by role")
    func camerasListing() throws {
        let dir = try TemporaryDirectory.make("camera-formats")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let camera = try PreloadedCamera(dir: dir)
        var env = camera.environment
        env["FAKEV4L2_FORMATS"] = "BA81,MJPG,Y16 ,H264"
        env["FAKEV4L2_TRIGGER_CONTROLS"] = "1"
        let r = try CLI.run(["cameras", "--device", camera.device], env: env)
        #expect(r.status == 0, "\(r.err)")
        let lines = r.out.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(lines.contains { $0.hasPrefix("BA81") && $0.hasSuffix("[converted to RGB by libv4lconvert]") }, "\(r.out)")
        #expect(lines.contains { $0.hasPrefix("MJPG") && $0.hasSuffix("[read as it comes]") })
        #expect(lines.contains { $0.hasPrefix("Y16") && $0.hasSuffix("[converted to RGB by libv4lconvert]") })
        #expect(lines.contains { $0.hasPrefix("H264") && $0.hasSuffix("[not supported]") })
        #expect(lines.contains("exposure:       exposure_time_absolute") && lines.contains("gain:           gain"))
        #expect(lines.contains("trigger:        trigger_mode") && lines.contains("strobe:         strobe_enable"))
        #expect(lines.contains("white balance:  none"))
    }

    @Test("serve: a Bayer camera is inspected through libv4lconvert, its trigger mode and strobe pinned")
    func bayerCameraServes() throws {
        let dir = try TemporaryDirectory.make("camera-bayer")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let camera = try PreloadedCamera(dir: dir)
        let table = camera.cameraTable(exposure: 120, gain: 3)
            .replacingOccurrences(of: "formats = [\"MJPG\"]", with: "formats = [\"MJPG\", \"Y16\", \"GRBG\"]")
            .replacingOccurrences(of: "gain = 3 }", with: "gain = 3, trigger_mode = 1, strobe_enable = 1 }")
        let h = try ServeHarness(name: "camera-bayer", stage1P: 0.1, camera: table)
        defer { try? FileManager.default.removeItem(atPath: h.dir) }
        var env = camera.environment
        env["FAKEV4L2_FORMATS"] = "GRBG"
        env["FAKEV4L2_TRIGGER_CONTROLS"] = "1"
        try h.start(environment: env)
        #expect(h.wait(60) { (h.metric("linesight_store_committed_total") ?? 0) >= 10 }, "verdicts from the Bayer camera")
        #expect(h.metric("linesight_capture_corrupt_total{camera=\"line1\"}") == 0, "every frame converted")
        let stats = camera.stats()
        #expect(stats["trigger_mode"] == 1 && stats["strobe"] == 1 && stats["exposure"] == 120, "\(stats)")
        kill(h.pid, SIGTERM)
        let r = h.finish()
        #expect(r.status == 0, "\(r.err.suffix(800))")
        #expect(r.err.contains("format=GRBG (libv4lconvert to RGB3)"), "the log says how the camera is read: \(r.err.suffix(1500))")
    }
}
