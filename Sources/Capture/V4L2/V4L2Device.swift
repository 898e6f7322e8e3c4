import CV4L2
import Foundation
import Imaging

/// A format a camera offers, with its sizes and frame rates.
public struct V4L2FormatInfo: Equatable, Sendable {
    public var fourcc: String
    public var description: String
    public var compressed: Bool
    public var sizes: [V4L2SizeInfo]
}

public struct V4L2SizeInfo: Equatable, Sendable {
    public var width: Int
    public var height: Int
    /// Discrete frame rates (frames per second); empty when the driver reports none.
    public var fps: [Double]
}

/// A camera control as the driver describes it; `key` is the v4l2-ctl style name
/// ("exposure_time_absolute") used in config files.
public struct V4L2Control: Equatable, Sendable {
    public var id: UInt32
    public var key: String
    public var name: String
    public var type: UInt32
    public var minimum: Int
    public var maximum: Int
    public var step: Int
    public var defaultValue: Int
    public var value: Int?
}

/// A thin, synchronous wrapper over one open V4L2 device: ioctls with EINTR retry
/// and errors that name the device and the call.
final class V4L2Device {
    let path: String
    /// The open descriptor; -1 once `close()` has run, so it is closed exactly once (a
    /// number closed twice may by then belong to SQLite or a socket).
    private(set) var fd: Int32
    private(set) var buffers: [(pointer: UnsafeMutableRawPointer, length: Int)] = []
    private(set) var streaming = false
    /// A failed re-queue after a frame was handed out, thrown by the next call.
    private var requeueError: CaptureError?

