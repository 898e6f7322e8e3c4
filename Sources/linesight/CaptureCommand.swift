import ArgumentParser
import Capture
import Foundation
import Imaging
import Logging

/// Where frames come from: a camera, a replay folder/stream, or the generator.
struct SourceOptions: ParsableArguments {
    @Option(help: "V4L2 camera device (prefer /dev/v4l/by-id/...).")
    var camera: String?
    @Option(help: "Replay a folder of JPEGs or an MJPEG stream file instead of a camera.")
    var replay: String?
    @Flag(help: "Use the synthetic part generator as the camera.")
    var synthetic = false
    @Option(help: "Requested frame size, WIDTHxHEIGHT.")
    var size: String = "640x480"
    @Option(help: "Frames per second (camera request, replay and synthetic pacing; 0 = unpaced for replay/synthetic).")
    var fps: Double = 30
    @Option(help: "Camera pixel formats in order of preference, comma-separated. Read as they come: MJPG, YUYV, GREY, RGB3, NV12; converted to RGB by libv4lconvert: BGR3, UYVY, YVYU, RGBP, YU12, Y16, BA81, GBRG, GRBG, RGGB.")
    var formats: String = "MJPG,YUYV,GREY"
    @Option(name: .customLong("control"), help: "Pin a camera control, KEY=VALUE (repeatable; keys as `linesight cameras` lists them).")
    var controls: [String] = []

    func validate() throws {
        let chosen = [camera != nil, replay != nil, synthetic].filter { $0 }.count
        guard chosen == 1 else { throw ValidationError("choose exactly one of --camera, --replay or --synthetic") }
        _ = try dimensions()
        _ = try pixelFormats()
        guard fps >= 0 else { throw ValidationError("--fps must not be negative") }
        _ = try pinnedControls()
    }

    func pinnedControls() throws -> [String: Int] {
        var result: [String: Int] = [:]
        for c in controls {
            let parts = c.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty, let v = Int(parts[1]) else {
                throw ValidationError("--control must look like exposure_time_absolute=250, not '\(c)'")
            }
            result[parts[0]] = v
        }
        return result
    }

    func dimensions() throws -> (Int, Int) {
        let p = size.lowercased().split(separator: "x").compactMap { Int($0) }
        guard p.count == 2, p[0] > 0, p[1] > 0 else { throw ValidationError("--size must look like 640x480") }
        return (p[0], p[1])
    }

    func pixelFormats() throws -> [CameraFormat] {
        try formats.split(separator: ",").map {
            guard let f = CameraFormat(name: String($0).trimmingCharacters(in: .whitespaces)) else {
                throw ValidationError("unknown pixel format '\($0)'; known: \(CameraFormat.allCases.map(\.description).joined(separator: ", "))")
            }
            return f
        }
    }

    /// Opens the chosen source; a camera is opened now so a wrong path fails at once.
    func open(logger: Logger) throws -> FrameSource {
        let (w, h) = try dimensions()
        if let camera {
            var c = V4L2Config(path: camera)
            (c.width, c.height) = (w, h)
            c.fps = fps > 0 ? fps : 30
            c.formats = try pixelFormats()
            c.controls = try pinnedControls()
            let cam = try V4L2Camera(c, logger: logger)
            try cam.open()
            return cam
        }
        if let replay { return try ReplaySource(ReplayConfig(path: replay, fps: fps, loop: false)) }
        var s = SyntheticConfig()
        (s.width, s.height) = (w, h)
        s.defectRate = 0.2
        return try SyntheticSource(s, fps: fps)
    }
}

struct CaptureCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "capture",
        abstract: "Grab frames from a camera (or replay/synthetic source) to disk as JPEG files.",
        discussion: """
        For collecting a first dataset: frames go to DIR/frame-000001.jpg, ... MJPEG frames are \
        written exactly as the camera sent them; raw frames (YUYV, GREY, ...) are encoded at \
        --quality. Camera trouble (unplug, stall, corrupt frames) is reported and retried; the \
        counters are printed at the end.

        Examples:
          linesight capture --camera /dev/v4l/by-id/usb-ACME_Cam-video-index0 --count 500 --out first-batch
          linesight capture --synthetic --fps 0 --count 50 --out demo-frames
        """)

    @OptionGroup var source: SourceOptions
    @Option(help: "Frames to save.")
    var count: Int = 100
    @Option(help: "Output folder (created if missing).")
    var out: String
    @Option(help: "JPEG quality for raw frames, 1...100.")
    var quality: Int = 92
    @Option(help: "Give up after this many seconds without reaching --count.")
    var timeout: Double = 60

    func validate() throws {
        guard count > 0 else { throw ValidationError("--count must be positive") }
        guard (1...100).contains(quality) else { throw ValidationError("--quality must be between 1 and 100") }
    }

    func run() throws {
        let logger = Logger(label: "linesight.capture")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let src = try source.open(logger: logger)
        defer { src.close() }
        let encoder = try JPEGEncoder()
        var converted = Image()
        var saved = 0
        let deadline = Date().addingTimeInterval(timeout)
        while saved < count && Date() < deadline {
            switch try src.read(timeout: 0.5) {
            case .ended: break
            case .timeout: continue
            case .frame(let frame):
                let bytes: [UInt8]
                if frame.format == .mjpeg {
                    bytes = frame.bytes
                } else {
                    let layout: PixelLayout = frame.format == .grey ? .gray : .rgb
                    try frame.withView {
                        try convert($0, roi: Rect(x: 0, y: 0, width: frame.width, height: frame.height), to: layout, into: &converted)
                    }
                    bytes = try encoder.encode(converted, quality: quality)
                }
                saved += 1
                try Data(bytes).write(to: URL(fileURLWithPath: String(format: "%@/frame-%06d.jpg", out, saved)))
                if saved % 10 == 0 || saved == count {
                    FileHandle.standardError.write(Data("\rcaptured \(saved)/\(count)".utf8))
                }
                continue
            }
            break
        }
        FileHandle.standardError.write(Data("\n".utf8))
        let c = src.counters
        print("saved \(saved) frames to \(out) (source \(src.name): \(c.frames) frames, \(c.dropped) dropped, \(c.corrupt) corrupt, \(c.reconnects) reconnects, \(c.stalls) stalls)")
        if saved < count { throw CleanExit.message("stopped early: the source ended or --timeout passed") }
    }
}
