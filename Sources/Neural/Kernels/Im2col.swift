/// Batched im2col: x `[N, C, H, W]` -> col `[C*kh*kw, N*OH*OW]`.
/// Row `(c*kh + ki)*kw + kj`, column `n*OH*OW + oh*OW + ow`. One GEMM then covers
/// the whole batch: `Y'[Cout, N*OH*OW] = W[Cout, C*kh*kw] * col`.
public func im2col(_ x: UnsafePointer<Float>, batch: Int, _ g: ConvGeometry, _ col: UnsafeMutablePointer<Float>) {
    Parallel.forEachChunk(g.inChannels, work: batch * g.patch * g.outPlane) { channels in im2col(x, batch: batch, g, col, channels: channels) }
}

/// `im2col` for the rows of `channels` only, on the calling thread.
public func im2col(_ x: UnsafePointer<Float>, batch: Int, _ g: ConvGeometry, _ col: UnsafeMutablePointer<Float>,
                   channels: Range<Int>) {
    let p = g.outPlane, np = batch * p
    let ow = g.outWidth, oh = g.outHeight, s = g.stride
    do {
        for c in channels {
            for ki in 0..<g.kernelH {
                for kj in 0..<g.kernelW {
                    let row = col + ((c * g.kernelH + ki) * g.kernelW + kj) * np
                    let (lo, hi) = g.validColumns(kj)
                    for n in 0..<batch {
                        let src = x + (n * g.inChannels + c) * g.inPlane
                        let dst = row + n * p
                        for y in 0..<oh {
                            let d = dst + y * ow
                            let iy = y * s - g.padding + ki
                            if iy < 0 || iy >= g.inHeight || lo >= hi {
                                d.update(repeating: 0, count: ow)
                                continue
                            }
                            if lo > 0 { d.update(repeating: 0, count: lo) }
                            if hi < ow { (d + hi).update(repeating: 0, count: ow - hi) }
                            let srow = src + iy * g.inWidth - g.padding + kj
                            if s == 1 {
                                (d + lo).update(from: srow + lo, count: hi - lo)
                            } else {
                                for xo in lo..<hi { d[xo] = srow[xo * s] }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The adjoint of `im2col`: accumulates col `[C*kh*kw, N*OH*OW]` into dx `[N, C, H, W]`.
/// `dx` must be zeroed (or hold a gradient to add to) by the caller.
public func col2im(_ col: UnsafePointer<Float>, batch: Int, _ g: ConvGeometry, _ dx: UnsafeMutablePointer<Float>) {
    Parallel.forEachChunk(g.inChannels) { channels in col2im(col, batch: batch, g, dx, channels: channels) }
}

/// `col2im` for the rows of `channels` only, on the calling thread.
public func col2im(_ col: UnsafePointer<Float>, batch: Int, _ g: ConvGeometry, _ dx: UnsafeMutablePointer<Float>,
                   channels: Range<Int>) {
    let p = g.outPlane, np = batch * p
    let ow = g.outWidth, oh = g.outHeight, s = g.stride
    do {
        for c in channels {
            for ki in 0..<g.kernelH {
                for kj in 0..<g.kernelW {
                    let row = col + ((c * g.kernelH + ki) * g.kernelW + kj) * np
                    let (lo, hi) = g.validColumns(kj)
                    if lo >= hi { continue }
                    for n in 0..<batch {
                        let dst = dx + (n * g.inChannels + c) * g.inPlane
                        let src = row + n * p
                        for y in 0..<oh {
                            let iy = y * s - g.padding + ki
                            if iy < 0 || iy >= g.inHeight { continue }
                            let srow = src + y * ow
                            let drow = dst + iy * g.inWidth - g.padding + kj
                            if s == 1 {
                                for xo in lo..<hi { drow[xo] += srow[xo] }
                            } else {
                                for xo in lo..<hi { drow[xo * s] += srow[xo] }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `[C, N*P]` (channel-major, as a batched GEMM leaves it) -> `[N, C, P]`, plus a bias per channel.
public func channelMajorToNCHW(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
                               batch: Int, channels: Int, plane: Int, bias: UnsafePointer<Float>?) {
    Parallel.forEachChunk(channels, work: batch * channels * plane) { range in
        channelMajorToNCHW(src, dst, batch: batch, channels: channels, plane: plane, bias: bias, only: range)
    }
}

/// `channelMajorToNCHW` for the channels in `only`, on the calling thread.
public func channelMajorToNCHW(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
                               batch: Int, channels: Int, plane: Int, bias: UnsafePointer<Float>?, only: Range<Int>) {
    for c in only {
        let b = bias?[c] ?? 0
        for n in 0..<batch {
            let s = src + (c * batch + n) * plane
            let d = dst + (n * channels + c) * plane
            for i in 0..<plane { d[i] = s[i] + b }
        }
    }
}

/// `[N, C, P]` -> `[C, N*P]`, the inverse of `channelMajorToNCHW` without bias.
public func nchwToChannelMajor(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
                               batch: Int, channels: Int, plane: Int) {
    Parallel.forEachChunk(channels) { range in
        nchwToChannelMajor(src, dst, batch: batch, channels: channels, plane: plane, only: range)
    }
}

/// `nchwToChannelMajor` for the channels in `only`, on the calling thread.
public func nchwToChannelMajor(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>,
                               batch: Int, channels: Int, plane: Int, only: Range<Int>) {
    for c in only {
        for n in 0..<batch {
            (dst + (c * batch + n) * plane).update(from: src + (n * channels + c) * plane, count: plane)
        }
    }
}
