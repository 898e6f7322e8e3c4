/// 64-bit FNV-1a, the project's one cheap non-cryptographic hash: file names to split buckets,
/// a dataset's list to its provenance hash, an image's pixels to spot a copy.
enum FNV1a {
    static let offsetBasis: UInt64 = 0xcbf2_9ce4_8422_2325
    static let prime: UInt64 = 0x100_0000_01b3

    /// `bytes` folded into `h` (start from `offsetBasis`; continue from an earlier result).
    static func hash<S: Sequence>(_ bytes: S, from h: UInt64 = offsetBasis) -> UInt64 where S.Element == UInt8 {
        var h = h
        for b in bytes { h = (h ^ UInt64(b)) &* prime }
        return h
    }
}
