import CKernels
import Foundation

/// An 8-bit activation: NHWC, each pixel's channels padded to a multiple of 4 bytes (the
/// GEMM reads channels four at a time; the padding meets zero weights) when there are 4 or
/// more, packed when fewer (an image's 1 or 3: a kernel row of pixels is one run of bytes),
/// with the range that maps its bytes to real values. Owned by the unit that writes it.
final class QTensor {
    let shape: Shape
    private(set) var batch = 0
    /// Bytes per pixel: channels rounded up to 4, or fewer than 4 as they are.
    let pixelStride: Int
    var range: QuantizedRange
    /// Owned memory, not an array: a unit reads its input while writing its output, and a
    /// block's first conv may read the block's input as its residual, all at once.
    private var bytes: UnsafeMutablePointer<UInt8>

    init(_ shape: Shape, range: QuantizedRange) {
        self.shape = shape
        self.range = range
        pixelStride = Self.pixelStride(shape.channels)
        bytes = .allocate(capacity: 8)
        bytes.initialize(repeating: 0, count: 8)
    }

    deinit { bytes.deallocate() }

    /// A tensor of the same shape and range with bytes of its own (empty until resized).
    func emptyCopy() -> QTensor { QTensor(shape, range: range) }

    /// Bytes per pixel for `channels`.
    static func pixelStride(_ channels: Int) -> Int { channels < 4 ? channels : (channels + 3) & ~3 }

    var pixels: Int { shape.height * shape.width }

    /// Bytes allocated (the memory only grows: an image lane's last, smaller share reuses it).
    private var capacity = 8

    func resize(batch: Int) {
        guard batch != self.batch else { return }
        self.batch = batch
        // slack: the GEMM reads a row's channels in fours, the im2col copies in words of eight
        let count = batch * pixels * pixelStride + 8
        guard count > capacity else { return }
        bytes.deallocate()
        bytes = .allocate(capacity: count)
        bytes.initialize(repeating: 0, count: count)
        capacity = count
    }

    func withBytes<T>(_ body: (UnsafeMutablePointer<UInt8>) throws -> T) rethrows -> T {
        try body(bytes)
    }
}

/// One step of the int8 network: reads an 8-bit tensor, writes its own.
protocol QuantizedUnit: AnyObject {
    var output: QTensor { get }
    /// `residual`: a tensor of the output's shape to add before the activation (a ResNet
    /// block's shortcut), fused into the last conv of the block's body.
    func run(_ x: QTensor, residual: QTensor?, isa: Int8ISA)
    /// A unit computing the same with buffers of its own (the weights shared): another
    /// thread runs it on other images at the same time (`QuantizedNetwork`'s image lanes).
    func replica() -> QuantizedUnit
}

/// The epilogue's parameters for the output channels of a conv: where the sums go and how
/// they become bytes.
struct Requantization {
    var offset: [Int32]
    var scale: [Float]
    var bias: [Float]
    var lo: Float, hi: Float

    /// Calls `body` with a filled `ls_qepilogue` writing to `out` (or `outFloat`).
    func with(out: QTensor, residual: QTensor?, outBase: Int, residualBase: Int,
              _ body: (inout ls_qepilogue) -> Void) {
        offset.withUnsafeBufferPointer { o in
            scale.withUnsafeBufferPointer { s in
                bias.withUnsafeBufferPointer { b in
                    out.withBytes { y in
                        func go(_ r: UnsafeMutablePointer<UInt8>?) {
                            var e = ls_qepilogue()
                            e.offset = o.baseAddress; e.scale = s.baseAddress; e.bias = b.baseAddress
                            e.lo = lo; e.hi = hi
                            e.out_inv_scale = 1 / out.range.scale; e.out_zp = Int32(out.range.zeroPoint)
                            e.out = y + outBase; e.ldo = Int32(out.pixelStride)
                            if let r, let residual {
                                e.residual = UnsafePointer(r + residualBase); e.ldr = Int32(residual.pixelStride)
                                e.residual_scale = residual.range.scale; e.residual_zp = Int32(residual.range.zeroPoint)
                            }
                            body(&e)
                        }
                        if let residual { residual.withBytes { go($0) } } else { go(nil) }
                    }
                }
            }
        }
    }
}

