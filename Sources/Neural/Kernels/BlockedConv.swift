import CKernels

/// The channel-blocked layout of one sample: channels in blocks of 8, each block a plane
/// of padded rows of 8-float pixels, `[C/8][H+2b][W+2b][8]`, with a zero border of b
/// pixels (1 unless a 7x7 stem reads it). A conv reading it with padding up to b finds
/// its zeros in place, so no layer packs its input; 8 channels of one pixel are one vector. A last block of fewer than 8
/// channels (a 1- or 3-channel image) leaves its other lanes unused.
public struct BlockedLayout: Hashable, Sendable {
    public static let lanes = 8
    public let channels: Int, height: Int, width: Int, border: Int

    public init(channels: Int, height: Int, width: Int, border: Int = 1) {
        precondition(channels > 0 && height > 0 && width > 0 && border >= 0, "empty blocked layout")
        self.border = border
        self.channels = channels
        self.height = height
        self.width = width
    }

    /// Floats of one padded row, and of one block of 8 channels.
    public var rowStride: Int { (width + 2 * border) * Self.lanes }
    public var blockStride: Int { (height + 2 * border) * rowStride }
    public var count: Int { (channels + Self.lanes - 1) / Self.lanes * blockStride }

    /// Where pixel (y, x) of channel c is.
    @inline(__always)
    public func offset(_ c: Int, _ y: Int, _ x: Int) -> Int {
        (c / Self.lanes) * blockStride + (y + border) * rowStride + (x + border) * Self.lanes + c % Self.lanes
    }

    /// Copies `[C, H, W]` into the interior of a blocked buffer (its border is not written).
    /// Whole blocks of 8 channels go 8 pixels at a time through a transpose in registers.
    public func pack(_ x: UnsafePointer<Float>, into b: UnsafeMutablePointer<Float>, channels range: Range<Int>) {
        let plane = height * width
        let whole = forEachWholeBlock(range) { c, y in
            let src = x + (c * height + y) * width, dst = b + offset(c, y, 0)
            var i = 0
            while i + 8 <= width {
                var m = Transpose8 { src + $0 * plane + i }
                m.transpose()
                m.store { dst + (i + $0) * Self.lanes }
                i += 8
            }
            while i < width {
                for l in 0..<Self.lanes { dst[i * Self.lanes + l] = src[l * plane + i] }
                i += 1
            }
        }
        forEachRow(range.clamped(to: whole.upperBound..<range.upperBound)) { plane, blocked in
            for i in 0..<width { b[blocked + i * Self.lanes] = x[plane + i] }
        }
    }

    /// Copies the interior of a blocked buffer out to `[C, H, W]`.
    public func unpack(_ b: UnsafePointer<Float>, into x: UnsafeMutablePointer<Float>, channels range: Range<Int>) {
        let plane = height * width
        let whole = forEachWholeBlock(range) { c, y in
            let src = b + offset(c, y, 0), dst = x + (c * height + y) * width
            var i = 0
            while i + 8 <= width {
                var m = Transpose8 { UnsafePointer(src + (i + $0) * Self.lanes) }
                m.transpose()
                m.store { dst + $0 * plane + i }
                i += 8
            }
            while i < width {
                for l in 0..<Self.lanes { dst[l * plane + i] = src[i * Self.lanes + l] }
                i += 1
            }
        }
        forEachRow(range.clamped(to: whole.upperBound..<range.upperBound)) { plane, blocked in
            for i in 0..<width { x[plane + i] = b[blocked + i * Self.lanes] }
        }
    }

    /// `body(firstChannel, row)` for every row of the whole blocks of 8 channels at the start
    /// of `range` (which must start on a block, or none are taken); returns the channels done.
    @inline(__always)
    private func forEachWholeBlock(_ range: Range<Int>, _ body: (Int, Int) -> Void) -> Range<Int> {
        guard range.lowerBound % Self.lanes == 0 else { return range.lowerBound..<range.lowerBound }
        let blocks = range.count / Self.lanes
        for k in 0..<blocks {
            for y in 0..<height { body(range.lowerBound + k * Self.lanes, y) }
        }
        return range.lowerBound..<(range.lowerBound + blocks * Self.lanes)
    }

