/// How many channels an 8-bit image carries, interleaved per pixel.
public enum PixelLayout: String, Sendable, Codable, CaseIterable {
    case gray, rgb

    public var channels: Int { self == .gray ? 1 : 3 }
}

/// An 8-bit image, rows top to bottom, pixels interleaved (HWC), no row padding.
/// Decoders and converters write into an existing `Image` so a pipeline reuses one
/// buffer for every frame.
public struct Image: Equatable, Sendable {
    public private(set) var width: Int
    public private(set) var height: Int
    public private(set) var layout: PixelLayout
    public var pixels: [UInt8]

    public var channels: Int { layout.channels }
    public var rowBytes: Int { width * layout.channels }

    public init(width: Int, height: Int, layout: PixelLayout, pixels: [UInt8]) {
        precondition(width >= 0 && height >= 0 && pixels.count == width * height * layout.channels,
                     "pixel count does not match the image size")
        self.width = width
        self.height = height
        self.layout = layout
        self.pixels = pixels
    }

    /// A black image.
    public init(width: Int, height: Int, layout: PixelLayout) {
        self.init(width: width, height: height, layout: layout,
                  pixels: [UInt8](repeating: 0, count: width * height * layout.channels))
    }

    public init() { self.init(width: 0, height: 0, layout: .gray) }

    /// Resizes the pixel storage in place, keeping its capacity when it shrinks.
    public mutating func reshape(width: Int, height: Int, layout: PixelLayout) {
        let count = width * height * layout.channels
        if pixels.count != count {
            if pixels.count > count {
                pixels.removeLast(pixels.count - count)
            } else {
                pixels.append(contentsOf: repeatElement(0, count: count - pixels.count))
            }
        }
        self.width = width
        self.height = height
        self.layout = layout
    }

    public subscript(x: Int, y: Int, channel: Int) -> UInt8 {
        get { pixels[(y * width + x) * layout.channels + channel] }
        set { pixels[(y * width + x) * layout.channels + channel] = newValue }
    }
}

/// A rectangle in pixel coordinates (origin top-left).
public struct Rect: Equatable, Hashable, Sendable, Codable {
    public var x: Int
    public var y: Int
    public var width: Int
    public var height: Int

    public init(x: Int, y: Int, width: Int, height: Int) {
        self.x = x
        self.y = y
        self.width = width
        self.height = height
    }

    /// Whether the rectangle is non-empty and lies inside a `width` x `height` image.
    public func fits(width w: Int, height h: Int) -> Bool {
        x >= 0 && y >= 0 && width > 0 && height > 0 && x + width <= w && y + height <= h
    }
}
