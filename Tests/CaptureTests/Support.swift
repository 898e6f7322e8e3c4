import FakeV4L2
import Foundation
import Imaging
import TestSupport
import Testing
@testable import Capture

/// A fake camera at a unique path for one test, removed when the test ends.
final class FakeCamera {
    let path: String

    init(formats: [CameraFormat], width: UInt32 = 64, height: UInt32 = 48, fps: Int32 = 200,
         jpeg: [UInt8] = [], raw: [UInt8] = [], configure: (inout fakev4l2_config) -> Void = { _ in }) {
        path = "/dev/v4l/by-id/usb-Linesight_Fake-\(UUID().uuidString.prefix(8))-video-index0"
        var c = fakev4l2_config()
        let codes = formats.map(\.fourcc) + [0, 0, 0, 0]
        c.formats = (codes[0], codes[1], codes[2], codes[3])
        c.format_count = Int32(formats.count)
        c.width = width
        c.height = height
        c.fps = fps
        c.unplug_after = -1
        c.replug_after_ms = -1
        c.stall_after = -1
        configure(&c)
        jpeg.withUnsafeBufferPointer { buf in
            raw.withUnsafeBufferPointer { payload in
                c.jpeg = buf.baseAddress
                c.jpeg_size = buf.count
                c.raw = payload.baseAddress
                c.raw_size = payload.count
                _ = fakev4l2_install(path, &c)
            }
        }
    }

    deinit { fakev4l2_remove(path) }

    var stats: fakev4l2_stats { fakev4l2_stats(path) }

    func setPresent(_ present: Bool) { fakev4l2_set_present(path, present ? 1 : 0) }
}

/// A camera config for a fake device: 64x48 at 200 fps, with a quick reconnect back-off.
func fakeConfig(_ camera: FakeCamera, _ edit: (inout V4L2Config) -> Void = { _ in }) -> V4L2Config {
    var c = V4L2Config(path: camera.path)
    c.width = 64
    c.height = 48
    c.fps = 200
    c.backoffInitial = 0.05
    c.backoffMax = 0.2
    edit(&c)
    return c
}

/// Reads until `count` frames arrived or `seconds` passed.
func collect(_ source: FrameSource, count: Int, seconds: Double = 10) throws -> [Frame] {
    var frames: [Frame] = []
    let end = Date().addingTimeInterval(seconds)
    while frames.count < count && Date() < end {
        if case .frame(let f) = try source.read(timeout: 0.2) { frames.append(f) }
    }
    return frames
}

/// A small real JPEG for MJPEG payloads.
func sampleJPEG(width: Int = 64, height: Int = 48) throws -> [UInt8] {
    var image = Image(width: width, height: height, layout: .gray)
    for y in 0..<height { for x in 0..<width { image[x, y, 0] = UInt8((x * 4 + y * 2) & 0xFF) } }
    return try JPEGEncoder().encode(image, quality: 85)
}

func temporaryDirectory() throws -> String { try TemporaryDirectory.make("capture") }
