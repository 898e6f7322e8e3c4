import CKernels

/// Direct convolution for inference, register-blocked (the micro-kernel is `ls_fconv_direct`,
/// C, one variant per instruction set, `FloatISA`), for any kernel size and stride,
/// ungrouped. Its naive twin is `convForwardNaive`.
///
/// The trick that keeps every vector load contiguous: the input is copied once into a
/// zero-padded plane per channel (for stride s, split into s*s phase planes, so a strided
/// conv becomes a stride-1 conv over the phases), and the output is computed on a grid as
/// wide as that plane. Output position p of the grid reads input `p + offset(tap)` for
/// every tap, so 8 neighbouring outputs read 8 neighbouring inputs; the few grid columns
/// past the real output width are computed and dropped. A micro-kernel keeps 4 output
/// channels x 24 positions in 12 registers (AVX2; the baseline does 12 positions at a time)
/// and loops over input channels and taps: per tap, 3 vector loads and 4 broadcasts feed 12 FMAs.
public struct DirectConvPlan: Sendable {
    public static let channelBlock = 4
    public static let positionBlock = 24

    public let geometry: ConvGeometry
    /// Phase plane size (rows, columns): the padded input split by stride.
    let phaseRows: Int, phaseColumns: Int
    /// Floats per input channel in the packed input (stride^2 phase planes).
    let channelStride: Int
    /// Offset of each tap (ky, kx) from an output position, in the packed channel.
    let taps: [Int]
    /// Output grid positions: outHeight rows of `phaseColumns`.
    let gridCount: Int
    let positionBlocks: Int
    let channelBlocks: Int

    public init(_ g: ConvGeometry) {
        precondition(g.groups == 1, "direct conv is for ungrouped convs")
        geometry = g
        let s = g.stride
        phaseRows = (g.inHeight + 2 * g.padding + s - 1) / s
        phaseColumns = (g.inWidth + 2 * g.padding + s - 1) / s
        channelStride = s * s * phaseRows * phaseColumns
        var taps: [Int] = []
        for ky in 0..<g.kernelH {
            for kx in 0..<g.kernelW {
                let phase = (ky % s) * s + kx % s
                taps.append(phase * phaseRows * phaseColumns + (ky / s) * phaseColumns + kx / s)
            }
        }
        self.taps = taps
        gridCount = g.outHeight * phaseColumns
        positionBlocks = (gridCount + Self.positionBlock - 1) / Self.positionBlock
        channelBlocks = (g.outChannels + Self.channelBlock - 1) / Self.channelBlock
    }

    /// Floats the packed input of one sample needs: the planes, plus slack so that the
    /// dropped grid positions of the last block read inside the buffer.
    public var packedInputCount: Int {
        geometry.inChannels * channelStride + Self.positionBlock + (taps.max() ?? 0) + 8
    }

    /// Floats of the packed weights: `[channelBlock][inChannel][tap][4]`, zero beyond outChannels.
    public var packedWeightCount: Int { channelBlocks * geometry.inChannels * taps.count * Self.channelBlock }

    /// Multiply-adds of one sample, for the decision to split across threads.
    public var work: Int { channelBlocks * Self.channelBlock * positionBlocks * Self.positionBlock * geometry.inChannels * taps.count }

    /// Packs `[Cout, Cin, kh, kw]` weights into `out` (`packedWeightCount` floats).
    public func packWeights(_ w: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>) {
        let g = geometry, nt = taps.count, cb = Self.channelBlock
        out.update(repeating: 0, count: packedWeightCount)
        for o in 0..<g.outChannels {
            for c in 0..<g.inChannels {
                for t in 0..<nt {
                    out[(((o / cb) * g.inChannels + c) * nt + t) * cb + o % cb] = w[(o * g.inChannels + c) * nt + t]
                }
            }
        }
    }

