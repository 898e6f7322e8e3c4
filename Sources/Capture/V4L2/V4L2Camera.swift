import CV4L2
import Foundation
import Imaging
import LinesightCore
import Logging

/// Settings of one V4L2 camera.
public struct V4L2Config: Equatable, Sendable {
    /// Device path; prefer the stable /dev/v4l/by-id/... link over /dev/videoN.
    public var path: String
    /// Pixel formats in order of preference; the first the camera offers wins. Formats the
    /// pipeline does not read as they come are converted to RGB24 by libv4lconvert.
    public var formats: [CameraFormat] = [.mjpeg, .yuyv, .grey]
    public var width = 640
    public var height = 480
    public var fps: Double = 30
    /// Memory-mapped buffers shared with the driver.
    public var buffers = 4
    /// Controls pinned at start and after every reconnect, by v4l2-ctl name.
    public var controls: [String: Int] = [:]
    /// The region the inspection judges: checked against the size the camera actually
    /// negotiates at every (re)connect; a camera whose frames it does not fit is failed.
    public var roi: Rect?
    /// Reopen the camera when no frame arrives for this long.
    public var stallTimeout: Double = 5
    /// Reconnect back-off: first wait, doubling up to the maximum.
    public var backoffInitial: Double = 0.5
    public var backoffMax: Double = 30
    /// A missing device node (unplugged) is looked for this often whatever the back-off: an
    /// open() of a missing path costs nothing, and a replugged camera is back within this long.
    public var missingPoll: Double = 0.5

    public init(path: String) { self.path = path }
}

/// What the camera agreed to.
public struct V4L2Stream: Equatable, Sendable {
    /// The format the frames carry: the camera's own, or RGB24 when it is converted.
    public var format: PixelFormat
    public var width: Int
    public var height: Int
    /// The frames' row stride.
    public var bytesPerLine: Int
    public var fps: Double?
    /// What the camera sends, and its row stride.
    public var cameraFormat: CameraFormat
    public var cameraBytesPerLine: Int
    /// Converted by libv4lconvert (`cameraFormat.native == nil`).
    public var converted: Bool { cameraFormat.native == nil }
}

/// A V4L2 camera as a frame source that never gives up: a missing device, an unplug
/// (ENODEV/EIO), a stall or a corrupt frame is logged once per episode, counted, and
/// followed by a reconnect with back-off; controls are pinned again every time.
public final class V4L2Camera: FrameSource {
    public let name: String
    public let config: V4L2Config
    public private(set) var counters = CaptureCounters()
    public private(set) var state: SourceState = .idle
    /// The negotiated stream of the current (or last) connection.
    public private(set) var stream: V4L2Stream?
    private var device: V4L2Device?
    /// libv4lconvert, for a camera format the pipeline does not read (per connection).
    private var converter: V4L2Converter?
    private var logger: Logger
    private let decoder: JPEGDecoder
    private var sequence: UInt64 = 0
    private var lastDriverSequence: UInt32?
    private var lastFrameAt: UInt64 = 0
    private var nextAttemptAt: UInt64 = 0
    private var backoff: Double
    private var trouble: String?  // the current episode, logged once
    private var corruptEpisode = false

    public init(_ config: V4L2Config, logger: Logger = Logger(label: "linesight.capture")) throws {
        guard !config.path.isEmpty else { throw CaptureError.invalidConfig("camera path is empty") }
        guard !config.formats.isEmpty else { throw CaptureError.invalidConfig("camera \(config.path): no pixel formats allowed") }
        guard config.width > 0, config.height > 0, config.fps > 0, (2...32).contains(config.buffers),
              config.stallTimeout > 0, config.backoffInitial > 0, config.backoffMax >= config.backoffInitial else {
            throw CaptureError.invalidConfig("camera \(config.path): size, rate, buffers (2...32), stall and back-off must be positive")
        }
        self.config = config
        self.name = config.path
        self.decoder = try JPEGDecoder()
        self.backoff = config.backoffInitial
        var l = logger
        l[metadataKey: "camera"] = "\(config.path)"
        self.logger = l
    }

    deinit { device?.close() }

    /// Opens and starts the camera now, throwing the reason if it cannot (for
    /// `linesight capture` and start-up checks; `read` retries on its own).
    public func open() throws {
        try connect()
    }