    /// Each image row of each channel: where it starts in `[C, H, W]` and in the blocked buffer.
    @inline(__always)
    private func forEachRow(_ channels: Range<Int>, _ body: (Int, Int) -> Void) {
        for c in channels {
            for y in 0..<height { body((c * height + y) * width, offset(c, y, 0)) }
        }
    }
}

/// An 8x8 block of floats in registers, one vector a row, transposed by three rounds of
/// the perfect unshuffle (each moves a row-index bit into the column index).
struct Transpose8 {
    typealias V = SIMD8<Float>
    var r: (V, V, V, V, V, V, V, V)

    /// Row `k` from the 8 floats at `row(k)`.
    @inline(__always)
    init(_ row: (Int) -> UnsafePointer<Float>) {
        func load(_ k: Int) -> V { UnsafeRawPointer(row(k)).loadUnaligned(as: V.self) }
        r = (load(0), load(1), load(2), load(3), load(4), load(5), load(6), load(7))
    }

    @inline(__always)
    mutating func transpose() {
        for _ in 0..<3 {
            let p0 = SIMD16(lowHalf: r.0, highHalf: r.1), p1 = SIMD16(lowHalf: r.2, highHalf: r.3)
            let p2 = SIMD16(lowHalf: r.4, highHalf: r.5), p3 = SIMD16(lowHalf: r.6, highHalf: r.7)
            r = (p0.evenHalf, p1.evenHalf, p2.evenHalf, p3.evenHalf, p0.oddHalf, p1.oddHalf, p2.oddHalf, p3.oddHalf)
        }
    }

    /// Row `k` to the 8 floats at `row(k)`.
    @inline(__always)
    func store(_ row: (Int) -> UnsafeMutablePointer<Float>) {
        func put(_ k: Int, _ v: V) { UnsafeMutableRawPointer(row(k)).storeBytes(of: v, as: V.self) }
        put(0, r.0); put(1, r.1); put(2, r.2); put(3, r.3); put(4, r.4); put(5, r.5); put(6, r.6); put(7, r.7)
    }
}

/// Direct convolution from one blocked buffer to another (`BlockedLayout`), for
/// inference: any kernel size and stride with padding up to the input's border, ungrouped,
/// output channels a multiple of 8 (16 in training). The micro-kernel (`ls_fconv_blocked`, C, one variant
/// per instruction set, `FloatISA`) keeps 16 output channels x a few output pixels in
/// registers (AVX2: two vectors x 6 pixels, 12 FMAs per input channel and tap; AVX-512: one
/// vector x 12 pixels); per input channel and tap it loads the weight vectors and
/// broadcasts the pixels' inputs. The pixels run along the flattened output, across row
/// ends, so no work is wasted but the last tile's. Bias, a residual (a blocked buffer
/// shaped as the output) and ReLU go into the output write, 8 channels at a time. Its
/// naive twin is `convForwardNaive`.
public struct BlockedConvPlan: Sendable {
    public static let channelBlock = 16
    public static let pixelBlock = 6

    public let geometry: ConvGeometry
    public let input: BlockedLayout, output: BlockedLayout
    /// Offset of each tap from a pixel's window origin, in floats of the input.
    let taps: [Int]
    public let channelBlocks: Int

    /// Inference: outputs in whole blocks of 8 (a last half block of 16 computes 8 lanes).
    public static func applies(to g: ConvGeometry, inputBorder: Int = 1) -> Bool {
        g.groups == 1 && g.outChannels % BlockedLayout.lanes == 0 && g.padding <= inputBorder && g.kernelH == g.kernelW
    }

    /// Training (the weight gradient too): outputs in whole blocks of 16.
    public static func appliesToTraining(_ g: ConvGeometry, inputBorder: Int = 1) -> Bool {
        applies(to: g, inputBorder: inputBorder) && g.outChannels % channelBlock == 0
    }

