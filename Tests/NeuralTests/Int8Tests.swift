import CKernels
import Foundation
import Testing
@testable import Neural

/// The int8 GEMM: every variant this CPU can run stores the very bytes of the plain C twin,
/// and the twin stores what the formula says, computed here independently in Swift.
@Suite("int8 kernels")
struct Int8KernelTests {
    struct Case: CustomStringConvertible {
        var rows: Int, n: Int, k: Int, residual: Bool, relu: Bool, floats: Bool
        var description: String { "\(rows)x\(n)x\(k)\(residual ? " +residual" : "")\(relu ? " relu" : "")\(floats ? " f32" : "")" }
    }

    static let cases: [Case] = [
        Case(rows: 1, n: 1, k: 1, residual: false, relu: false, floats: false),
        Case(rows: 7, n: 16, k: 4, residual: false, relu: true, floats: false),
        Case(rows: 13, n: 33, k: 27, residual: true, relu: true, floats: false),
        Case(rows: 64, n: 64, k: 576, residual: false, relu: true, floats: false),
        Case(rows: 9, n: 70, k: 301, residual: true, relu: false, floats: false),
        Case(rows: 17, n: 48, k: 144, residual: false, relu: false, floats: true),
        Case(rows: 100, n: 10, k: 8, residual: true, relu: true, floats: true),
        Case(rows: 77, n: 96, k: 200, residual: true, relu: true, floats: false),
        Case(rows: 32, n: 17, k: 64, residual: false, relu: false, floats: true),
        // four blocks, the last one partial: the 6 x 64 kernel's partial tile
        Case(rows: 11, n: 60, k: 36, residual: true, relu: true, floats: false),
        Case(rows: 25, n: 128, k: 96, residual: false, relu: true, floats: true),
        // 6 x 64, then 8 x 32 full, then one block (64 + 32 + 16); 6 x 64, then a partial 8 x 32 (64 + 20)
        Case(rows: 19, n: 112, k: 48, residual: true, relu: false, floats: false),
        Case(rows: 14, n: 84, k: 64, residual: false, relu: true, floats: false),
        // more than 4,096 groups of four bytes a row: the 8 x 32 and block kernels on contiguous rows
        Case(rows: 7, n: 48, k: 16_400, residual: false, relu: false, floats: true),
    ]

    /// What one output must be: the epilogue's formula in Swift, in the same float steps.
    func expected(_ c: Case, a: [UInt8], lda: Int, w: [Int8], offset: [Int32], scale: [Float], bias: [Float], residual: [UInt8],
                  outScale: Float, outZero: Int) -> (bytes: [UInt8], floats: [Float]) {
        var bytes = [UInt8](repeating: 0, count: c.rows * c.n), floats = [Float](repeating: 0, count: c.rows * c.n)
        for m in 0..<c.rows {
            for j in 0..<c.n {
                var acc: Int32 = 0
                for i in 0..<c.k { acc += Int32(a[m * lda + i]) * Int32(w[j * c.k + i]) }
                var v = Float(acc + offset[j]) * scale[j]
                v = v + bias[j]
                if c.residual { v = v + Float(Int(residual[m * c.n + j]) - 117) * 0.03 }
                v = min(max(v, c.relu ? 0 : -.infinity), .infinity)
                floats[m * c.n + j] = v
                let q = (v * (1 / outScale)).rounded(.toNearestOrEven) + Float(outZero)
                bytes[m * c.n + j] = UInt8(max(0, min(255, q)))
            }
        }
        return (bytes, floats)
    }

    /// How the rows of A are read: contiguous, through a pointer per run, or as a conv on a
    /// padded input (output pixel first + m = (b, oy, ox) starts at b * plane + oy * rowStep +
    /// ox * lda, its run t offsets[t] further).
    enum Rows {
        case contiguous
        case pointers(taps: Int, run: Int, [UnsafePointer<UInt8>?])
        case padded(taps: Int, run: Int, first: Int, ow: Int, oh: Int, plane: Int, rowStep: Int, lda: Int, offsets: [Int32], UnsafePointer<UInt8>)
    }

