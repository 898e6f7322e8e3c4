import CTurboJPEG

/// What a JPEG header says about the image.
public struct JPEGHeader: Equatable, Sendable {
    public var width: Int
    public var height: Int
    /// True for single-component (grayscale) JPEGs.
    public var isGray: Bool
}

/// Decodes JPEG and MJPEG frames with TurboJPEG. One decoder per thread: it owns a
/// TurboJPEG handle, which is not thread-safe. Every failure is a thrown
/// `ImagingError`; truncated data is an error, not a gray bottom half.
public final class JPEGDecoder {
    private let handle: tjhandle
    /// Images with more pixels than this are refused before any memory is allocated.
    public var pixelLimit: Int
    /// The scale factors TurboJPEG can decode at (e.g. 1/8 ... 2/1), largest first.
    public let scalingFactors: [(num: Int, denom: Int)]

    public init(pixelLimit: Int = 50_000_000) throws {
        guard let h = tjInitDecompress() else { throw ImagingError.codec("tjInitDecompress failed") }
        handle = h
        self.pixelLimit = pixelLimit
        var count: Int32 = 0
        var factors: [(Int, Int)] = []
        if let list = tjGetScalingFactors(&count) {
            for i in 0..<Int(count) { factors.append((Int(list[i].num), Int(list[i].denom))) }
        }
        scalingFactors = factors.sorted { $0.0 * $1.1 > $1.0 * $0.1 }
    }

    deinit { tjDestroy(handle) }

    /// Reads and validates the header (TurboJPEG may report success on a header it
    /// could not fully read, so the sizes are checked here).
    public func header(_ data: UnsafeRawBufferPointer) throws -> JPEGHeader {
        guard let base = data.baseAddress, data.count > 0 else { throw ImagingError.empty }
        var w: Int32 = 0, h: Int32 = 0, sub: Int32 = -1, cs: Int32 = -1
        let rc = tjDecompressHeader3(handle, base.assumingMemoryBound(to: UInt8.self),
                                     UInt(data.count), &w, &h, &sub, &cs)
        guard rc == 0 else { throw ImagingError.corruptJPEG(lastError()) }
        guard w > 0, h > 0 else { throw ImagingError.corruptJPEG("header has no image size") }
        guard Int(w) * Int(h) <= pixelLimit else {
            throw ImagingError.tooLarge(width: Int(w), height: Int(h), limit: pixelLimit)
        }
        return JPEGHeader(width: Int(w), height: Int(h), isGray: cs == Int32(TJCS_GRAY.rawValue))
    }

    /// The smallest scale factor TurboJPEG supports that is at least `minimum`, capped
    /// at 1 (decoding never upsamples; the resampler does that when it must).
    public func scale(atLeast minimum: Double) -> (num: Int, denom: Int) {
        var best = (num: 1, denom: 1)
        for f in scalingFactors where f.num <= f.denom {
            if Double(f.num) / Double(f.denom) >= minimum { best = f }
        }
        return best
    }

    /// Decodes `data` at `scale` into `image` (reusing its storage) as gray or RGB.
    /// Returns the header of the full-size image.
    @discardableResult
    public func decode(_ data: UnsafeRawBufferPointer, layout: PixelLayout,
                       scale: (num: Int, denom: Int) = (1, 1), into image: inout Image) throws -> JPEGHeader {
        let head = try header(data)
        let w = (head.width * scale.num + scale.denom - 1) / scale.denom
        let h = (head.height * scale.num + scale.denom - 1) / scale.denom
        image.reshape(width: w, height: h, layout: layout)
        let format = layout == .gray ? Int32(TJPF_GRAY.rawValue) : Int32(TJPF_RGB.rawValue)
        // LIMITSCANS: a progressive JPEG of thousands of scans (minutes of CPU from a few KB) is refused.
        let flags = Int32(TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS)
        let rc = image.pixels.withUnsafeMutableBufferPointer { dst in
            tjDecompress2(handle, data.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt(data.count),
                          dst.baseAddress, Int32(w), 0, Int32(h), format, flags)
        }
        guard rc == 0 else { throw ImagingError.corruptJPEG(lastError()) }
        return head
    }

    /// Decodes a whole JPEG at full size.
    public func decode(_ bytes: [UInt8], layout: PixelLayout) throws -> Image {
        var image = Image()
        _ = try bytes.withUnsafeBytes { try decode($0, layout: layout, into: &image) }
        return image
    }

    private func lastError() -> String {
        guard let s = tjGetErrorStr2(handle) else { return "unknown TurboJPEG error" }
        return String(cString: s)
    }
}

/// Encodes 8-bit images as baseline JPEG with TurboJPEG. One encoder per thread.
public final class JPEGEncoder {
    private let handle: tjhandle
    private var scratch: [UInt8] = []

    public init() throws {
        guard let h = tjInitCompress() else { throw ImagingError.codec("tjInitCompress failed") }
        handle = h
    }

    deinit { tjDestroy(handle) }

    /// Encodes `image` at `quality` (1...100). RGB uses 4:2:0 chroma below quality 90
    /// and 4:4:4 from 90 up; gray stays single-component.
    public func encode(_ image: Image, quality: Int = 90) throws -> [UInt8] {
        guard image.width > 0, image.height > 0 else { throw ImagingError.invalidGeometry("cannot encode an empty image") }
        guard (1...100).contains(quality) else { throw ImagingError.codec("quality \(quality) is outside 1...100") }
        let sub: Int32
        let format: Int32
        if image.layout == .gray {
            sub = Int32(TJSAMP_GRAY.rawValue); format = Int32(TJPF_GRAY.rawValue)
        } else {
            sub = Int32((quality >= 90 ? TJSAMP_444 : TJSAMP_420).rawValue); format = Int32(TJPF_RGB.rawValue)
        }
        let capacity = Int(tjBufSize(Int32(image.width), Int32(image.height), sub))
        if scratch.count < capacity { scratch = [UInt8](repeating: 0, count: capacity) }
        var size = UInt(capacity)
        let rc = scratch.withUnsafeMutableBufferPointer { out -> Int32 in
            var ptr: UnsafeMutablePointer<UInt8>? = out.baseAddress
            return image.pixels.withUnsafeBufferPointer { src in
                tjCompress2(handle, src.baseAddress, Int32(image.width), 0, Int32(image.height), format,
                            &ptr, &size, sub, Int32(quality), Int32(TJFLAG_NOREALLOC))
            }
        }
        guard rc == 0 else {
            throw ImagingError.codec(tjGetErrorStr2(handle).map { String(cString: $0) } ?? "tjCompress2 failed")
        }
        return Array(scratch[0..<Int(size)])
    }
}
