import FakeV4L2
import Foundation
import Imaging
import Testing
@testable import Capture

/// The V4L2 camera against the fake device: real open/ioctl/mmap/poll code paths.
@Suite("V4L2 camera (fake device)")
struct V4L2Tests {
    func config(_ camera: FakeCamera, _ edit: (inout V4L2Config) -> Void = { _ in }) -> V4L2Config { fakeConfig(camera, edit) }

    @Test func yuyvOnlyCameraStreamsFramesInOrderWithTheirPayloads() throws {
        let fake = FakeCamera(formats: [.yuyv])
        let camera = try V4L2Camera(config(fake))
        let frames = try collect(camera, count: 12)
        #expect(camera.stream?.format == .yuyv, "MJPEG preferred, but this camera only offers YUYV")
        #expect(frames.count == 12)
        #expect(frames.map(\.sequence) == Array(1...12))
        for (n, f) in frames.enumerated() {
            #expect(f.width == 64 && f.height == 48 && f.bytesPerLine == 128 && f.bytes.count == 128 * 48)
            let stamp = f.bytes.withUnsafeBytes { $0.loadUnaligned(as: Int.self) }
            #expect(stamp == n, "frame \(n) carries the payload of frame \(stamp)")
            #expect(f.bytes[5 * 128 + 17] == UInt8((n + 5) % 251))
        }
        #expect(camera.counters.frames == 12 && camera.counters.corrupt == 0 && camera.counters.dropped == 0)
        camera.close()
        #expect(fake.stats.opens == 1 && fake.stats.streamons == 1)
    }

    @Test func mjpegIsPreferredAndFramesDecode() throws {
        let jpeg = try sampleJPEG()
        let fake = FakeCamera(formats: [.yuyv, .mjpeg], jpeg: jpeg)
        let camera = try V4L2Camera(config(fake))
        let frames = try collect(camera, count: 5)
        #expect(camera.stream?.format == .mjpeg)
        #expect(frames.count == 5)
        let decoder = try JPEGDecoder()
        for f in frames {
            #expect(f.bytes == jpeg)
            let image = try decoder.decode(f.bytes, layout: .gray)
            #expect(image.width == 64 && image.height == 48)
        }
    }

    @Test func corruptMJPEGFramesAreSkippedAndCounted() throws {
        let fake = FakeCamera(formats: [.mjpeg], jpeg: try sampleJPEG()) { $0.corrupt_every = 3 }
        let camera = try V4L2Camera(config(fake))
        let frames = try collect(camera, count: 10)
        #expect(frames.count == 10)
        #expect(frames.allSatisfy { $0.bytes.prefix(2) == [0xFF, 0xD8] })
        #expect(camera.counters.corrupt >= 4, "every third of ~15 frames was garbage")
        #expect(camera.counters.corrupt + camera.counters.frames == UInt64(fake.stats.frames) || camera.counters.corrupt + camera.counters.frames + 1 == UInt64(fake.stats.frames))
    }

    @Test func sequenceGapsCountAsDroppedFrames() throws {
        let fake = FakeCamera(formats: [.grey]) { $0.drop_every = 4 }
        let camera = try V4L2Camera(config(fake))
        let frames = try collect(camera, count: 9)
        #expect(frames.count == 9)
        #expect(camera.counters.dropped >= 2)
        #expect(frames.last!.sequence == UInt64(frames.count) + camera.counters.dropped)
        #expect(zip(frames, frames.dropFirst()).allSatisfy { $0.sequence < $1.sequence })
    }

    @Test func unplugThenReplugResumesFramesAndReappliesControls() throws {
        let fake = FakeCamera(formats: [.yuyv]) { $0.unplug_after = 5; $0.replug_after_ms = 250 }
        let camera = try V4L2Camera(config(fake) { $0.controls = ["exposure_time_absolute": 300, "gain": 20] })
        let frames = try collect(camera, count: 12)
        #expect(frames.count == 12, "frames resume after the camera comes back")
        #expect(camera.counters.reconnects == 1)
        #expect(camera.counters.errors >= 1)
        #expect(fake.stats.opens == 2)
        #expect(fake.stats.exposure == 300 && fake.stats.gain == 20, "controls pinned again after the replug reset them")
        #expect(zip(frames, frames.dropFirst()).allSatisfy { $0.sequence < $1.sequence })
        #expect(camera.state == .streaming)
    }

