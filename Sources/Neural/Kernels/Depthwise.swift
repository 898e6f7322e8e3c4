/// Depthwise convolution (groups == Cin == Cout), its own direct kernel: each channel
/// is filtered by its own kh x kw window, so im2col would only add copies.
/// x `[N, C, H, W]`, w `[C, 1, kh, kw]`, bias `[C]` -> y `[N, C, OH, OW]`.
public func depthwiseForward(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
                             _ y: UnsafeMutablePointer<Float>, batch: Int, _ g: ConvGeometry) {
    let k = g.kernelH * g.kernelW, oh = g.outHeight, ow = g.outWidth, s = g.stride
    Parallel.forEachChunk(batch * g.inChannels) { planes in
        for nc in planes {
            let c = nc % g.inChannels
            let src = x + nc * g.inPlane
            let dst = y + nc * oh * ow
            let wc = w + c * k
            let b = bias?[c] ?? 0
            for i in 0..<(oh * ow) { dst[i] = b }
            for ki in 0..<g.kernelH {
                for kj in 0..<g.kernelW {
                    let wv = wc[ki * g.kernelW + kj]
                    let (lo, hi) = g.validColumns(kj)
                    if lo >= hi { continue }
                    for oy in 0..<oh {
                        let iy = oy * s - g.padding + ki
                        if iy < 0 || iy >= g.inHeight { continue }
                        let srow = src + iy * g.inWidth - g.padding + kj
                        let drow = dst + oy * ow
                        if s == 1 {
                            for ox in lo..<hi { drow[ox] += wv * srow[ox] }
                        } else {
                            for ox in lo..<hi { drow[ox] += wv * srow[ox * s] }
                        }
                    }
                }
            }
        }
    }
}

/// Backward of `depthwiseForward`: dx overwritten (if given), dw and db accumulated.
public func depthwiseBackward(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                              _ dx: UnsafeMutablePointer<Float>?, _ dw: UnsafeMutablePointer<Float>,
                              _ db: UnsafeMutablePointer<Float>?, batch: Int, _ g: ConvGeometry) {
    let k = g.kernelH * g.kernelW, oh = g.outHeight, ow = g.outWidth, s = g.stride, cs = g.inChannels
    // Channels are independent: split the work by channel so no two threads write one dw.
    Parallel.forEachChunk(cs) { channels in
        for c in channels {
            let wc = w + c * k
            let dwc = dw + c * k
            for n in 0..<batch {
                let nc = n * cs + c
                let src = x + nc * g.inPlane
                let grad = dy + nc * oh * ow
                if let db { for i in 0..<(oh * ow) { db[c] += grad[i] } }
                let dxp = dx.map { $0 + nc * g.inPlane }
                dxp?.update(repeating: 0, count: g.inPlane)
                for ki in 0..<g.kernelH {
                    for kj in 0..<g.kernelW {
                        let wv = wc[ki * g.kernelW + kj]
                        let (lo, hi) = g.validColumns(kj)
                        if lo >= hi { continue }
                        var acc: Float = 0
                        for oy in 0..<oh {
                            let iy = oy * s - g.padding + ki
                            if iy < 0 || iy >= g.inHeight { continue }
                            let off = iy * g.inWidth - g.padding + kj
                            let grow = grad + oy * ow
                            for ox in lo..<hi {
                                acc += grow[ox] * src[off + ox * s]
                                if let dxp { dxp[off + ox * s] += wv * grow[ox] }
                            }
                        }
                        dwc[ki * g.kernelW + kj] += acc
                    }
                }
            }
        }
    }
}
