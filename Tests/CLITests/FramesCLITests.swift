import Foundation
import TestSupport
import Testing

@Suite("linesight synth, capture, cameras")
struct FramesCLITests {
    func scratch() throws -> URL {
        let dir = URL(fileURLWithPath: try TemporaryDirectory.make("frames"))
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test("synth writes an ImageFolder dataset with labels for every image")
    func synth() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("set").path
        let r = try CLI.run(["synth", "--out", out, "--count", "24", "--size", "64x48", "--defect-rate", "0.5", "--seed", "3"])
        #expect(r.status == 0, "\(r.err)")
        let csv = try String(contentsOfFile: out + "/labels.csv", encoding: .utf8).split(separator: "\n")
        #expect(csv.count == 25 && csv[0] == "file,label,defects,subtle,boxes")
        for line in csv.dropFirst() {
            let file = String(line.split(separator: ",")[0])
            let bytes = try Data(contentsOf: URL(fileURLWithPath: out + "/" + file))
            #expect(bytes.prefix(2) == Data([0xFF, 0xD8]), "\(file) is a JPEG")
        }
        #expect(csv.contains { $0.contains(",good,") } && csv.contains { !$0.contains(",good,") && !$0.hasPrefix("file") })

        let again = try CLI.run(["synth", "--out", out, "--count", "2"])
        #expect(again.status != 0 && again.err.contains("not empty"), "never writes into a used folder")
        let kind = try CLI.run(["synth", "--out", dir.appendingPathComponent("x").path, "--kinds", "scratch,bubble"])
        #expect(kind.status != 0 && kind.err.contains("unknown defect kind 'bubble'"))
    }

    @Test("capture saves frames from the synthetic camera; a missing camera is a clear error")
    func capture() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try CLI.run(["capture", "--synthetic", "--fps", "0", "--size", "80x60", "--count", "4", "--out", dir.path])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("saved 4 frames"))
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        #expect(files == ["frame-000001.jpg", "frame-000002.jpg", "frame-000003.jpg", "frame-000004.jpg"])

        let missing = try CLI.run(["capture", "--camera", "/dev/v4l/by-id/usb-nothing-video-index0", "--count", "1", "--out", dir.path])
        #expect(missing.status != 0 && missing.err.contains("does not exist"))
        let both = try CLI.run(["capture", "--synthetic", "--replay", dir.path, "--out", dir.path])
        #expect(both.status != 0 && both.err.contains("exactly one of"))
        let cams = try CLI.run(["cameras", "--device", "/dev/video-none"])
        #expect(cams.status != 0 && cams.out.contains("/dev/video-none"))
    }
}