/// The clamp of a fused activation, in real units.
func activationBounds(_ kind: ActivationKind?) -> (Float, Float) {
    switch kind {
    case .relu?: (0, .infinity)
    case .relu6?: (0, 6)
    default: (-.infinity, .infinity)
    }
}

/// Weights of a conv with its batch norm folded in: w' = w * gamma / sqrt(var + eps),
/// b' = (b - mean) * gamma / sqrt(var + eps) + beta, quantized symmetric per output channel.
struct FoldedWeights {
    /// [out][per-channel values] in the conv's own order ([in/groups][kh][kw]).
    var weights: [[Float]]
    var bias: [Float]

    init(weight: Parameter, bias convBias: Parameter?, outChannels: Int, bn: BatchNorm2d?) {
        let per = weight.value.count / outChannels
        var w: [[Float]] = [], b: [Float] = []
        for o in 0..<outChannels {
            var factor: Float = 1, shift: Float = 0
            let b0 = convBias.map { $0.value[o] } ?? 0
            if let bn {
                factor = bn.weight.value[o] / (bn.runningVar[o] + bn.epsilon).squareRoot()
                shift = bn.bias.value[o] - bn.runningMean[o] * factor
            }
            w.append((0..<per).map { weight.value[o * per + $0] * factor })
            b.append(b0 * factor + shift)
        }
        weights = w
        bias = b
    }

    /// Per output channel: the int8 values and their scale (largest |w| maps to 127).
    func quantized() -> (values: [[Int8]], scales: [Float]) {
        var values: [[Int8]] = [], scales: [Float] = []
        for row in weights {
            let top = row.reduce(Float(0)) { max($0, abs($1)) }
            let s = top > 0 ? top / 127 : 1
            scales.append(s)
            values.append(row.map { Int8(max(-127, min(127, ($0 / s).rounded(.toNearestOrEven)))) })
        }
        return (values, scales)
    }
}

/// How a conv reads its patches (the rows of its GEMM). Every way gives the same sums, so
/// the same bytes; they differ in speed.
public enum PatchReading: String, Sendable, CaseIterable {
    /// On a copy of the input with its padding (the zero point) around it, each run of an
    /// output pixel's patch lies at a fixed distance from the pixel's start (`ls_qgemm_conv`):
    /// neither pointers nor copied patches. A run per kernel position where a pixel's bytes
    /// are whole fours (4 or more channels), a run per kernel row for an image's packed 1 or 3.
    /// The default.
    case padded
    /// A pointer per tap and output pixel into the input (`ls_qgemm_indirect`). Needs pixels
    /// of whole fours; a conv on an image's packed channels copies instead.
    case pointers
    /// The patches copied first (im2col): any input, the only way for an image's packed 1 or 3 channels.
    case copies
}

/// A conv (groups 1) with its batch norm and activation folded: the int8 GEMM with the
/// requantization fused, reading its patches one of the ways of `PatchReading` (on a padded
/// copy of the input by default: a tap per kernel position where a pixel's bytes are whole
/// fours, a run per kernel row for an image's packed 1 or 3 channels); a 1x1 stride-1 conv
/// reads the input as it is.
final class QuantizedConv: QuantizedUnit {
    let geometry: ConvGeometry
    let output: QTensor
    let weights: PackedInt8Weights
    let requant: Requantization
    /// Bytes of one im2col row: taps x the input's pixel stride, rounded up to 4.
    let patch: Int
    let inputZeroPoint: Int
    /// How the patches are read; settable for the benchmarks and the tests that compare the
    /// ways (`pointers` only where `canUsePointers`, else `copies`).
    var reading: PatchReading = .padded {
        didSet { if reading == .pointers && !canUsePointers { reading = .copies } }
    }
    /// Whether a pointer per tap can read the input: each tap's bytes a whole number of fours.
    let canUsePointers: Bool
    /// One pixel of the input's zero point: what a tap outside the image reads through a pointer.
    private let outside: [UInt8]
    /// The padded input's runs per output pixel: one per kernel position (pixels of whole
    /// fours), or one per kernel row (an image's packed 1 or 3 channels: the row's pixels,
    /// rounded up to 4 bytes with zero weights for the bytes past them, which belong to the next pixels).
    let paddedTaps: Int, paddedRun: Int
    /// Each run's distance from the first in the padded input, in bytes.
    private let tapOffsets: [Int32]
    /// The padded input's pixels a row, and bytes an image.
    private let paddedWidth: Int, paddedPlane: Int
    /// The weights in the padded runs' order (`weights` itself when the runs are the taps).
    let paddedWeights: PackedInt8Weights
    /// The padded input: the zero point around a copy of the input's pixels.
    private var padded: UnsafeMutablePointer<UInt8>
    private var paddedImages = 0
    private var columns: [UInt8] = []
    private var pointers: [UnsafePointer<UInt8>?] = []

