import FakeV4L2
import Foundation
import Testing
@testable import Capture

/// The faults the chaos campaigns inject into the daemon, here in-process and exact:
/// every frame the driver hands out must come out of the camera.
@Suite("V4L2 camera under device faults (fake device)")
struct V4L2FaultTests {
    func camera(_ fake: FakeCamera) throws -> V4L2Camera { try V4L2Camera(fakeConfig(fake)) }

    @Test func anUnplugBetweenFramesLosesNoFrame() throws {
        let fake = FakeCamera(formats: [.grey])
        let camera = try camera(fake)
        #expect(try collect(camera, count: 3).count == 3)
        fakev4l2_unplug_between_frames(fake.path)
        #expect(fake.stats.present == 0, "no buffer was in the camera's hands, so the unplug is immediate")
        #expect(try collect(camera, count: 1, seconds: 0.3).isEmpty)
        fake.setPresent(true)
        #expect(try collect(camera, count: 3).count == 3)
        #expect(camera.counters.frames == UInt64(fake.stats.frames), "every dequeued frame was delivered")
        #expect(camera.counters.reconnects == 1)
        camera.close()
        // V4L2Device.close() once left its fd set and deinit closed the number again: a number
        // that may by then belong to SQLite or a socket. The fake counts such second closes.
        #expect(fake.stats.double_closes == 0, "every descriptor closed exactly once across the reconnect and the close")
    }

    @Test func eioWhileTheDeviceStaysIsAReopenWithoutLoss() throws {
        let fake = FakeCamera(formats: [.grey])
        let camera = try camera(fake)
        fakev4l2_fail_after(fake.path, 2)
        #expect(try collect(camera, count: 6).count == 6)
        #expect(fake.stats.failed_dequeues == 1, "the fault lasts until the device is closed")
        #expect(fake.stats.opens == 2 && camera.counters.reconnects == 1)
        #expect(camera.counters.frames == UInt64(fake.stats.frames))
        camera.close()
        #expect(fake.stats.double_closes == 0)
    }

    @Test func aFrameDequeuedJustBeforeTheUnplugIsStillDelivered() throws {
        let fake = FakeCamera(formats: [.grey])
        let camera = try camera(fake)
        #expect(try collect(camera, count: 3).count == 3)
        // The device goes away after the next VIDIOC_DQBUF: the frame is in the camera's
        // buffer, only its VIDIOC_QBUF fails (ENODEV), as with a real USB unplug.
        fakev4l2_unplug_after_next_dequeue(fake.path)
        _ = try collect(camera, count: 1, seconds: 0.3)
        fake.setPresent(true)
        _ = try collect(camera, count: 3)
        // Once dropped uncounted: V4L2Device.dequeue threw on the re-queue with the frame in hand.
        #expect(camera.counters.frames == UInt64(fake.stats.frames), "every dequeued frame was delivered")
    }

    @Test func aDescriptorClosedTwiceIsCountedAndItsNumberIsNotReused() throws {
        let fake = FakeCamera(formats: [.grey])
        let fd = Glibc.open(fake.path, O_RDWR | O_CLOEXEC)
        try #require(fd >= 0)
        #expect(Glibc.close(fd) == 0)
        let other = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { Glibc.close(other) }
        #expect(other != fd, "a closed device's number stays occupied, so a stale close cannot hit a socket")
        #expect(Glibc.close(fd) == -1 && errno == EBADF)
        #expect(fake.stats.double_closes == 1)
    }
}
