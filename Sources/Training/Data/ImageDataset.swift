import Neural

/// Labeled images held in memory as bytes (0-255), NCHW per sample.
public struct ImageDataset: Sendable {
    public let shape: Shape
    public let classNames: [String]
    public private(set) var pixels: [UInt8]
    public private(set) var labels: [Int32]
    /// Multi-label targets: bit c set when class c is present (at most 32 classes). When
    /// given, `labels` holds one of them (for stratified splits and balanced sampling).
    public private(set) var multiLabels: [UInt32]?

    public init(shape: Shape, classNames: [String], pixels: [UInt8], labels: [Int32], multiLabels: [UInt32]? = nil) {
        precondition(pixels.count == labels.count * shape.count, "pixel count does not match labels x shape")
        precondition(multiLabels == nil || multiLabels!.count == labels.count, "one multi-label mask per sample")
        self.shape = shape
        self.classNames = classNames
        self.pixels = pixels
        self.labels = labels
        self.multiLabels = multiLabels
    }

    public var isMultiLabel: Bool { multiLabels != nil }

    /// This dataset followed by `other` (same shape and classes).
    public func appending(_ other: ImageDataset) -> ImageDataset {
        precondition(shape == other.shape && isMultiLabel == other.isMultiLabel, "datasets do not fit together")
        return ImageDataset(shape: shape, classNames: classNames, pixels: pixels + other.pixels, labels: labels + other.labels,
                            multiLabels: multiLabels.map { $0 + (other.multiLabels ?? []) })
    }

    /// Multi-label targets of the samples at `indices`, row-major [n, classes], as 0/1.
    public func targets(_ indices: some Collection<Int>) -> [Float] {
        let c = classNames.count
        var out = [Float](repeating: 0, count: indices.count * c)
        guard let m = multiLabels else { return out }
        for (row, i) in indices.enumerated() {
            for k in 0..<c where m[i] & (1 << UInt32(k)) != 0 { out[row * c + k] = 1 }
        }
        return out
    }

    public var count: Int { labels.count }

    /// Every image mirrored by `flip` (labels unchanged).
    public func flipped(_ flip: Flip) -> ImageDataset {
        guard flip != .none else { return self }
        var out = self
        let s = shape
        pixels.withUnsafeBufferPointer { src in
            out.pixels.withUnsafeMutableBufferPointer { dst in
                for i in 0..<count {
                    flip.copy(src.baseAddress! + i * s.count, to: dst.baseAddress! + i * s.count, channels: s.channels, height: s.height, width: s.width)
                }
            }
        }
        return out
    }

    /// The samples at `indices`, in that order.
    public func subset(_ indices: [Int]) -> ImageDataset {
        let per = shape.count
        var px = [UInt8](); px.reserveCapacity(indices.count * per)
        var lb = [Int32](); lb.reserveCapacity(indices.count)
        for i in indices {
            px.append(contentsOf: pixels[(i * per)..<((i + 1) * per)])
            lb.append(labels[i])
        }
        return ImageDataset(shape: shape, classNames: classNames, pixels: px, labels: lb, multiLabels: multiLabels.map { m in indices.map { m[$0] } })
    }

    /// A multi-label set seen by a model that knows only its first `classes` classes: the
    /// other classes' bits cleared (a part with only those counts as good to it).
    public func knowing(_ classes: Int) -> ImageDataset {
        guard let masks = multiLabels, classes < classNames.count else { return self }
        let keep: UInt32 = classes >= 32 ? .max : (1 << UInt32(classes)) - 1
        let m = masks.map { $0 & keep }
        return ImageDataset(shape: shape, classNames: Array(classNames.prefix(classes)), pixels: pixels, labels: m.map { $0 == 0 ? 0 : 1 }, multiLabels: m)
    }

    /// Samples per class.
    public var classCounts: [Int] {
        var counts = [Int](repeating: 0, count: classNames.count)
        for l in labels { counts[Int(l)] += 1 }
        return counts
    }

    /// A stratified, seeded split into parts with the given fractions (e.g. 0.7, 0.2, 0.1):
    /// each class is shuffled and cut in the same proportions.
    public func stratifiedSplit(_ fractions: [Double], seed: UInt64) -> [ImageDataset] {
        var rng = SeededGenerator(seed: seed)
        var parts = [[Int]](repeating: [], count: fractions.count)
        let total = fractions.reduce(0, +)
        for c in 0..<classNames.count {
            var idx = (0..<count).filter { labels[$0] == Int32(c) }
            idx.shuffle(using: &rng)
            var start = 0, acc = 0.0
            for (p, f) in fractions.enumerated() {
                acc += f
                let end = p == fractions.count - 1 ? idx.count : Int((acc / total * Double(idx.count)).rounded())
                parts[p] += idx[start..<max(start, end)]
                start = max(start, end)
            }
        }
        return parts.map { subset($0.sorted()) }
    }
}
