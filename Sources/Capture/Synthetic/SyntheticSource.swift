import Foundation
import Imaging

/// The demo camera: the synthetic generator as a frame source, sending MJPEG (like
/// most USB cameras) or raw GREY/RGB24 frames at a set rate, with ground truth.
public final class SyntheticSource: FrameSource {
    public let name: String
    public private(set) var counters = CaptureCounters()
    public private(set) var state: SourceState = .idle
    public let generator: SyntheticGenerator
    private let format: PixelFormat
    private let quality: Int
    private let encoder: JPEGEncoder
    private var pacer: Pacer
    private var index: Int
    private let limit: Int?

    /// - Parameters:
    ///   - fps: frames per second (0: as fast as the reader asks).
    ///   - format: `.mjpeg`, or `.grey`/`.rgb24` for the generator's layout.
    ///   - count: stop after this many frames (nil: run forever).
    public init(_ config: SyntheticConfig, fps: Double = 10, format: PixelFormat = .mjpeg, quality: Int = 90,
                start: Int = 0, count: Int? = nil, name: String = "synthetic") throws {
        generator = try SyntheticGenerator(config)
        let raw: PixelFormat = config.layout == .gray ? .grey : .rgb24
        guard format == .mjpeg || format == raw else {
            throw CaptureError.invalidConfig("the synthetic camera sends MJPEG or \(raw) for \(config.layout) frames, not \(format)")
        }
        guard fps >= 0 else { throw CaptureError.invalidConfig("synthetic rate \(fps) fps is negative") }
        self.name = name
        self.format = format
        self.quality = quality
        self.encoder = try JPEGEncoder()
        self.pacer = Pacer(fps: fps)
        self.index = start
        self.limit = count.map { start + $0 }
    }

    public func read(timeout: Double) throws -> CaptureResult {
        if state == .ended { return .ended }
        if let limit, index >= limit { state = .ended; return .ended }
        guard pacer.wait(timeout: timeout) else { return .timeout }
        let sample = generator.sample(index)
        index += 1
        let bytes = format == .mjpeg ? try encoder.encode(sample.image, quality: quality) : sample.image.pixels
        counters.frames += 1
        state = .streaming
        return .frame(Frame(sequence: UInt64(index), format: format, width: sample.image.width,
                            height: sample.image.height, bytes: bytes, truth: sample.defects))
    }

    public func close() { state = .ended }
}