    /// The last block holds 8 channels, not 16 (a pruned or narrow conv).
    public var halfLastBlock: Bool { geometry.outChannels % Self.channelBlock != 0 }

    /// Reads an input with a border of `inputBorder`; writes one with a border of 1.
    public init(_ g: ConvGeometry, inputBorder: Int = 1) {
        precondition(Self.applies(to: g, inputBorder: inputBorder), "not a conv the blocked kernel takes")
        geometry = g
        input = BlockedLayout(channels: g.inChannels, height: g.inHeight, width: g.inWidth, border: inputBorder)
        output = BlockedLayout(channels: g.outChannels, height: g.outHeight, width: g.outWidth)
        var taps: [Int] = []
        for ky in 0..<g.kernelH {
            for kx in 0..<g.kernelW { taps.append(ky * input.rowStride + kx * BlockedLayout.lanes) }
        }
        self.taps = taps
        channelBlocks = (g.outChannels + Self.channelBlock - 1) / Self.channelBlock
    }

    /// Where each output pixel of a batch reads and writes: samples follow each other in
    /// their buffers (`input.count` and `output.count` floats apart), pixels run flattened
    /// across rows and samples, so a block of 6 may span two of either.
    public struct Pixels: Sendable {
        /// Per pixel (padded up to whole blocks with the last one): the input offset of its
        /// window origin, and its output offset.
        let origins: [Int], targets: [Int]
        /// Real pixels, and blocks of 6.
        public let count: Int, blocks: Int
    }

    public func pixels(batch: Int) -> Pixels {
        let g = geometry, n = g.outPlane * batch, pb = Self.pixelBlock
        let blocks = (n + pb - 1) / pb
        let shift = input.border - g.padding
        var origins: [Int] = [], targets: [Int] = []
        origins.reserveCapacity(blocks * pb)
        targets.reserveCapacity(blocks * pb)
        for p in 0..<(blocks * pb) {
            let q = min(p, n - 1), b = q / g.outPlane, oy = q % g.outPlane / g.outWidth, ox = q % g.outWidth
            origins.append(b * input.count + (oy * g.stride + shift) * input.rowStride + (ox * g.stride + shift) * BlockedLayout.lanes)
            targets.append(b * output.count + output.offset(0, oy, ox))
        }
        return Pixels(origins: origins, targets: targets, count: n, blocks: blocks)
    }

    /// Floats of the packed weights: `[channelBlock16][inChannel][tap][16]`.
    public var packedWeightCount: Int { channelBlocks * geometry.inChannels * taps.count * Self.channelBlock }

    /// Multiply-adds of one sample, for the decision to split across threads.
    public var work: Int { geometry.outPlane * geometry.outChannels * geometry.inChannels * taps.count }

    /// Packs `[Cout, Cin, kh, kw]` weights into `out` (`packedWeightCount` floats).
    public func packWeights(_ w: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>) {
        let g = geometry, nt = taps.count, cb = Self.channelBlock
        out.update(repeating: 0, count: packedWeightCount)  // a half last block's other lanes
        for o in 0..<g.outChannels {
            for c in 0..<g.inChannels {
                for t in 0..<nt {
                    out[(((o / cb) * g.inChannels + c) * nt + t) * cb + o % cb] = w[(o * g.inChannels + c) * nt + t]
                }
            }
        }
    }