    @Test("each variant equals the plain twin and the formula, rows contiguous or read in place", arguments: cases)
    func variants(_ c: Case) throws {
        var rng = SeededGenerator(seed: UInt64(c.rows * 1000 + c.n * 10 + c.k))
        let lda = (c.k + 3) & ~3 + 4
        let a = (0..<(c.rows * lda + 64)).map { _ in UInt8(truncatingIfNeeded: Int(rng.uniform(0, 256))) }
        let w = (0..<(c.n * c.k)).map { _ in Int8(max(-127, min(127, Int(rng.uniform(-128, 128))))) }
        let offset = (0..<c.n).map { _ in Int32(rng.uniform(-5000, 5000)) }
        let scale = (0..<c.n).map { _ in rng.uniform(1e-5, 1e-4) }, bias = (0..<c.n).map { _ in rng.uniform(-1, 1) }
        let residual = (0..<(c.rows * c.n)).map { _ in UInt8(truncatingIfNeeded: Int(rng.uniform(0, 256))) }
        let packed = PackedInt8Weights(w, n: c.n, k: c.k)
        let want = expected(c, a: a, lda: lda, w: w, offset: offset, scale: scale, bias: bias, residual: residual, outScale: 0.02, outZero: 31)
        // outputs that vary, or equality would prove little
        #expect(Set(want.bytes).count > min(8, c.rows * c.n / 2), "\(c): the expected bytes hardly vary")
        // the same rows read in place (the indirect GEMM of a conv): each row's K bytes cut into
        // runs, every run copied to its own place in another buffer, in shuffled order
        var runs: [Rows] = [.contiguous]
        let run = [64, 16, 8, 4].first { c.k % $0 == 0 } ?? 0
        let scatteredBytes = UnsafeMutablePointer<UInt8>.allocate(capacity: max(1, c.rows * c.k + 64))
        defer { scatteredBytes.deallocate() }
        // the padded layout: 3 pixels a row, 2 rows an image, gaps between rows and images, starting at pixel 1
        let ow = 3, oh = 2, first = 1, pixelLda = c.k + 12, rowStep = ow * pixelLda + 8, plane = oh * rowStep + 20
        let paddedBytes = UnsafeMutablePointer<UInt8>.allocate(capacity: ((c.rows + first) / (ow * oh) + 1) * plane + 64)
        defer { paddedBytes.deallocate() }
        // a marker in the gaps, so that a run read from a wrong place reads bytes of its own
        paddedBytes.initialize(repeating: 0xA5, count: ((c.rows + first) / (ow * oh) + 1) * plane + 64)
        if run > 0 {
            let taps = c.k / run
            var places = Array(0..<(c.rows * taps))
            places.shuffle(using: &rng)
            var pointers = [UnsafePointer<UInt8>?](repeating: nil, count: c.rows * taps)
            for m in 0..<c.rows {
                for t in 0..<taps {
                    let to = scatteredBytes + places[m * taps + t] * run
                    for i in 0..<run { to[i] = a[m * lda + t * run + i] }
                    pointers[m * taps + t] = UnsafePointer(to)
                }
            }
            runs.append(.pointers(taps: taps, run: run, pointers))
            // a conv on a padded input: each pixel's runs in shuffled order after its start
            var order = Array(0..<taps)
            order.shuffle(using: &rng)
            let offsets = order.map { Int32($0 * run) }
            for m in 0..<c.rows {
                let p = first + m, start = p / (ow * oh) * plane + p % (ow * oh) / ow * rowStep + p % ow * pixelLda
                for t in 0..<taps {
                    for i in 0..<run { paddedBytes[start + Int(offsets[t]) + i] = a[m * lda + t * run + i] }
                }
            }
            runs.append(.padded(taps: taps, run: run, first: first, ow: ow, oh: oh, plane: plane, rowStep: rowStep, lda: pixelLda,
                                offsets: offsets, UnsafePointer(paddedBytes)))
        }
        for rows in runs {
            let how = switch rows {
            case .contiguous: ""
            case let .pointers(taps, run, _): " (read in place, \(taps) runs of \(run))"
            case let .padded(taps, run, _, _, _, _, _, _, _, _): " (a conv on a padded input, \(taps) runs of \(run))"
            }
            for isa in Int8ISA.allCases where isa.isAvailable {
                var bytes = [UInt8](repeating: 0, count: c.rows * c.n), floats = [Float](repeating: .nan, count: c.rows * c.n)
                offset.withUnsafeBufferPointer { o in scale.withUnsafeBufferPointer { s in bias.withUnsafeBufferPointer { b in
                    residual.withUnsafeBufferPointer { r in bytes.withUnsafeMutableBufferPointer { y in floats.withUnsafeMutableBufferPointer { f in
                        a.withUnsafeBufferPointer { x in
                            var e = ls_qepilogue()
                            e.offset = o.baseAddress; e.scale = s.baseAddress; e.bias = b.baseAddress
                            if c.residual { e.residual = r.baseAddress; e.ldr = Int32(c.n); e.residual_scale = 0.03; e.residual_zp = 117 }
                            e.lo = c.relu ? 0 : -.infinity; e.hi = .infinity
                            e.out_inv_scale = 1 / 0.02; e.out_zp = 31; e.ldo = Int32(c.n)
                            if c.floats { e.out_f32 = f.baseAddress } else { e.out = y.baseAddress }
                            switch rows {
                            case .contiguous:
                                packed.multiply(isa, rows: c.rows, x.baseAddress!, lda: lda, &e)
                            case let .pointers(taps, run, pointers):
                                pointers.withUnsafeBufferPointer { packed.multiply(isa, rows: c.rows, taps: taps, run: run, $0.baseAddress!, &e) }
                            case let .padded(taps, run, first, ow, oh, plane, rowStep, pixelLda, offsets, bytes):
                                offsets.withUnsafeBufferPointer {
                                    packed.multiply(isa, rows: c.rows, padded: bytes, first: first, outHeight: oh, outWidth: ow, plane: plane,
                                                    rowStep: rowStep, lda: pixelLda, offsets: $0.baseAddress!, taps: taps, run: run, &e)
                                }
                            }
                        }
                    } } }
                } } }
                if c.floats {
                    #expect(floats == want.floats, "\(isa) \(c)\(how): dequantized outputs differ")
                } else {
                    let wrong = zip(bytes, want.bytes).filter { $0 != $1 }.count
                    #expect(wrong == 0, "\(isa) \(c)\(how): \(wrong) of \(bytes.count) bytes differ from the formula")
                }
            }
        }
    }