    init(path: String) throws {
        let fd = Glibc.open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            let e = errno
            if e == ENOENT || e == ENODEV || e == ENXIO { throw CaptureError.deviceMissing(path) }
            throw CaptureError.io(device: path, call: "open", errno: e)
        }
        self.path = path
        self.fd = fd
    }

    deinit { close() }

    /// Issues an ioctl, retrying on EINTR; returns errno on failure.
    @discardableResult
    func control<T>(_ request: UInt, _ argument: inout T) -> Int32 {
        while true {
            let rc = withUnsafeMutablePointer(to: &argument) { ioctl(fd, request, UnsafeMutableRawPointer($0)) }
            if rc >= 0 { return 0 }
            if errno != EINTR { return errno }
        }
    }

    func check<T>(_ request: UInt, _ argument: inout T, _ call: String) throws {
        let e = control(request, &argument)
        if e != 0 { throw error(e, call) }
    }

    /// An ioctl's errno as the camera's error: a vanished device (ENODEV, EIO) is a disconnect.
    func error(_ e: Int32, _ call: String) -> CaptureError {
        e == ENODEV || e == EIO ? .disconnected(path) : .io(device: path, call: call, errno: e)
    }

    /// Driver, card name and whether it can stream video capture.
    func capabilities() throws -> (driver: String, card: String, bus: String) {
        var cap = v4l2_capability()
        try check(CV4L2_QUERYCAP, &cap, "VIDIOC_QUERYCAP")
        let caps = cap.capabilities & UInt32(V4L2_CAP_DEVICE_CAPS) != 0 ? cap.device_caps : cap.capabilities
        guard caps & UInt32(V4L2_CAP_VIDEO_CAPTURE) != 0 else {
            throw CaptureError.unsupported(device: path, reason: "not a video capture device")
        }
        guard caps & UInt32(V4L2_CAP_STREAMING) != 0 else {
            throw CaptureError.unsupported(device: path, reason: "does not support streaming I/O")
        }
        return (cString(cap.driver), cString(cap.card), cString(cap.bus_info))
    }

    /// Every capture format with its discrete sizes and frame rates.
    func formats() -> [V4L2FormatInfo] {
        var result: [V4L2FormatInfo] = []
        for index in 0..<64 {
            var desc = v4l2_fmtdesc()
            desc.index = UInt32(index)
            desc.type = V4L2_BUF_TYPE_VIDEO_CAPTURE.rawValue
            guard control(CV4L2_ENUM_FMT, &desc) == 0 else { break }
            result.append(V4L2FormatInfo(fourcc: fourccString(desc.pixelformat), description: cString(desc.description),
                                         compressed: desc.flags & UInt32(V4L2_FMT_FLAG_COMPRESSED) != 0,
                                         sizes: sizes(desc.pixelformat)))
        }
        return result
    }

    private func sizes(_ fourcc: UInt32) -> [V4L2SizeInfo] {
        var result: [V4L2SizeInfo] = []
        for index in 0..<64 {
            var size = v4l2_frmsizeenum()
            size.index = UInt32(index)
            size.pixel_format = fourcc
            guard control(CV4L2_ENUM_FRAMESIZES, &size) == 0 else { break }
            if size.type == V4L2_FRMSIZE_TYPE_DISCRETE.rawValue {
                let w = Int(size.discrete.width), h = Int(size.discrete.height)
                result.append(V4L2SizeInfo(width: w, height: h, fps: rates(fourcc, w, h)))
            } else {
                let w = Int(size.stepwise.max_width), h = Int(size.stepwise.max_height)
                result.append(V4L2SizeInfo(width: w, height: h, fps: rates(fourcc, w, h)))
                break
            }
        }
        return result
    }

    private func rates(_ fourcc: UInt32, _ w: Int, _ h: Int) -> [Double] {
        var result: [Double] = []
        for index in 0..<32 {
            var ival = v4l2_frmivalenum()
            ival.index = UInt32(index)
            ival.pixel_format = fourcc
            ival.width = UInt32(w)
            ival.height = UInt32(h)
            guard control(CV4L2_ENUM_FRAMEINTERVALS, &ival) == 0,
                  ival.type == V4L2_FRMIVAL_TYPE_DISCRETE.rawValue, ival.discrete.numerator > 0 else { break }
            result.append(Double(ival.discrete.denominator) / Double(ival.discrete.numerator))
        }
        return result
    }

    /// Sets the format; returns what the driver actually chose.
    func setFormat(fourcc: UInt32, width: Int, height: Int) throws -> (fourcc: UInt32, width: Int, height: Int, bytesPerLine: Int) {
        var fmt = captureFormat(fourcc: fourcc, width: width, height: height)
        try check(CV4L2_S_FMT, &fmt, "VIDIOC_S_FMT")
        let got = cv4l2_pix(&fmt)!.pointee
        return (got.pixelformat, Int(got.width), Int(got.height), Int(got.bytesperline))
    }

    /// Asks for a frame rate; returns the rate the driver set (nil if it has no say).
    func setFrameRate(_ fps: Double) -> Double? {
        var parm = v4l2_streamparm()
        parm.type = V4L2_BUF_TYPE_VIDEO_CAPTURE.rawValue
        let cap = cv4l2_capture(&parm)!
        cap.pointee.timeperframe = v4l2_fract(numerator: 1000, denominator: UInt32(max(1, (fps * 1000).rounded())))
        guard control(CV4L2_S_PARM, &parm) == 0 else { return nil }
        let t = cv4l2_capture(&parm)!.pointee.timeperframe
        return t.numerator > 0 ? Double(t.denominator) / Double(t.numerator) : nil
    }

    /// Requests `count` memory-mapped buffers, maps and queues them, starts streaming.
    func startStreaming(buffers count: Int) throws {
        var req = v4l2_requestbuffers()
        req.count = UInt32(count)
        req.type = V4L2_BUF_TYPE_VIDEO_CAPTURE.rawValue
        req.memory = V4L2_MEMORY_MMAP.rawValue
        try check(CV4L2_REQBUFS, &req, "VIDIOC_REQBUFS")
        guard req.count >= 2 else {
            throw CaptureError.unsupported(device: path, reason: "driver granted \(req.count) buffers, need at least 2")
        }
        for index in 0..<Int(req.count) {
            var buf = v4l2_buffer()
            buf.index = UInt32(index)
            buf.type = V4L2_BUF_TYPE_VIDEO_CAPTURE.rawValue
            buf.memory = V4L2_MEMORY_MMAP.rawValue
            try check(CV4L2_QUERYBUF, &buf, "VIDIOC_QUERYBUF")
            let p = mmap(nil, Int(buf.length), PROT_READ | PROT_WRITE, MAP_SHARED, fd, off_t(buf.m.offset))
            guard let p, p != MAP_FAILED else { throw CaptureError.io(device: path, call: "mmap", errno: errno) }
            buffers.append((p, Int(buf.length)))
            try check(CV4L2_QBUF, &buf, "VIDIOC_QBUF")
        }
        var type = Int32(V4L2_BUF_TYPE_VIDEO_CAPTURE.rawValue)
        try check(CV4L2_STREAMON, &type, "VIDIOC_STREAMON")
        streaming = true
    }

    /// Dequeues one filled buffer, hands its bytes to `body`, and queues it again.
    /// Returns nil when no buffer is ready (EAGAIN). When queueing it again fails (the camera
    /// was unplugged after the frame was taken), the frame is still returned and the error is
    /// thrown by the next call: a part already seen is judged, not dropped uncounted.
    func dequeue<R>(_ body: (UnsafeRawBufferPointer, v4l2_buffer) -> R) throws -> R? {
        if let e = requeueError { requeueError = nil; throw e }
        var buf = v4l2_buffer()
        buf.type = V4L2_BUF_TYPE_VIDEO_CAPTURE.rawValue
        buf.memory = V4L2_MEMORY_MMAP.rawValue
        let e = control(CV4L2_DQBUF, &buf)
        if e == EAGAIN { return nil }
        if e != 0 { throw error(e, "VIDIOC_DQBUF") }
        let index = Int(buf.index)
        guard index < buffers.count else { throw CaptureError.io(device: path, call: "VIDIOC_DQBUF", errno: EINVAL) }
        let used = min(Int(buf.bytesused), buffers[index].length)
        let result = body(UnsafeRawBufferPointer(start: buffers[index].pointer, count: used), buf)
        let q = control(CV4L2_QBUF, &buf)
        if q != 0 { requeueError = error(q, "VIDIOC_QBUF") }
        return result
    }

    /// Waits until a buffer is ready: true if ready, false on timeout.
    func waitReadable(timeout: Double) throws -> Bool {
        if let e = requeueError { requeueError = nil; throw e }
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let rc = poll(&p, 1, Int32(max(0, min(timeout, 60)) * 1000))
        if rc < 0 {
            if errno == EINTR { return false }
            throw CaptureError.io(device: path, call: "poll", errno: errno)
        }
        if rc == 0 { return false }
        if p.revents & Int16(POLLERR | POLLHUP | POLLNVAL) != 0 { throw CaptureError.disconnected(path) }
        return p.revents & Int16(POLLIN) != 0
    }

    /// All controls the driver exposes, with current values.
    func controls() -> [V4L2Control] {
        var result: [V4L2Control] = []
        var q = v4l2_queryctrl()
        q.id = CV4L2_CTRL_FLAG_NEXT_CTRL
        while control(CV4L2_QUERYCTRL, &q) == 0 {
            if q.flags & CV4L2_CTRL_FLAG_DISABLED == 0 && q.type != V4L2_CTRL_TYPE_CTRL_CLASS.rawValue {
                var c = v4l2_control(id: q.id, value: 0)
                let value: Int? = control(CV4L2_G_CTRL, &c) == 0 ? Int(c.value) : nil
                let name = cString(q.name)
                result.append(V4L2Control(id: q.id, key: controlKey(name), name: name, type: q.type,
                                          minimum: Int(q.minimum), maximum: Int(q.maximum), step: Int(q.step),
                                          defaultValue: Int(q.default_value), value: value))
            }
            q.id |= CV4L2_CTRL_FLAG_NEXT_CTRL
        }
        return result
    }

    func setControl(id: UInt32, value: Int) throws {
        var c = v4l2_control(id: id, value: Int32(clamping: value))
        try check(CV4L2_S_CTRL, &c, "VIDIOC_S_CTRL")
    }

    func close() {
        if streaming {
            var type = Int32(V4L2_BUF_TYPE_VIDEO_CAPTURE.rawValue)
            _ = control(CV4L2_STREAMOFF, &type)
            streaming = false
        }
        for b in buffers { munmap(b.pointer, b.length) }
        buffers = []
        if fd >= 0 { _ = Glibc.close(fd) }
        fd = -1
    }
}

