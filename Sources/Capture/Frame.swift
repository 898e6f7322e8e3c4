import Foundation
import Imaging
import LinesightCore

/// One captured frame: its bytes, how to read them, and where it came from.
public struct Frame: Sendable {
    /// Increases by one per frame the source produced; gaps mean dropped frames.
    public var sequence: UInt64
    /// Wall-clock capture time (seconds since 1970), for records.
    public var timestamp: Double
    /// Monotonic capture time in nanoseconds, for latencies.
    public var monotonicNanos: UInt64
    public var format: PixelFormat
    public var width: Int
    public var height: Int
    public var bytesPerLine: Int
    public var bytes: [UInt8]
    /// Ground truth when the frame comes from the synthetic generator.
    public var truth: [DefectTruth]?
    /// Where a replayed frame was read from.
    public var origin: String?
    /// The part this frame was taken for, when its camera serves a triggered station (set by
    /// the inspection layer; an opaque number here).
    public var part: Int64?

    public init(sequence: UInt64, timestamp: Double = Date().timeIntervalSince1970,
                monotonicNanos: UInt64 = monotonicNow(), format: PixelFormat, width: Int, height: Int,
                bytesPerLine: Int = 0, bytes: [UInt8], truth: [DefectTruth]? = nil, origin: String? = nil) {
        self.sequence = sequence
        self.timestamp = timestamp
        self.monotonicNanos = monotonicNanos
        self.format = format
        self.width = width
        self.height = height
        self.bytesPerLine = bytesPerLine == 0 ? format.minimumBytesPerLine(width: width) : bytesPerLine
        self.bytes = bytes
        self.truth = truth
        self.origin = origin
    }

    /// Runs `body` with a view the imaging code reads without copying.
    public func withView<R>(_ body: (FrameView) throws -> R) rethrows -> R {
        try bytes.withUnsafeBytes { raw in
            try body(FrameView(bytes: raw, format: format, width: width, height: height, bytesPerLine: bytesPerLine))
        }
    }
}

/// Running totals a source keeps; the daemon exports them as metrics.
public struct CaptureCounters: Equatable, Sendable {
    /// Frames handed to the caller.
    public var frames: UInt64 = 0
    /// Frames the device produced that we never saw (sequence gaps).
    public var dropped: UInt64 = 0
    /// Frames skipped because their bytes were unusable (empty, corrupt).
    public var corrupt: UInt64 = 0
    /// Failed attempts to open or read the device.
    public var errors: UInt64 = 0
    /// Times the device was (re)opened after a loss.
    public var reconnects: UInt64 = 0
    /// Times the stream stalled and was reopened.
    public var stalls: UInt64 = 0

    public init() {}
}

/// What a read returned.
public enum CaptureResult: Sendable {
    case frame(Frame)
    /// Nothing within the timeout (the source is still alive; ask again).
    case timeout
    /// The source has no more frames (a replay played once).
    case ended
}

/// Whether a source is delivering.
public enum SourceState: String, Sendable {
    /// `failed`: the device is there but what it delivers cannot be judged as configured
    /// (e.g. the ROI lies outside its frames); retried, and reported not ready until fixed.
    case idle, streaming, reconnecting, failed, ended
}

/// Anything that produces frames: a V4L2 camera, a replay folder, the generator.
/// Sources are used from one thread (the pipeline's capture stage).
public protocol FrameSource: AnyObject {
    /// A name for logs and metrics (the camera's id or path).
    var name: String { get }
    var counters: CaptureCounters { get }
    var state: SourceState { get }
    /// Waits up to `timeout` seconds for the next frame. Camera trouble (unplug,
    /// stall, corrupt frames) is handled inside and shows in `state` and `counters`;
    /// a thrown error means the source cannot work at all (bad configuration).
    func read(timeout: Double) throws -> CaptureResult
    /// Releases the device or files; `read` after `close` returns `.ended`.
    func close()
}