    @Test("the CPU's best variant is found and the lower ones are available")
    func dispatch() {
        let best = Int8ISA.best
        #expect(best.isAvailable && Int8ISA.baseline.isAvailable)
        for isa in Int8ISA.allCases where isa.rawValue < best.rawValue && isa != .avxVNNI { #expect(isa.isAvailable) }
        // under qemu-user (scripts/check-baseline.sh) /proc/cpuinfo is the host's
        if FloatISATests.emulatedBaseline { #expect(best == .baseline); return }
        let flags = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        if flags.contains(" avx512_vnni") && flags.contains(" avx512bw") { #expect(best == .avx512VNNI) }
        if !flags.contains(" avx2") { #expect(best == .baseline) }
        #expect(!Int8ISA.cpuSummary.isEmpty)
    }
}

extension Int8KernelTests {
    @Test("input quantization (NCHW floats to NHWC bytes) == the formula, for 1-8 channels, tails, NaN and infinities")
    func quantizeInput() {
        var rng = SeededGenerator(seed: 31)
        for c in 1...8 {
            let ldo = c < 4 ? c : (c + 3) / 4 * 4, plane = 13, scale: Float = 0.037, zp = 17
            var x = (0..<(c * plane)).map { _ in rng.normal() * 5 }
            x[0] = .nan; x[1] = .infinity; x[2] = -.infinity; x[3] = 1e30; x[4] = 0.5 * scale  // half: to even
            var out = [UInt8](repeating: 0xAB, count: plane * ldo)
            x.withUnsafeBufferPointer { xs in out.withUnsafeMutableBufferPointer { ls_quantize_u8(xs.baseAddress, Int32(c), Int32(plane), scale, Int32(zp), $0.baseAddress, Int32(ldo)) } }
            let inv = 1 / scale
            for p in 0..<plane {
                for ch in 0..<ldo {
                    let want: UInt8
                    if ch >= c {
                        want = 0
                    } else {
                        let v = x[ch * plane + p]
                        if v.isNaN { want = UInt8(zp) } else {
                            let t = min(max(v * inv, -512), 512)
                            want = UInt8(min(max(Int(t.rounded(.toNearestOrEven)) + zp, 0), 255))
                        }
                    }
                    #expect(out[p * ldo + ch] == want, "c \(c) pixel \(p) channel \(ch): \(out[p * ldo + ch]) != \(want)")
                }
            }
        }
    }
}

extension Int8KernelTests {
    @Test("the channel means of bytes (the int8 tail's global pool) == the mean of the dequantized plane, past 256 channels, with padding bytes")
    func dequantizeMean() {
        var rng = SeededGenerator(seed: 37)
        for (c, plane) in [(1, 49), (3, 7), (4, 1), (17, 64), (300, 9)] {
            let ldx = c < 4 ? c : (c + 3) / 4 * 4 + 4, scale: Float = 0.0213, zp = 131
            let bytes = (0..<(plane * ldx)).map { _ in UInt8(rng.next() % 256) }
            var plain = [Float](repeating: 0, count: c * plane), means = [Float](repeating: .nan, count: c)
            bytes.withUnsafeBufferPointer { b in
                plain.withUnsafeMutableBufferPointer { ls_dequantize_u8(b.baseAddress, Int32(c), Int32(plane), Int32(ldx), scale, Int32(zp), $0.baseAddress) }
                means.withUnsafeMutableBufferPointer { ls_dequantize_mean_u8(b.baseAddress, Int32(c), Int32(plane), Int32(ldx), scale, Int32(zp), $0.baseAddress) }
            }
            for ch in 0..<c {
                let want = (0..<plane).reduce(0.0) { $0 + Double(plain[ch * plane + $1]) } / Double(plane)
                #expect(abs(Double(means[ch]) - want) <= 1e-5 * max(1, abs(want)), "c \(c) channel \(ch): \(means[ch]) != \(want)")
            }
        }
    }
}