    /// Output channel blocks `blocks` (of 16) for pixel blocks `range` (of 6) of the batch
    /// `pixels` was made for: y = act(conv(x) + bias + residual). `x`, `y` and `residual`
    /// are blocked buffers, one per sample back to back; only the interiors of `y` are written.
    @inline(never)
    public func run(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, bias: UnsafePointer<Float>, relu: Bool,
                    _ y: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>?,
                    _ pixels: Pixels, channelBlocks blocks: Range<Int>, pixelBlocks range: Range<Int>,
                    isa: FloatISA = .current) {
        let g = geometry, nt = taps.count, cin = g.inChannels, cb = Self.channelBlock, pb = Self.pixelBlock
        let first = range.lowerBound * pb, end = min(range.upperBound * pb, pixels.count)
        guard first < end else { return }
        let kind = g.kernelH == 3 ? LS_FCONV_3X3 : nt == 1 && taps[0] == 0 ? LS_FCONV_POINTWISE : LS_FCONV_TAPS
        let outBlock = output.blockStride
        taps.withUnsafeBufferPointer { tp in
            pixels.origins.withUnsafeBufferPointer { org in
                pixels.targets.withUnsafeBufferPointer { tgt in
                    var a = ls_fconv_blocked_args()
                    a.x = x
                    a.origins = org.baseAddress! + first
                    a.targets = tgt.baseAddress! + first
                    a.pixels = end - first
                    a.kind = Int32(kind)
                    a.taps = tp.baseAddress
                    a.nt = Int32(nt)
                    a.row = input.rowStride
                    a.in_block = input.blockStride
                    a.cin = Int32(cin)
                    a.out_block = outBlock
                    a.relu = relu ? 1 : 0
                    for k in blocks {
                        a.half = halfLastBlock && k == channelBlocks - 1 ? 1 : 0
                        a.w = w + k * cin * nt * cb
                        a.y = y + 2 * k * outBlock
                        a.bias = bias + k * cb
                        a.residual = residual.map { $0 + 2 * k * outBlock }
                        ls_fconv_blocked(isa.code, &a)
                    }
                }
            }
        }
    }
}

extension BlockedConvPlan {
    /// Pixels the weight gradient sums in one pass over the pairs (16 KB of dy).
    static let weightGradientChunk = 256

    /// The weight gradient: `dW[o][c][t] += Σ dy[o][p] · x[c][origin(p) + tap t]` over the
    /// pixels of the batch `pixels` was made for, `dy` blocked as the output and `x` as
    /// the input, `dW` as `[Cout, Cin, kh, kw]`. The forward micro-kernel turned around:
    /// 16 output channels x 4 (input channel, tap) pairs in 8 registers, the pixels the
    /// long loop; per pixel it loads the two dy vectors and broadcasts the four x values:
    /// 8 FMAs. (With 6 pairs, as the forward kernel has 6 pixels, the compiler spilled
    /// accumulators to the stack: 47 GFLOP/s on one core.) Its naive twin is `convBackwardNaive`.
    @inline(never)
    public func accumulateWeightGradient(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ pixels: Pixels,
                                         into dW: UnsafeMutablePointer<Float>, channelBlocks blocks: Range<Int>,
                                         isa: FloatISA = .current) {
        precondition(!halfLastBlock, "the weight gradient takes outputs in whole blocks of 16")
        let g = geometry, nt = taps.count, cin = g.inChannels, pairs = cin * nt
        let outBlock = output.blockStride, inBlock = input.blockStride, n = pixels.count
        // each (input channel, tap) pair's offset from a pixel's window origin
        let offsets = (0..<pairs).map { j in
            let c = j / nt
            return c / BlockedLayout.lanes * inBlock + c % BlockedLayout.lanes + taps[j % nt]
        }
        offsets.withUnsafeBufferPointer { off in
            pixels.origins.withUnsafeBufferPointer { org in
                pixels.targets.withUnsafeBufferPointer { tgt in
                    var a = ls_fconv_wgrad_args()
                    a.x = x
                    a.out_block = outBlock
                    a.origins = org.baseAddress
                    a.targets = tgt.baseAddress
                    a.offsets = off.baseAddress
                    a.pairs = Int32(pairs)
                    // pixels in chunks whose dy and x stay in the first-level cache across the pairs
                    var p0 = 0
                    while p0 < n {
                        a.p0 = p0
                        a.p1 = min(n, p0 + Self.weightGradientChunk)
                        for k in blocks {
                            a.dy = dy + 2 * k * outBlock
                            a.dw = dW + k * Self.channelBlock * pairs
                            ls_fconv_weight_gradient(isa.code, &a)
                        }
                        p0 = a.p1
                    }
                }
            }
        }
    }
}
