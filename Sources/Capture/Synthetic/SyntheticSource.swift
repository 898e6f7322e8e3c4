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
    private let start: Int
    private let limit: Int?
    /// Frames sent (the belt's position).
    private var sent = 0
    private var emptyBelt: Image?

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
        self.start = start
        self.limit = count.map { start + $0 }
    }

    public func read(timeout: Double) throws -> CaptureResult {
        if state == .ended { return .ended }
        // `count` counts frames (in conveyor mode `index` counts parts)
        if let limit, (generator.config.belt == nil ? index : start + sent) >= limit { state = .ended; return .ended }
        guard pacer.wait(timeout: timeout) else { return .timeout }
        var image: Image, truth: [DefectTruth]?
        if let belt = generator.config.belt {
            // the belt: a gap, then a part for its frames; `index` counts parts
            let cycle = belt.gapFrames + belt.partFrames, at = sent % cycle
            if at < belt.gapFrames {
                (image, truth) = (emptyBelt ?? Self.belt(generator.config), nil)
                emptyBelt = image
            } else {
                let sample = generator.sample(index)
                (image, truth) = (sample.image, sample.defects)
                if at == cycle - 1 { index += 1 }
            }
        } else {
            let sample = generator.sample(index)
            (image, truth) = (sample.image, sample.defects)
            index += 1
        }
        if let change = generator.config.lightingChange, sent >= change.afterFrames {
            let g = Float(change.gain)
            for i in image.pixels.indices { image.pixels[i] = UInt8(min(255, (Float(image.pixels[i]) * g).rounded())) }
        }
        sent += 1
        let bytes = format == .mjpeg ? try encoder.encode(image, quality: quality) : image.pixels
        counters.frames += 1
        state = .streaming
        return .frame(Frame(sequence: UInt64(sent), format: format, width: image.width,
                            height: image.height, bytes: bytes, truth: truth))
    }

    /// The empty belt: dark rubber with a fine texture.
    static func belt(_ c: SyntheticConfig) -> Image {
        var image = Image(width: c.width, height: c.height, layout: c.layout)
        var state = c.seed &* 0x9E37_79B9_7F4A_7C15 | 1
        for i in 0..<image.pixels.count {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            image.pixels[i] = UInt8(26 + Int(state % 7))
        }
        return image
    }

    public func close() { state = .ended }
}