    /// Copies one sample `[Cin, H, W]` into the zero-padded phase planes (`packedInputCount` floats).
    /// The padding sits at the same places on every call: with `padding` false only the
    /// image is written, for a buffer whose padding is already zero (one that only this
    /// plan's `packInput` ever wrote, and that started zeroed).
    public func packInput(_ x: UnsafePointer<Float>, into p: UnsafeMutablePointer<Float>, channels: Range<Int>, padding: Bool = true) {
        let g = geometry, s = g.stride, pr = phaseRows, pc = phaseColumns
        for c in channels {
            let src = x + c * g.inPlane
            for a in 0..<s {
                for b in 0..<s {
                    let plane = p + c * channelStride + (a * s + b) * pr * pc
                    for i in 0..<pr {
                        let row = plane + i * pc, y = s * i + a - g.padding
                        guard y >= 0 && y < g.inHeight else {
                            if padding { row.update(repeating: 0, count: pc) }
                            continue
                        }
                        let line = src + y * g.inWidth
                        if s == 1 {
                            let lo = min(pc, g.padding), hi = min(pc, g.padding + g.inWidth)
                            (row + lo).update(from: line, count: hi - lo)
                            if padding {
                                row.update(repeating: 0, count: lo)
                                (row + hi).update(repeating: 0, count: pc - hi)
                            }
                        } else {
                            // columns j with 0 <= s*j + b - padding < W, the rest zero
                            let lo = min(pc, max(0, (g.padding - b + s - 1) / s))
                            let hi = max(lo, min(pc, (g.inWidth - b + g.padding + s - 1) / s))
                            if padding { row.update(repeating: 0, count: lo) }
                            let first = line + (s * lo + b - g.padding)
                            var j = 0
                            if s == 2 {
                                // 8 outputs from 16 inputs at a time while the load stays on the line
                                let room = g.inWidth - (s * lo + b - g.padding)
                                while j + 8 <= hi - lo && 2 * j + 16 <= room {
                                    let v = UnsafeRawPointer(first + 2 * j).loadUnaligned(as: SIMD16<Float>.self)
                                    UnsafeMutableRawPointer(row + lo + j).storeBytes(of: v.evenHalf, as: SIMD8<Float>.self)
                                    j += 8
                                }
                            }
                            while j < hi - lo {
                                row[lo + j] = first[s * j]
                                j += 1
                            }
                            if padding { (row + hi).update(repeating: 0, count: pc - hi) }
                        }
                    }
                }
            }
        }
        if padding && channels.upperBound == g.inChannels {
            let used = g.inChannels * channelStride
            (p + used).update(repeating: 0, count: packedInputCount - used)
        }
    }

    /// y[o] = act(bias[o] + conv + residual[o]) for the output channels of `channelBlocks`
    /// blocks, one sample; `p` from `packInput`, `w` from `packWeights`, `y` and `residual`
    /// (a ResNet block's shortcut, added before the activation; nil for none) `[Cout, Ho, Wo]`.
    @inline(never)
    public func run(_ p: UnsafePointer<Float>, _ w: UnsafePointer<Float>, bias: UnsafePointer<Float>,
                    relu: Bool, _ y: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>? = nil,
                    channelBlocks blocks: Range<Int>, isa: FloatISA = .current) {
        let g = geometry, nt = taps.count, cin = g.inChannels, cs = channelStride
        let wo = g.outWidth, pc = phaseColumns, n = gridCount
        let pb = Self.positionBlock, cb = Self.channelBlock
        let threeByThree = g.stride == 1 && g.kernelH == 3 && g.kernelW == 3
        taps.withUnsafeBufferPointer { tp in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: pb * cb) { tmp in
                let t = tmp.baseAddress!
                for k in blocks {
                    for block in 0..<positionBlocks {
                        let p0 = block * pb
                        var a = ls_fconv_direct_args()
                        a.p = p + p0
                        a.channel_stride = cs
                        a.taps = tp.baseAddress
                        a.nt = Int32(nt)
                        a.row = threeByThree ? pc : 0
                        a.w = w + k * cin * nt * cb
                        a.cin = Int32(cin)
                        a.out = t
                        ls_fconv_direct(isa.code, &a)
                        // Write the valid grid positions (row runs of at most Wo), with bias and activation.
                        for j in 0..<cb {
                            let o = k * cb + j
                            guard o < g.outChannels else { break }
                            let b = bias[o], row = t + j * pb
                            var q = p0, oy = p0 / pc, ox = p0 % pc
                            let end = min(p0 + pb, n)
                            while q < end {
                                let run = min(pc - ox, end - q)
                                let valid = max(0, min(run, wo - ox))
                                let src = row + (q - p0), at = o * g.outPlane + oy * wo + ox, out = y + at
                                if let residual {
                                    let r = residual + at
                                    if relu {
                                        for i in 0..<valid { out[i] = max(src[i] + b + r[i], 0) }
                                    } else {
                                        for i in 0..<valid { out[i] = src[i] + b + r[i] }
                                    }
                                } else if relu {
                                    for i in 0..<valid { out[i] = max(src[i] + b, 0) }
                                } else {
                                    for i in 0..<valid { out[i] = src[i] + b }
                                }
                                q += run; ox += run
                                if ox == pc { ox = 0; oy += 1 }
                            }
                        }
                    }
                }
            }
        }
    }
}