    init(_ g: ConvGeometry, folded: FoldedWeights, input: QuantizedRange, output range: QuantizedRange, activation: ActivationKind?) throws {
        precondition(g.groups == 1, "int8 conv with groups")
        // the patches' copy and their pointers walk k x k taps
        guard g.kernelH == g.kernelW else { throw NeuralError.invalidSpec("an int8 conv needs a square kernel, not \(g.kernelH)x\(g.kernelW)") }
        geometry = g
        let cin = g.inChannels, taps = g.kernelH * g.kernelW, ldx = QTensor.pixelStride(cin)
        patch = (taps * ldx + 3) & ~3
        // the int32 sums: every product at most 255 x 127, plus the zero point's offset
        guard Int64(patch) * 255 * 127 * 2 < Int64(Int32.max) else {
            throw NeuralError.invalidSpec("a conv of \(cin) channels and \(g.kernelH)x\(g.kernelW) taps sums more products than int8 inference can hold")
        }
        inputZeroPoint = input.zeroPoint
        canUsePointers = ldx % 4 == 0
        outside = [UInt8](repeating: UInt8(input.zeroPoint), count: ldx)
        let width = g.inWidth + 2 * g.padding
        (paddedWidth, paddedPlane) = (width, (g.inHeight + 2 * g.padding) * width * ldx)
        if canUsePointers {
            paddedTaps = taps
            paddedRun = ldx
            tapOffsets = (0..<taps).map { t in Int32(((t / g.kernelW) * width + t % g.kernelW) * ldx) }
        } else {
            paddedTaps = g.kernelH
            paddedRun = (g.kernelW * ldx + 3) & ~3
            tapOffsets = (0..<g.kernelH).map { Int32($0 * width * ldx) }
        }
        padded = .allocate(capacity: 1)
        output = QTensor(Shape(g.outChannels, g.outHeight, g.outWidth), range: range)
        let (q, scales) = folded.quantized()
        // [out][ky][kx][in, zeros to the input's pixel stride] from [out][in][ky][kx]
        var packed = [Int8](repeating: 0, count: g.outChannels * patch)
        var offset = [Int32](repeating: 0, count: g.outChannels)
        for o in 0..<g.outChannels {
            var sum: Int64 = 0
            for c in 0..<cin {
                for t in 0..<taps {
                    let v = q[o][c * taps + t]
                    packed[o * patch + t * ldx + c] = v
                    sum += Int64(v)
                }
            }
            offset[o] = Int32(-Int64(input.zeroPoint) * sum)   // |sum| <= patch x 127: inside by the guard above
        }
        weights = PackedInt8Weights(packed, n: g.outChannels, k: patch)
        if canUsePointers {
            paddedWeights = weights
        } else {
            // [out][ky][kx, in: the kernel row's pixels as they lie][zeros to the run]
            let per = paddedTaps * paddedRun
            var rows = [Int8](repeating: 0, count: g.outChannels * per)
            for o in 0..<g.outChannels {
                for c in 0..<cin {
                    for t in 0..<taps {
                        rows[o * per + (t / g.kernelW) * paddedRun + (t % g.kernelW) * ldx + c] = q[o][c * taps + t]
                    }
                }
            }
            paddedWeights = PackedInt8Weights(rows, n: g.outChannels, k: per)
        }
        let (lo, hi) = activationBounds(activation)
        requant = Requantization(offset: offset, scale: scales.map { $0 * input.scale }, bias: folded.bias, lo: lo, hi: hi)
    }

