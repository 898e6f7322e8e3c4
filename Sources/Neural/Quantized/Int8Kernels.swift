import CKernels

/// The instruction set the int8 kernels run on. The best the CPU allows is found at start
/// (CPUID and the registers the OS saves); any lower one can be asked for, to compare or test.
/// Every variant stores the same bytes: the sums are exact integers and one scalar epilogue
/// requantizes them.
public enum Int8ISA: Int, Sendable, CaseIterable, CustomStringConvertible {
    /// Plain C: any x86-64 (and other architectures).
    case baseline = 0
    /// AVX2: bytes widened to int16 and multiplied by `vpmaddwd` (exact; `vpmaddubsw` would
    /// saturate on u8 x s8 pairs).
    case avx2 = 1
    /// AVX-VNNI: `vpdpbusd` on 256-bit registers.
    case avxVNNI = 2
    /// AVX512-VNNI: `vpdpbusd` on 512-bit registers.
    case avx512VNNI = 3

    /// The fastest variant this CPU allows.
    public static let best = Int8ISA(rawValue: Int(ls_int8_best_isa())) ?? .baseline

    /// Whether this CPU can run the variant.
    public var isAvailable: Bool { rawValue <= Self.best.rawValue && (self != .avxVNNI || Self.cpu.avxvnni != 0) }

    static let cpu: ls_cpu_features = {
        var f = ls_cpu_features()
        ls_cpu_detect(&f)
        return f
    }()

    public var description: String {
        switch self {
        case .baseline: "plain C"
        case .avx2: "AVX2 (vpmaddwd)"
        case .avxVNNI: "AVX-VNNI (vpdpbusd, 256-bit)"
        case .avx512VNNI: "AVX512-VNNI (vpdpbusd, 512-bit)"
        }
    }
}

extension Int8ISA {
    /// The vector extensions CPUID reports and the OS enables, for `--version` and `linesight engine`.
    public static var cpuSummary: String {
        let f = Int8ISA.cpu
        let names: [(String, Int32)] = [("sse4.2", f.sse42), ("avx2", f.avx2), ("fma", f.fma), ("avx512f", f.avx512f),
                                        ("avx512bw", f.avx512bw), ("avx512vl", f.avx512vl), ("avx512-vnni", f.avx512vnni),
                                        ("avx-vnni", f.avxvnni)]
        let have = names.filter { $0.1 != 0 }.map(\.0)
        return have.isEmpty ? "no vector extensions beyond SSE2" : have.joined(separator: " ")
    }
}

/// Weights of one int8 GEMM, packed once for every variant (`ls_qpack`), on a cache line's
/// boundary: the kernels read them 64 bytes at a time, and a read across two lines made a
/// 256-channel 3x3 conv take 43 % longer (an array's bytes start mid-line).
struct PackedInt8Weights {
    let n: Int, k: Int
    private let storage: Storage

    final class Storage {
        let pointer: UnsafeMutablePointer<Int8>
        init(count: Int) {
            pointer = UnsafeMutableRawPointer.allocate(byteCount: max(1, count), alignment: 64).bindMemory(to: Int8.self, capacity: max(1, count))
            pointer.initialize(repeating: 0, count: max(1, count))
        }
        deinit { pointer.deallocate() }
    }

    /// `w` is `[n][k]` row-major.
    init(_ w: [Int8], n: Int, k: Int) {
        precondition(w.count == n * k, "int8 weights: \(w.count) values for \(n)x\(k)")
        self.n = n; self.k = k
        storage = Storage(count: ls_qpack_size(Int32(n), Int32(k)))
        w.withUnsafeBufferPointer { src in ls_qpack(src.baseAddress, Int32(n), Int32(k), storage.pointer) }
    }

    /// The packed bytes (64-byte aligned).
    var packed: UnsafePointer<Int8> { UnsafePointer(storage.pointer) }

    /// `rows` rows of `a` (stride `lda`, each readable to `k` rounded up to 4) times these
    /// weights, through the epilogue `e`.
    func multiply(_ isa: Int8ISA, rows: Int, _ a: UnsafePointer<UInt8>, lda: Int, _ e: inout ls_qepilogue) {
        ls_qgemm(Int32(isa.rawValue), Int32(rows), Int32(n), Int32(k), a, Int32(lda), packed, &e)
    }

    /// The same product with each row read where it lies: `taps` runs of `run` bytes (`k` is
    /// taps x run), the t-th of row m at `ind[m * taps + t]`.
    func multiply(_ isa: Int8ISA, rows: Int, taps: Int, run: Int, _ ind: UnsafePointer<UnsafePointer<UInt8>?>, _ e: inout ls_qepilogue) {
        precondition(taps * run == k && run % 4 == 0, "indirect int8 GEMM: \(taps) runs of \(run) bytes for K = \(k)")
        ls_qgemm_indirect(Int32(isa.rawValue), Int32(rows), Int32(n), Int32(taps), Int32(run), ind, packed, &e)
    }

    /// The same product for a conv on a padded input: rows are output pixels `first` ...
    /// (batch-major), pixel (b, oy, ox) starting at `a + b * plane + oy * rowStep + ox * lda`,
    /// its t-th run of `run` bytes `offsets[t]` further (`ls_qgemm_conv`).
    func multiply(_ isa: Int8ISA, rows: Int, padded a: UnsafePointer<UInt8>, first: Int, outHeight: Int, outWidth: Int, plane: Int,
                  rowStep: Int, lda: Int, offsets: UnsafePointer<Int32>, taps: Int, run: Int, _ e: inout ls_qepilogue) {
        precondition(taps * run == k && run % 4 == 0, "int8 GEMM on a padded input: \(taps) runs of \(run) bytes for K = \(k)")
        ls_qgemm_conv(Int32(isa.rawValue), Int32(rows), Int32(n), a, Int32(first), Int32(outHeight), Int32(outWidth), plane, rowStep,
                      Int32(lda), Int32(taps), offsets, Int32(run), packed, &e)
    }
}
