import Foundation

/// An embedding as the store keeps it: little-endian IEEE float16, two bytes a dimension
/// (ample for distances between frames; a tenth of a percent of each value).
public enum EmbeddingCodec {
    /// Values beyond float16's range become its largest finite value of the same sign; NaN
    /// stays NaN (and the sampler sets such an embedding aside).
    public static func encode(_ values: [Float]) -> Data {
        var out = Data(capacity: values.count * 2)
        for v in values {
            let h = Float16(v.isNaN ? v : max(-Float(Float16.greatestFiniteMagnitude), min(Float(Float16.greatestFiniteMagnitude), v)))
            let bits = h.bitPattern.littleEndian
            out.append(UInt8(truncatingIfNeeded: bits))
            out.append(UInt8(truncatingIfNeeded: bits >> 8))
        }
        return out
    }

    /// Nil for data of odd length or empty.
    public static func decode(_ data: Data) -> [Float]? {
        guard !data.isEmpty, data.count % 2 == 0 else { return nil }
        let bytes = [UInt8](data)
        return stride(from: 0, to: bytes.count, by: 2).map { i in
            Float(Float16(bitPattern: UInt16(bytes[i]) | UInt16(bytes[i + 1]) << 8))
        }
    }
}