    public func read(timeout: Double) throws -> CaptureResult {
        if state == .ended { return .ended }
        let deadline = monotonicNow() + UInt64(max(0, timeout) * 1e9)
        while true {
            let now = monotonicNow()
            if device == nil {
                if now < nextAttemptAt {
                    if now >= deadline { return .timeout }
                    sleepNanos(min(nextAttemptAt, deadline) - now)
                    continue
                }
                do {
                    try connect()
                } catch let error as CaptureError {
                    if case .invalidConfig = error { throw error }
                    counters.errors += 1
                    if case .mismatch = error {
                        // Retried (someone may fix the camera), but failed, not "away": not ready.
                        lost(error, "camera settings do not fit what it delivers")
                        state = .failed
                    } else {
                        lost(error, "camera unavailable")
                    }
                    continue
                }
            }
            let stallAt = lastFrameAt + UInt64(config.stallTimeout * 1e9)
            if now >= stallAt {
                counters.stalls += 1
                lost(.stalled(device: config.path, seconds: config.stallTimeout), "camera stalled", retryNow: true)
                continue
            }
            if now >= deadline { return .timeout }
            do {
                guard try device!.waitReadable(timeout: Double(min(deadline, stallAt) - now) / 1e9) else { continue }
                if let frame = try take() { return .frame(frame) }
            } catch let error as CaptureError {
                counters.errors += 1
                lost(error, "camera disconnected")
            }
        }
    }

    public func close() {
        converter = nil
        device?.close()
        device = nil
        state = .ended
    }

    private enum Dequeued {
        case frame(Frame)
        case corrupt
    }

    /// When the frame was taken: the driver's monotonic timestamp where it gives one (so a
    /// buffer exposed before a trigger but dequeued after it is known as older), else now.
    static func captureTime(_ buf: v4l2_buffer) -> UInt64 {
        let now = monotonicNow()
        guard buf.flags & CV4L2_BUF_FLAG_TIMESTAMP_MASK == CV4L2_BUF_FLAG_TIMESTAMP_MONOTONIC,
              buf.timestamp.tv_sec > 0 || buf.timestamp.tv_usec > 0 else { return now }
        let t = UInt64(buf.timestamp.tv_sec) * 1_000_000_000 + UInt64(buf.timestamp.tv_usec) * 1000
        return t <= now ? t : now
    }

    /// Dequeues one buffer; nil when it was not ready or its frame was corrupt.
    private func take() throws -> Frame? {
        guard let device, let stream else { return nil }
        let result: Dequeued? = try device.dequeue { bytes, buf in
            if buf.flags & CV4L2_BUF_FLAG_ERROR != 0 || bytes.count == 0 || !self.plausible(bytes, stream) {
                return .corrupt
            }
            var pixels: [UInt8]
            if let converter = self.converter {
                guard let rgb = converter.convert(bytes).rgb else { return .corrupt }
                pixels = rgb
            } else {
                pixels = [UInt8](bytes)
            }
            if let last = self.lastDriverSequence, buf.sequence > last &+ 1 {
                self.counters.dropped += UInt64(buf.sequence - last - 1)
                self.sequence += UInt64(buf.sequence - last - 1)
            }
            self.lastDriverSequence = buf.sequence
            self.sequence += 1
            return .frame(Frame(sequence: self.sequence, monotonicNanos: Self.captureTime(buf), format: stream.format, width: stream.width,
                                height: stream.height, bytesPerLine: stream.bytesPerLine, bytes: pixels))
        }
        guard let result else { return nil }  // EAGAIN
        lastFrameAt = monotonicNow()
        switch result {
        case .corrupt:
            counters.corrupt += 1
            if !corruptEpisode {
                logger.warning("corrupt frame skipped", metadata: ["corrupt.total": "\(counters.corrupt)"])
                corruptEpisode = true
            }
            return nil
        case .frame(let frame):
            corruptEpisode = false
            counters.frames += 1
            return frame
        }
    }

    /// Cheap checks that a buffer holds a whole frame: raw frames their full size, MJPEG
    /// a readable header (a full decode is the pipeline's job).
    private func plausible(_ bytes: UnsafeRawBufferPointer, _ s: V4L2Stream) -> Bool {
        if s.format == .mjpeg {
            guard bytes.count > 4, bytes[0] == 0xFF, bytes[1] == 0xD8 else { return false }
            return (try? decoder.header(bytes)) != nil
        }
        let need = s.cameraFormat.frameBytes(width: s.width, height: s.height, bytesPerLine: s.cameraBytesPerLine) ?? 0
        return bytes.count >= need
    }

