import Foundation

/// How a model runs in int8, stored in its metadata (`ModelMetadata.quantization`): the
/// range of every tensor the int8 network stores, calibrated on real frames. The file keeps
/// its fp32 weights; the int8 weights are derived from them when the model is loaded
/// (batch norm folded, then symmetric per output channel, round half to even), the same
/// bytes on every machine. A model without this runs in fp32.
public struct Quantization: Codable, Equatable, Sendable {
    /// How the activation ranges were clipped.
    public enum Method: String, Codable, Sendable, CaseIterable {
        /// The smallest and largest value seen.
        case minmax
        /// The given percentile of the values on each side of zero.
        case percentile
        /// The clip that keeps the most information (least KL divergence between the
        /// values and their 8-bit image), as TensorRT calibrates.
        case entropy
    }

    public var method: Method
    /// For `percentile`: the share of values kept inside the range, e.g. 99.99.
    public var percentile: Double?
    /// Frames the ranges were measured on.
    public var frames: Int
    /// Per stored tensor, by the path of the layer that makes it ("input" for the int8
    /// network's input): [lowest, highest] in real units, zero inside.
    public var ranges: [String: [Float]]
    /// Where the frames came from, for the record.
    public var source: String?

    public init(method: Method, percentile: Double? = nil, frames: Int, ranges: [String: [Float]], source: String? = nil) {
        self.method = method; self.percentile = percentile; self.frames = frames; self.ranges = ranges; self.source = source
    }

    /// Checks what a file could hold before anything is built from it.
    public func validate(_ bad: (String, String) -> NeuralError) throws {
        if method == .percentile {
            guard let p = percentile, (50...100).contains(p) else { throw bad("quantization.percentile", "must be a number in 50...100 for the percentile method") }
        } else if percentile != nil {
            throw bad("quantization.percentile", "is set, but the method is \(method.rawValue)")
        }
        guard frames >= 1 else { throw bad("quantization.frames", "is \(frames); at least 1") }
        guard ranges.count <= SpecLimits.layers + 1 else { throw bad("quantization.ranges", "has \(ranges.count) entries; at most \(SpecLimits.layers + 1)") }
        for (name, r) in ranges.sorted(by: { $0.key < $1.key }) {
            guard (1...128).contains(name.utf8.count), !name.hasControlCharacters(allowing: []) else {
                throw bad("quantization.ranges", "has a name that is empty, over 128 bytes or holds control characters")
            }
            guard r.count == 2, r[0].isFinite, r[1].isFinite, r[0] <= 0, r[1] >= 0, r[1] - r[0] > 0, r[1] - r[0] < 1e12 else {
                throw bad("quantization.ranges.\(name)", "is \(r); a range is [lowest <= 0, highest >= 0], finite and not empty")
            }
        }
        if let s = source, s.utf8.count > 1024 || s.hasControlCharacters(allowing: []) {
            throw bad("quantization.source", "must be at most 1024 bytes without control characters")
        }
    }
}

/// An 8-bit image of a real range: real = (q - zeroPoint) * scale, q in 0...255, and 0 exact.
struct QuantizedRange: Equatable {
    let scale: Float
    let zeroPoint: Int

    init(_ range: [Float]) {
        let lo = min(0, range[0]), hi = max(0, range[1])
        let s = max((hi - lo) / 255, 1e-8)
        scale = s
        zeroPoint = Int(min(255, max(0, (-lo / s).rounded(.toNearestOrEven))))
    }
}