/// "Exposure Time, Absolute" -> "exposure_time_absolute" (v4l2-ctl's naming).
/// A progressive capture format (`v4l2_format`) of the given pixels and size; a stride and
/// frame size when known.
func captureFormat(fourcc: UInt32, width: Int, height: Int, bytesPerLine: Int = 0, sizeImage: Int = 0) -> v4l2_format {
    var fmt = v4l2_format()
    fmt.type = V4L2_BUF_TYPE_VIDEO_CAPTURE.rawValue
    let pix = cv4l2_pix(&fmt)!
    pix.pointee.pixelformat = fourcc
    pix.pointee.width = UInt32(width)
    pix.pointee.height = UInt32(height)
    pix.pointee.field = V4L2_FIELD_NONE.rawValue
    pix.pointee.bytesperline = UInt32(bytesPerLine)
    pix.pointee.sizeimage = UInt32(sizeImage)
    return fmt
}

func controlKey(_ name: String) -> String {
    var key = ""
    var pendingUnderscore = false
    for ch in name.lowercased() {
        if ch.isLetter || ch.isNumber {
            if pendingUnderscore && !key.isEmpty { key.append("_") }
            key.append(ch)
            pendingUnderscore = false
        } else {
            pendingUnderscore = true
        }
    }
    return key
}

func fourccString(_ code: UInt32) -> String {
    String((0..<4).map { Character(UnicodeScalar(UInt8((code >> (8 * UInt32($0))) & 0xFF))) })
}

/// A fixed-size C char array (imported as a tuple) as a String.
func cString<T>(_ tuple: T) -> String {
    withUnsafeBytes(of: tuple) { raw in
        let bytes = raw.prefix { $0 != 0 }
        return String(decoding: bytes, as: UTF8.self)
    }
}