    /// The same conv (weights, offsets, way of reading) with buffers of its own.
    private init(replicating o: QuantizedConv) {
        geometry = o.geometry
        output = o.output.emptyCopy()
        weights = o.weights
        requant = o.requant
        patch = o.patch
        inputZeroPoint = o.inputZeroPoint
        canUsePointers = o.canUsePointers
        outside = o.outside
        (paddedTaps, paddedRun, tapOffsets) = (o.paddedTaps, o.paddedRun, o.tapOffsets)
        (paddedWidth, paddedPlane) = (o.paddedWidth, o.paddedPlane)
        paddedWeights = o.paddedWeights
        padded = .allocate(capacity: 1)
        reading = o.reading
    }

    func replica() -> QuantizedUnit { QuantizedConv(replicating: self) }

    deinit { padded.deallocate() }

    /// A 1x1 stride-1 conv multiplies the input bytes as they are.
    var isPointwise: Bool { geometry.kernelH == 1 && geometry.kernelW == 1 && geometry.stride == 1 && geometry.padding == 0 }

    /// Rows of patches made and multiplied at a time: they stay in the core's cache (about
    /// 512 KiB) while every output channel reads them, and there are enough of them (64 at
    /// least) that the weights, streamed once per block, are not read too often.
    var blockRows: Int { max(64, (512 * 1024 / max(1, patch)) & ~7) }

    /// Copies the input's pixels into the padding (`padded`), which keeps the zero point it
    /// was made with; returns the padded bytes. The buffer only grows: images past the
    /// batch, and the slack, are read only as the bytes past a packed row, which meet zero
    /// weights.
    private func pad(_ x: QTensor) -> UnsafePointer<UInt8> {
        let g = geometry, batch = x.batch, ldx = x.pixelStride, plane = paddedPlane
        if paddedImages < batch {
            padded.deallocate()
            // slack: the GEMM reads a packed row's run in fours, up to 3 bytes past it
            padded = .allocate(capacity: batch * plane + 64)
            padded.initialize(repeating: UInt8(inputZeroPoint), count: batch * plane + 64)
            paddedImages = batch
        }
        let rowBytes = g.inWidth * ldx, width = paddedWidth, to = padded
        x.withBytes { xs in
            Parallel.forEachChunk(batch * g.inHeight, work: batch * g.inHeight * rowBytes) { range in
                for r in range {
                    let (b, y) = r.quotientAndRemainder(dividingBy: g.inHeight)
                    (to + b * plane + ((y + g.padding) * width + g.padding) * ldx).update(from: xs + r * rowBytes, count: rowBytes)
                }
            }
        }
        return UnsafePointer(padded)
    }