    @Test func stalledStreamIsReopened() throws {
        let fake = FakeCamera(formats: [.grey]) { $0.stall_after = 4 }
        let camera = try V4L2Camera(config(fake) { $0.stallTimeout = 0.2 })
        let frames = try collect(camera, count: 10)
        #expect(frames.count == 10)
        #expect(camera.counters.stalls >= 2)
        #expect(fake.stats.opens >= 3)
    }

    @Test func missingDeviceIsAClearErrorThenRetriedUntilItAppears() throws {
        let fake = FakeCamera(formats: [.grey])
        fake.setPresent(false)
        let camera = try V4L2Camera(config(fake))
        #expect(throws: CaptureError.deviceMissing(fake.path)) { try camera.open() }
        #expect(CaptureError.deviceMissing(fake.path).description.contains("does not exist"))
        guard case .timeout = try camera.read(timeout: 0.3) else { Issue.record("no frame expected"); return }
        #expect(camera.state == .reconnecting)
        #expect(camera.counters.errors >= 2, "retried with back-off while missing")
        fake.setPresent(true)
        let frames = try collect(camera, count: 3, seconds: 3)
        #expect(frames.count == 3)
    }

    /// The ROI is checked against the size the camera negotiates, at every (re)connect: a
    /// region outside its frames fails the camera with the reason, never a stream of no-verdicts.
    @Test func anROIOutsideTheNegotiatedFrameFailsTheCamera() throws {
        let fake = FakeCamera(formats: [.grey])  // offers 64x48 (and 32x24) only
        let camera = try V4L2Camera(config(fake) { $0.width = 128; $0.height = 96; $0.roi = Rect(x: 64, y: 0, width: 32, height: 32) })
        do {
            try camera.open()
            Issue.record("a 64x48 stream cannot hold the region [64, 0, 32, 32]")
        } catch let CaptureError.mismatch(_, reason) {
            #expect(reason.contains("negotiated 64x48") && reason.contains("does not fit"), "\(reason)")
        }
        guard case .timeout = try camera.read(timeout: 0.3) else { Issue.record("no frame may come through"); return }
        #expect(camera.state == .failed && camera.counters.frames == 0)
        let fits = try V4L2Camera(config(fake) { $0.width = 128; $0.height = 96; $0.roi = Rect(x: 16, y: 8, width: 32, height: 32) })
        #expect(try collect(fits, count: 2, seconds: 3).count == 2, "a region inside the negotiated frame streams")
    }

    @Test func unknownControlOrFormatIsRefusedAtStart() throws {
        let fake = FakeCamera(formats: [.yuyv])
        let camera = try V4L2Camera(config(fake) { $0.controls = ["zoom_absolute": 2] })
        #expect(throws: CaptureError.self) { try camera.open() }
        let picky = try V4L2Camera(config(fake) { $0.formats = [.mjpeg] })
        do {
            try picky.open()
            Issue.record("a camera without MJPEG cannot satisfy an MJPEG-only config")
        } catch let CaptureError.unsupported(_, reason) {
            #expect(reason.contains("YUYV"))
        }
    }

    @Test func inventoryListsFormatsSizesRatesAndControls() throws {
        let fake = FakeCamera(formats: [.mjpeg, .yuyv], width: 640, height: 480, fps: 30, jpeg: try sampleJPEG())
        let d = try V4L2Inventory.describe(fake.path)
        #expect(d.card == "Linesight Fake Camera" && d.driver == "fakev4l2")
        #expect(d.formats.map(\.fourcc) == ["MJPG", "YUYV"])
        #expect(d.formats[0].compressed && !d.formats[1].compressed)
        #expect(d.formats[1].sizes.map { "\($0.width)x\($0.height)" } == ["640x480", "320x240"])
        #expect(d.formats[1].sizes[0].fps == [30, 15])
        #expect(d.controls.map(\.key) == ["gain", "exposure_time_absolute"])
        #expect(d.controls[1].value == 156 && d.controls[1].maximum == 5000)
    }
}
