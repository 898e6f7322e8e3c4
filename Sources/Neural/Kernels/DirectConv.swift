/// Direct convolution for inference, register-blocked on 8-wide vectors (AVX2 + FMA, the
/// package's baseline), for any kernel size and stride, ungrouped. Its naive twin is
/// `convForwardNaive`.
///
/// The trick that keeps every vector load contiguous: the input is copied once into a
/// zero-padded plane per channel (for stride s, split into s*s phase planes, so a strided
/// conv becomes a stride-1 conv over the phases), and the output is computed on a grid as
/// wide as that plane. Output position p of the grid reads input `p + offset(tap)` for
/// every tap, so 8 neighbouring outputs read 8 neighbouring inputs; the few grid columns
/// past the real output width are computed and dropped. A micro-kernel keeps 4 output
/// channels x 24 positions in 12 registers and loops over input channels and taps: per
/// tap, 3 vector loads and 4 broadcasts feed 12 FMAs.
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
                    channelBlocks blocks: Range<Int>) {
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
                        if threeByThree {
                            microKernel3x3(p + p0, cs, pc, w + k * cin * nt * cb, cin, t)
                        } else {
                            microKernel(p + p0, cs, tp.baseAddress!, nt, w + k * cin * nt * cb, cin, t)
                        }
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

/// The accumulators of one block, 4 output channels x 3 vectors of 8 positions (12 of
/// the 16 AVX2 registers once inlined).
private struct Block {
    typealias V = SIMD8<Float>
    var a00 = V(), a01 = V(), a02 = V(), a10 = V(), a11 = V(), a12 = V()
    var a20 = V(), a21 = V(), a22 = V(), a30 = V(), a31 = V(), a32 = V()

    /// One tap: 24 inputs from `q`, the 4 channels' weights from `w`, 12 FMAs.
    @inline(__always)
    mutating func tap(_ q: UnsafeRawPointer, _ w: UnsafePointer<Float>) {
        let x0 = q.loadUnaligned(as: V.self)
        let x1 = q.loadUnaligned(fromByteOffset: 32, as: V.self)
        let x2 = q.loadUnaligned(fromByteOffset: 64, as: V.self)
        let w0 = V(repeating: w[0]), w1 = V(repeating: w[1])
        let w2 = V(repeating: w[2]), w3 = V(repeating: w[3])
        a00.addProduct(x0, w0); a01.addProduct(x1, w0); a02.addProduct(x2, w0)
        a10.addProduct(x0, w1); a11.addProduct(x1, w1); a12.addProduct(x2, w1)
        a20.addProduct(x0, w2); a21.addProduct(x1, w2); a22.addProduct(x2, w2)
        a30.addProduct(x0, w3); a31.addProduct(x1, w3); a32.addProduct(x2, w3)
    }

    /// Writes channel j's 24 positions to `out[j * 24 ..< j * 24 + 24]`.
    @inline(__always)
    func store(_ out: UnsafeMutablePointer<Float>) {
        let o = UnsafeMutableRawPointer(out)
        o.storeBytes(of: a00, toByteOffset: 0, as: V.self); o.storeBytes(of: a01, toByteOffset: 32, as: V.self)
        o.storeBytes(of: a02, toByteOffset: 64, as: V.self); o.storeBytes(of: a10, toByteOffset: 96, as: V.self)
        o.storeBytes(of: a11, toByteOffset: 128, as: V.self); o.storeBytes(of: a12, toByteOffset: 160, as: V.self)
        o.storeBytes(of: a20, toByteOffset: 192, as: V.self); o.storeBytes(of: a21, toByteOffset: 224, as: V.self)
        o.storeBytes(of: a22, toByteOffset: 256, as: V.self); o.storeBytes(of: a30, toByteOffset: 288, as: V.self)
        o.storeBytes(of: a31, toByteOffset: 320, as: V.self); o.storeBytes(of: a32, toByteOffset: 352, as: V.self)
    }
}

/// 4 output channels x 24 grid positions: acc[j][v] += w[c][t][j] * p[c][t + 8v ..< t + 8v + 8].
/// Writes `out[j * 24 + i]`.
@inline(__always)
private func microKernel(_ p: UnsafePointer<Float>, _ cs: Int, _ taps: UnsafePointer<Int>, _ nt: Int,
                         _ w: UnsafePointer<Float>, _ cin: Int, _ out: UnsafeMutablePointer<Float>) {
    var acc = Block()
    var wp = w
    var base = UnsafeRawPointer(p)
    let step = cs &* 4
    var c = cin
    repeat {
        var t = 0
        repeat {
            acc.tap(base + taps[t] &* 4, wp)
            wp += 4
            t &+= 1
        } while t < nt
        base += step
        c &-= 1
    } while c > 0
    acc.store(out)
}

/// `microKernel` for a 3x3 stride-1 conv: the nine tap offsets are 0, 1, 2 floats from
/// three row pointers `row` floats apart, so the loop over taps unrolls with no table.
@inline(__always)
private func microKernel3x3(_ p: UnsafePointer<Float>, _ cs: Int, _ row: Int,
                            _ w: UnsafePointer<Float>, _ cin: Int, _ out: UnsafeMutablePointer<Float>) {
    var acc = Block()
    var wp = w
    var base = UnsafeRawPointer(p)
    let step = cs &* 4, rowBytes = row &* 4
    var c = cin
    repeat {
        let r0 = base, r1 = base + rowBytes, r2 = base + 2 &* rowBytes
        acc.tap(r0, wp); acc.tap(r0 + 4, wp + 4); acc.tap(r0 + 8, wp + 8)
        acc.tap(r1, wp + 12); acc.tap(r1 + 4, wp + 16); acc.tap(r1 + 8, wp + 20)
        acc.tap(r2, wp + 24); acc.tap(r2 + 4, wp + 28); acc.tap(r2 + 8, wp + 32)
        wp += 36
        base += step
        c &-= 1
    } while c > 0
    acc.store(out)
}