    private func connect() throws {
        converter = nil
        device?.close()
        device = nil
        let d = try V4L2Device(path: config.path)
        do {
            let (driver, card, _) = try d.capabilities()
            let s = try negotiate(d)
            let convert = s.converted
                ? try V4L2Converter(fd: d.fd, path: config.path, format: s.cameraFormat, width: s.width, height: s.height,
                                    bytesPerLine: s.cameraBytesPerLine) : nil
            try pinControls(d)
            try d.startStreaming(buffers: config.buffers)
            device = d
            converter = convert
            stream = s
            lastDriverSequence = nil
            lastFrameAt = monotonicNow()
            let wasLost = trouble != nil
            if wasLost { counters.reconnects += 1 }
            trouble = nil
            backoff = config.backoffInitial
            state = .streaming
            let message: Logger.Message = wasLost ? "camera reconnected" : "camera streaming"
            logger.info(message, metadata: [
                "driver": "\(driver)", "card": "\(card)", "format": "\(s.cameraFormat)\(s.converted ? " (libv4lconvert to RGB3)" : "")",
                "size": "\(s.width)x\(s.height)", "fps": "\(s.fps.map { String($0) } ?? "driver default")",
            ])
        } catch {
            d.close()
            throw error
        }
    }

    /// Picks the first preferred format the camera offers, then size and rate.
    private func negotiate(_ d: V4L2Device) throws -> V4L2Stream {
        let all = d.formats().map(\.fourcc)
        let offered = all.compactMap { CameraFormat(rawValue: $0) }
        guard let format = config.formats.first(where: offered.contains) else {
            throw CaptureError.unsupported(device: config.path, reason:
                "offers \(all.map { $0.trimmingCharacters(in: .whitespaces) }) but the config allows only \(config.formats.map(\.description))")
        }
        let got = try d.setFormat(fourcc: format.fourcc, width: config.width, height: config.height)
        guard got.fourcc == format.fourcc else {
            throw CaptureError.unsupported(device: config.path, reason: "refused format \(format)")
        }
        if let roi = config.roi, !roi.fits(width: Int(got.width), height: Int(got.height)) {
            throw CaptureError.mismatch(device: config.path, reason:
                "negotiated \(got.width)x\(got.height) (asked \(config.width)x\(config.height)); the roi [\(roi.x), \(roi.y), \(roi.width), \(roi.height)] does not fit inside it")
        }
        if Int(got.width) != config.width || Int(got.height) != config.height {
            logger.warning("camera gave another frame size than asked", metadata: ["asked": "\(config.width)x\(config.height)", "got": "\(got.width)x\(got.height)"])
        }
        let fps = d.setFrameRate(config.fps)
        let bpl = max(got.bytesPerLine, format.minimumBytesPerLine(width: got.width))
        if let native = format.native {
            return V4L2Stream(format: native, width: got.width, height: got.height, bytesPerLine: bpl, fps: fps,
                              cameraFormat: format, cameraBytesPerLine: bpl)
        }
        return V4L2Stream(format: .rgb24, width: got.width, height: got.height, bytesPerLine: got.width * 3, fps: fps,
                          cameraFormat: format, cameraBytesPerLine: bpl)
    }

    private func pinControls(_ d: V4L2Device) throws {
        guard !config.controls.isEmpty else { return }
        let available = Dictionary(d.controls().map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
        for (key, value) in config.controls.sorted(by: { $0.key < $1.key }) {
            guard let c = available[key] else {
                throw CaptureError.unsupported(device: config.path, reason:
                    "has no control '\(key)' (it has: \(available.keys.sorted().joined(separator: ", ")))")
            }
            guard value >= c.minimum && value <= c.maximum else {
                throw CaptureError.unsupported(device: config.path, reason:
                    "control '\(key)' = \(value) is outside \(c.minimum)...\(c.maximum)")
            }
            try d.setControl(id: c.id, value: value)
        }
    }

    /// Closes the device and schedules a reconnect; logs only the first event of an episode.
    private func lost(_ error: CaptureError, _ message: Logger.Message, retryNow: Bool = false) {
        converter = nil
        device?.close()
        device = nil
        state = .reconnecting
        if trouble == nil {
            // A mismatch needs a person (fix the roi or the camera); the rest mends itself.
            let level: Logger.Level = if case .mismatch = error { .error } else { .warning }
            logger.log(level: level, message, metadata: ["error": "\(error)", "retry.seconds": "\(retryNow ? 0 : backoff)"])
            trouble = message.description
        }
        var wait = retryNow ? 0 : backoff
        if case .deviceMissing = error { wait = min(wait, config.missingPoll) }
        nextAttemptAt = monotonicNow() + UInt64(wait * 1e9)
        if !retryNow { backoff = min(backoff * 2, config.backoffMax) }
    }
}

func sleepNanos(_ n: UInt64) {
    var request = timespec(tv_sec: Int(n / 1_000_000_000), tv_nsec: Int(n % 1_000_000_000))
    var remaining = timespec()
    while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
}