    /// Blocks of output pixels across the batch, each worker its share.
    func run(_ x: QTensor, residual: QTensor?, isa: Int8ISA) {
        let g = geometry, batch = x.batch
        output.resize(batch: batch)
        let rows = batch * g.outPlane
        let work = rows * patch * g.outChannels
        let c = Compute.current()
        let chunks = work < c.minimumParallelWork ? 1 : min(c.threads, max(1, rows / 8))
        let block = min(blockRows, rows)
        let taps = g.kernelH * g.kernelW
        let way: PatchReading? = isPointwise ? nil : reading
        // without padding the input is its own padded copy (a packed row's last bytes read
        // into the tensor's slack)
        let source = way == .padded && g.padding > 0 ? pad(x) : nil
        let plane = paddedPlane
        // each worker's block: its pointers, or its patches with the 8 bytes the im2col's last
        // word may spill, rounded to a cache line
        let slot = way == .pointers ? block * taps : (block * patch + 8 + 63) & ~63
        if way == .pointers && pointers.count < chunks * slot { pointers = [UnsafePointer<UInt8>?](repeating: nil, count: chunks * slot) }
        if way == .copies && columns.count < chunks * slot { columns = [UInt8](repeating: 0, count: chunks * slot) }
        x.withBytes { xs in
            columns.withUnsafeMutableBufferPointer { colBuffer in
                pointers.withUnsafeMutableBufferPointer { pointerBuffer in
                    outside.withUnsafeBufferPointer { zeros in
                        tapOffsets.withUnsafeBufferPointer { offsets in
                        let cols = colBuffer.baseAddress, ptrs = pointerBuffer.baseAddress
                        Parallel.forEachWorker(rows, workers: chunks) { worker, range in
                            var start = range.lowerBound
                            while start < range.upperBound {
                                let end = way == nil ? range.upperBound : min(range.upperBound, start + block)
                                requant.with(out: output, residual: residual, outBase: start * output.pixelStride,
                                             residualBase: start * (residual?.pixelStride ?? 0)) { e in
                                    switch way {
                                    case nil:
                                        weights.multiply(isa, rows: end - start, UnsafePointer(xs + start * x.pixelStride), lda: x.pixelStride, &e)
                                    case .padded?:
                                        paddedWeights.multiply(isa, rows: end - start, padded: source ?? UnsafePointer(xs), first: start, outHeight: g.outHeight,
                                                               outWidth: g.outWidth, plane: plane, rowStep: g.stride * paddedWidth * x.pixelStride,
                                                               lda: g.stride * x.pixelStride, offsets: offsets.baseAddress!, taps: paddedTaps,
                                                               run: paddedRun, &e)
                                    case .pointers?:
                                        let ind = ptrs! + worker * slot
                                        ls_indirection_u8(xs, Int32(g.inHeight), Int32(g.inWidth), Int32(x.pixelStride), zeros.baseAddress,
                                                          Int32(g.kernelH), Int32(g.stride), Int32(g.padding), Int32(g.outHeight),
                                                          Int32(g.outWidth), Int32(start), Int32(end), ind)
                                        weights.multiply(isa, rows: end - start, taps: taps, run: x.pixelStride, UnsafePointer(ind), &e)
                                    case .copies?:
                                        let scratch = cols! + worker * slot
                                        ls_im2col_u8(xs, Int32(g.inHeight), Int32(g.inWidth), Int32(x.pixelStride), Int32(inputZeroPoint),
                                                     Int32(g.kernelH), Int32(g.stride), Int32(g.padding), Int32(g.outHeight),
                                                     Int32(g.outWidth), Int32(start), Int32(end), scratch, Int32(patch))
                                        weights.multiply(isa, rows: end - start, UnsafePointer(scratch), lda: patch, &e)
                                    }
                                }
                                start = end
                            }
                        }
                        }
                    }
                }
            }
        }
    }
}

/// A depthwise conv with its batch norm and activation folded (`ls_qdepthwise`).
final class QuantizedDepthwise: QuantizedUnit {
    let geometry: ConvGeometry
    let output: QTensor
    /// [ky * k + kx][channel]
    let taps: [Int8]
    let requant: Requantization
    let inputZeroPoint: Int

    init(_ g: ConvGeometry, folded: FoldedWeights, input: QuantizedRange, output range: QuantizedRange, activation: ActivationKind?) {
        geometry = g
        inputZeroPoint = input.zeroPoint
        output = QTensor(Shape(g.outChannels, g.outHeight, g.outWidth), range: range)
        let (q, scales) = folded.quantized(), k2 = g.kernelH * g.kernelW, c = g.inChannels
        var t = [Int8](repeating: 0, count: k2 * c)
        for ch in 0..<c { for i in 0..<k2 { t[i * c + ch] = q[ch][i] } }
        taps = t
        let (lo, hi) = activationBounds(activation)
        requant = Requantization(offset: [Int32](repeating: 0, count: c), scale: scales.map { $0 * input.scale }, bias: folded.bias, lo: lo, hi: hi)
    }

    private init(replicating o: QuantizedDepthwise) {
        (geometry, output, taps, requant, inputZeroPoint) = (o.geometry, o.output.emptyCopy(), o.taps, o.requant, o.inputZeroPoint)
    }

    func replica() -> QuantizedUnit { QuantizedDepthwise(replicating: self) }

