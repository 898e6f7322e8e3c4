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
/// output channels a multiple of 16. A micro-kernel keeps 16 output channels
/// (two vectors) x 6 output pixels in 12 registers; per input channel and tap it loads the
/// two weight vectors and broadcasts the 6 pixels' inputs: 12 FMAs. The 6 pixels run along
/// the flattened output, across row ends, so no work is wasted but the last block's. Bias,
/// a residual (a blocked buffer shaped as the output) and ReLU go into the output write,
/// 8 channels at a time. Its naive twin is `convForwardNaive`.
public struct BlockedConvPlan: Sendable {
    public static let channelBlock = 16
    public static let pixelBlock = 6

    public let geometry: ConvGeometry
    public let input: BlockedLayout, output: BlockedLayout
    /// Offset of each tap from a pixel's window origin, in floats of the input.
    let taps: [Int]
    public let channelBlocks: Int

    public static func applies(to g: ConvGeometry, inputBorder: Int = 1) -> Bool {
        g.groups == 1 && g.outChannels % channelBlock == 0 && g.padding <= inputBorder && g.kernelH == g.kernelW
    }

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
        channelBlocks = g.outChannels / Self.channelBlock
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
                    _ pixels: Pixels, channelBlocks blocks: Range<Int>, pixelBlocks range: Range<Int>) {
        let g = geometry, nt = taps.count, cin = g.inChannels, cb = Self.channelBlock, pb = Self.pixelBlock
        let threeByThree = g.kernelH == 3
        let inBlock = input.blockStride, outBlock = output.blockStride, n = pixels.count
        taps.withUnsafeBufferPointer { tp in
            pixels.origins.withUnsafeBufferPointer { org in
                pixels.targets.withUnsafeBufferPointer { tgt in
                    for k in blocks {
                        let wk = w + k * cin * nt * cb
                        let b0 = UnsafeRawPointer(bias + k * cb).loadUnaligned(as: SIMD8<Float>.self)
                        let b1 = UnsafeRawPointer(bias + k * cb + 8).loadUnaligned(as: SIMD8<Float>.self)
                        for block in range {
                            let p0 = block * pb
                            var acc = Accumulators()
                            if threeByThree {
                                acc.run3x3(x, org.baseAddress! + p0, input.rowStride, inBlock, cin, wk)
                            } else if nt == 1 {
                                acc.pointwise(x, org.baseAddress! + p0, inBlock, cin, wk)
                            } else {
                                acc.run(x, org.baseAddress! + p0, tp.baseAddress!, nt, inBlock, cin, wk)
                            }
                            acc.write(y + 2 * k * outBlock, outBlock, tgt.baseAddress! + p0, min(pb, n - p0), b0, b1,
                                      residual.map { $0 + 2 * k * outBlock }, relu)
                        }
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
                                         into dW: UnsafeMutablePointer<Float>, channelBlocks blocks: Range<Int>) {
        let g = geometry, nt = taps.count, cin = g.inChannels, pairs = cin * nt
        let inBlock = input.blockStride, outBlock = output.blockStride, n = pixels.count
        // each (input channel, tap) pair's offset from a pixel's window origin
        let offsets = (0..<pairs).map { j in
            let c = j / nt
            return c / BlockedLayout.lanes * inBlock + c % BlockedLayout.lanes + taps[j % nt]
        }
        offsets.withUnsafeBufferPointer { off in
            pixels.origins.withUnsafeBufferPointer { org in
                pixels.targets.withUnsafeBufferPointer { tgt in
                    // pixels in chunks whose dy and x stay in the first-level cache across the pairs
                    var p0 = 0
                    while p0 < n {
                        let p1 = min(n, p0 + Self.weightGradientChunk)
                        for k in blocks {
                            let d0 = dy + 2 * k * outBlock, d1 = d0 + outBlock
                            var j = 0
                            while j < pairs {
                                let last = pairs - 1
                                let o0 = off[j], o1 = off[min(j + 1, last)], o2 = off[min(j + 2, last)], o3 = off[min(j + 3, last)]
                                var acc = GradientAccumulators()
                                var p = p0
                                repeat {
                                    acc.outer(d0 + tgt[p], d1 + tgt[p], x + org[p], o0, o1, o2, o3)
                                    p &+= 1
                                } while p < p1
                                acc.add(to: dW + k * Self.channelBlock * pairs + j, stride: pairs, count: min(4, pairs - j))
                                j += 4
                            }
                        }
                        p0 = p1
                    }
                }
            }
        }
    }
}

/// The weight gradient's 16 output channels x 4 (input channel, tap) pairs of sums.
private struct GradientAccumulators {
    typealias V = SIMD8<Float>
    var a0 = V(), b0 = V(), a1 = V(), b1 = V(), a2 = V(), b2 = V(), a3 = V(), b3 = V()

    /// The 16 output channels' gradients at `dy0` and `dy1` times the inputs at `q + o_i`.
    @inline(__always)
    mutating func outer(_ dy0: UnsafePointer<Float>, _ dy1: UnsafePointer<Float>, _ q: UnsafePointer<Float>,
                        _ o0: Int, _ o1: Int, _ o2: Int, _ o3: Int) {
        let w0 = UnsafeRawPointer(dy0).loadUnaligned(as: V.self), w1 = UnsafeRawPointer(dy1).loadUnaligned(as: V.self)
        var x = V(repeating: q[o0]); a0.addProduct(x, w0); b0.addProduct(x, w1)
        x = V(repeating: q[o1]); a1.addProduct(x, w0); b1.addProduct(x, w1)
        x = V(repeating: q[o2]); a2.addProduct(x, w0); b2.addProduct(x, w1)
        x = V(repeating: q[o3]); a3.addProduct(x, w0); b3.addProduct(x, w1)
    }

    /// Adds the first `count` pairs' sums into `dW`: output channel l of pair i at `dW[l * stride + i]`.
    @inline(__always)
    func add(to dW: UnsafeMutablePointer<Float>, stride: Int, count: Int) {
        @inline(__always)
        func put(_ lo: V, _ hi: V, _ i: Int) {
            for l in 0..<8 {
                dW[l * stride + i] += lo[l]
                dW[(l + 8) * stride + i] += hi[l]
            }
        }
        put(a0, b0, 0)
        if count > 1 { put(a1, b1, 1) }
        if count > 2 { put(a2, b2, 2) }
        if count > 3 { put(a3, b3, 3) }
    }
}

/// Stores `value + bias (+ residual at the same offset)`, through ReLU if asked, at `y + offset`:
/// the output write of the blocked kernels.
@inline(__always)
func storeOutput(_ value: SIMD8<Float>, _ bias: SIMD8<Float>, _ residual: UnsafePointer<Float>?, _ relu: Bool,
                 _ y: UnsafeMutablePointer<Float>, _ offset: Int) {
    var out = value + bias
    if let r = residual { out += UnsafeRawPointer(r + offset).loadUnaligned(as: SIMD8<Float>.self) }
    if relu { out = out.replacing(with: 0, where: out .< 0) }
    UnsafeMutableRawPointer(y + offset).storeBytes(of: out, as: SIMD8<Float>.self)
}

/// 6 pixels x 16 output channels of accumulators (12 of the 16 AVX2 registers).
struct Accumulators {
    typealias V = SIMD8<Float>
    var a0 = V(), b0 = V(), a1 = V(), b1 = V(), a2 = V(), b2 = V()
    var a3 = V(), b3 = V(), a4 = V(), b4 = V(), a5 = V(), b5 = V()

    /// The six pixels' window origins, in floats of the input.
    struct Origins {
        let o0: Int, o1: Int, o2: Int, o3: Int, o4: Int, o5: Int
        init(_ o0: Int, _ o1: Int, _ o2: Int, _ o3: Int, _ o4: Int, _ o5: Int) {
            (self.o0, self.o1, self.o2, self.o3, self.o4, self.o5) = (o0, o1, o2, o3, o4, o5)
        }
    }

    /// One input channel, one tap: inputs at `q + o` for the six pixels, weights at `w`.
    @inline(__always)
    mutating func tap(_ q: UnsafePointer<Float>, _ o: Origins, _ w: UnsafePointer<Float>) {
        let w0 = UnsafeRawPointer(w).loadUnaligned(as: V.self)
        let w1 = UnsafeRawPointer(w).loadUnaligned(fromByteOffset: 32, as: V.self)
        var x = V(repeating: q[o.o0]); a0.addProduct(x, w0); b0.addProduct(x, w1)
        x = V(repeating: q[o.o1]); a1.addProduct(x, w0); b1.addProduct(x, w1)
        x = V(repeating: q[o.o2]); a2.addProduct(x, w0); b2.addProduct(x, w1)
        x = V(repeating: q[o.o3]); a3.addProduct(x, w0); b3.addProduct(x, w1)
        x = V(repeating: q[o.o4]); a4.addProduct(x, w0); b4.addProduct(x, w1)
        x = V(repeating: q[o.o5]); a5.addProduct(x, w0); b5.addProduct(x, w1)
    }

    /// Every input channel: `body(q, o, w)` with the channel's input `q`, the six pixels'
    /// window origins `o` and the channel's weights `w`, which takes `step` floats.
    @inline(__always)
    mutating func channels(_ x: UnsafePointer<Float>, _ org: UnsafePointer<Int>, _ inBlock: Int, _ cin: Int,
                           _ w: UnsafePointer<Float>, step: Int,
                           _ body: (inout Accumulators, UnsafePointer<Float>, Origins, UnsafePointer<Float>) -> Void) {
        let o = Origins(org[0], org[1], org[2], org[3], org[4], org[5])
        var wp = w
        var c = 0
        repeat {
            body(&self, x + (c >> 3) &* inBlock + (c & 7), o, wp)
            wp += step
            c &+= 1
        } while c < cin
    }

    /// A 1x1 kernel (weights `[cin][16]`): the eight channels of each input block
    /// unrolled, so that each broadcast's address is a constant off the block's.
    @inline(__always)
    mutating func pointwise(_ x: UnsafePointer<Float>, _ org: UnsafePointer<Int>, _ inBlock: Int, _ cin: Int,
                            _ w: UnsafePointer<Float>) {
        let o = Origins(org[0], org[1], org[2], org[3], org[4], org[5])
        var q = x, wp = w
        var blocks = cin >> 3
        while blocks > 0 {
            tap(q, o, wp); tap(q + 1, o, wp + 16); tap(q + 2, o, wp + 32); tap(q + 3, o, wp + 48)
            tap(q + 4, o, wp + 64); tap(q + 5, o, wp + 80); tap(q + 6, o, wp + 96); tap(q + 7, o, wp + 112)
            q += inBlock
            wp += 128
            blocks &-= 1
        }
        var c = 0
        while c < cin & 7 {
            tap(q + c, o, wp + 16 &* c)
            c &+= 1
        }
    }

    /// Any kernel: the taps from a table.
    @inline(__always)
    mutating func run(_ x: UnsafePointer<Float>, _ org: UnsafePointer<Int>, _ taps: UnsafePointer<Int>, _ nt: Int,
                      _ inBlock: Int, _ cin: Int, _ w: UnsafePointer<Float>) {
        channels(x, org, inBlock, cin, w, step: 16 &* nt) { acc, q, o, wp in
            var t = 0
            repeat {
                acc.tap(q + taps[t], o, wp + 16 &* t)
                t &+= 1
            } while t < nt
        }
    }

    /// 3x3: the nine taps unrolled, three per input row `row` floats apart.
    @inline(__always)
    mutating func run3x3(_ x: UnsafePointer<Float>, _ org: UnsafePointer<Int>, _ row: Int,
                         _ inBlock: Int, _ cin: Int, _ w: UnsafePointer<Float>) {
        channels(x, org, inBlock, cin, w, step: 144) { acc, q, o, wp in
            let r1 = q + row, r2 = q + 2 &* row
            acc.tap(q, o, wp); acc.tap(q + 8, o, wp + 16); acc.tap(q + 16, o, wp + 32)
            acc.tap(r1, o, wp + 48); acc.tap(r1 + 8, o, wp + 64); acc.tap(r1 + 16, o, wp + 80)
            acc.tap(r2, o, wp + 96); acc.tap(r2 + 8, o, wp + 112); acc.tap(r2 + 16, o, wp + 128)
        }
    }

    /// The first `count` pixels, each as two 8-channel vectors at `y + target` and
    /// `y + block + target`.
    @inline(__always)
    func write(_ y: UnsafeMutablePointer<Float>, _ block: Int, _ targets: UnsafePointer<Int>, _ count: Int,
               _ bias0: V, _ bias1: V, _ residual: UnsafePointer<Float>?, _ relu: Bool) {
        @inline(__always)
        func put(_ lo: V, _ hi: V, _ t: Int) {
            storeOutput(lo, bias0, residual, relu, y, t)
            storeOutput(hi, bias1, residual, relu, y, block + t)
        }
        put(a0, b0, targets[0])
        if count > 1 { put(a1, b1, targets[1]) }
        if count > 2 { put(a2, b2, targets[2]) }
        if count > 3 { put(a3, b3, targets[3]) }
        if count > 4 { put(a4, b4, targets[4]) }
        if count > 5 { put(a5, b5, targets[5]) }
    }
}
