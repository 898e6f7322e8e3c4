/// A dense Float32 tensor in NCHW layout: `[batch, channels, height, width]`.
///
/// Vectors and matrices are tensors with `height == width == 1`, so a linear
/// layer's `[batch, features]` is `[batch, features, 1, 1]` and flattening costs
/// nothing. Storage is allocated for the largest batch ever asked for and reused
/// for smaller ones: a network allocates once per batch size, not per call.
public final class Tensor: @unchecked Sendable {
    public private(set) var batch: Int
    public let channels: Int
    public let height: Int
    public let width: Int
    public private(set) var data: UnsafeMutablePointer<Float>
    private var capacity: Int

    public init(batch: Int, channels: Int, height: Int = 1, width: Int = 1) {
        precondition(batch >= 0 && channels > 0 && height > 0 && width > 0, "bad tensor shape")
        self.batch = batch
        self.channels = channels
        self.height = height
        self.width = width
        capacity = max(1, batch * channels * height * width)
        data = .allocate(capacity: capacity)
        data.initialize(repeating: 0, count: capacity)
    }

    public convenience init(_ shape: Shape, batch: Int) {
        self.init(batch: batch, channels: shape.channels, height: shape.height, width: shape.width)
    }

    /// A tensor holding a copy of `values`, shaped `[batch, channels, height, width]`.
    public convenience init(batch: Int, channels: Int, height: Int = 1, width: Int = 1, values: [Float]) {
        self.init(batch: batch, channels: channels, height: height, width: width)
        precondition(values.count == count, "value count \(values.count) != shape count \(count)")
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: count) }
    }

    deinit { data.deallocate() }

    public var shape: Shape { Shape(channels, height, width) }
    /// Elements per sample.
    public var sampleCount: Int { channels * height * width }
    public var plane: Int { height * width }
    public var count: Int { batch * sampleCount }

    /// Changes the batch size, reallocating only when it grows past the capacity.
    public func resize(batch newBatch: Int) {
        guard newBatch != batch else { return }
        let needed = newBatch * sampleCount
        if needed > capacity {
            data.deallocate()
            capacity = needed
            data = .allocate(capacity: capacity)
            data.initialize(repeating: 0, count: capacity)
        }
        batch = newBatch
    }

    public func zero() { data.update(repeating: 0, count: count) }
    public func fill(_ value: Float) { data.update(repeating: value, count: count) }

    public func copy(from other: Tensor) {
        precondition(other.count == count, "copy between tensors of different sizes")
        data.update(from: other.data, count: count)
    }

    public var array: [Float] { Array(UnsafeBufferPointer(start: data, count: count)) }

    public subscript(index: Int) -> Float {
        get { data[index] }
        set { data[index] = newValue }
    }
}

/// The shape of one sample: channels, height, width.
public struct Shape: Hashable, Codable, Sendable, CustomStringConvertible {
    public var channels: Int
    public var height: Int
    public var width: Int

    public init(_ channels: Int, _ height: Int = 1, _ width: Int = 1) {
        self.channels = channels
        self.height = height
        self.width = width
    }

    public var count: Int { channels * height * width }
    public var description: String { "\(channels)x\(height)x\(width)" }
}