    func run(_ x: QTensor, residual: QTensor?, isa: Int8ISA) {
        let g = geometry
        output.resize(batch: x.batch)
        let c = Compute.current()
        let work = x.batch * g.outPlane * g.inChannels * g.kernelH * g.kernelW
        let workers = work < c.minimumParallelWork ? 1 : c.threads
        x.withBytes { xs in
            taps.withUnsafeBufferPointer { w in
                Parallel.forEachWorker(x.batch * g.outHeight, workers: workers) { _, range in
                    for r in range {
                        let (b, oy) = r.quotientAndRemainder(dividingBy: g.outHeight)
                        requant.with(out: output, residual: residual, outBase: b * g.outPlane * output.pixelStride,
                                     residualBase: b * g.outPlane * (residual?.pixelStride ?? 0)) { e in
                            ls_qdepthwise(xs + b * g.inPlane * x.pixelStride, Int32(g.inHeight), Int32(g.inWidth), Int32(g.inChannels),
                                          Int32(x.pixelStride), Int32(inputZeroPoint), w.baseAddress, Int32(g.kernelH), Int32(g.stride),
                                          Int32(g.padding), Int32(g.outHeight), Int32(g.outWidth), Int32(oy), 1, &e)
                        }
                    }
                }
            }
        }
    }
}

/// Max or average pooling on the bytes, in the input's range (max is exact on bytes; the
/// average counts padding as zero, as the fp32 layer does, rounded half to even).
final class QuantizedPool: QuantizedUnit {
    let geometry: ConvGeometry
    let isMax: Bool
    let output: QTensor

    init(_ g: ConvGeometry, isMax: Bool, range: QuantizedRange) throws {
        guard g.kernelH * g.kernelW * 255 < Int(Int32.max) else {
            throw NeuralError.invalidSpec("a \(g.kernelH)x\(g.kernelW) pool window is too large for int8 inference")
        }
        geometry = g
        self.isMax = isMax
        output = QTensor(Shape(g.inChannels, g.outHeight, g.outWidth), range: range)
    }

    private init(replicating o: QuantizedPool) {
        (geometry, isMax, output) = (o.geometry, o.isMax, o.output.emptyCopy())
    }

    func replica() -> QuantizedUnit { QuantizedPool(replicating: self) }

    func run(_ x: QTensor, residual: QTensor?, isa: Int8ISA) {
        let g = geometry
        output.resize(batch: x.batch)
        output.range = x.range
        let work = x.batch * g.outPlane * g.inChannels * g.kernelH * g.kernelW
        x.withBytes { xs in
            output.withBytes { ys in
                Parallel.forEachChunk(x.batch * g.outHeight, work: work) { range in
                    for r in range {
                        let (b, oy) = r.quotientAndRemainder(dividingBy: g.outHeight)
                        ls_qpool_u8(xs + b * g.inPlane * x.pixelStride, Int32(g.inHeight), Int32(g.inWidth), Int32(g.inChannels), Int32(x.pixelStride),
                                    Int32(x.range.zeroPoint), Int32(g.kernelH), Int32(g.stride), Int32(g.padding), Int32(g.outHeight), Int32(g.outWidth),
                                    Int32(oy), 1, isMax ? 1 : 0, ys + b * g.outPlane * output.pixelStride, Int32(output.pixelStride))
                    }
                }
            }
        }
    }
}

/// A ResNet block: the shortcut (its units, or the block's input itself), then the body,
/// whose last conv adds the shortcut and applies the block's ReLU in its epilogue.
final class QuantizedResidual: QuantizedUnit {
    let body: [QuantizedUnit]
    let shortcut: [QuantizedUnit]
    var output: QTensor { body.last!.output }

    init(body: [QuantizedUnit], shortcut: [QuantizedUnit]) {
        self.body = body
        self.shortcut = shortcut
    }

    func replica() -> QuantizedUnit { QuantizedResidual(body: body.map { $0.replica() }, shortcut: shortcut.map { $0.replica() }) }

    func run(_ x: QTensor, residual: QTensor?, isa: Int8ISA) {
        var s = x
        for u in shortcut { u.run(s, residual: nil, isa: isa); s = u.output }
        var h = x
        for (i, u) in body.enumerated() {
            u.run(h, residual: i == body.count - 1 ? s : nil, isa: isa)
            h = u.output
        }
    }
}
