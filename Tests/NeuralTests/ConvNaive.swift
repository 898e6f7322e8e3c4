@testable import Neural

// The naive twin of every conv kernel (`ConvKernelChoice`), kept with the tests it is the
// oracle of: no production path runs it.
/// Direct convolution, seven plain loops in Double: the naive twin of the im2col+GEMM
/// and depthwise kernels, for any kernel, stride, padding and groups.
/// x `[N, Cin, H, W]`, w `[Cout, Cin/groups, kh, kw]`, bias `[Cout]` -> y `[N, Cout, OH, OW]`.
func convForwardNaive(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
                      _ y: UnsafeMutablePointer<Float>, batch: Int, _ g: ConvGeometry) {
    let cinG = g.inPerGroup, coutG = g.outPerGroup
    for n in 0..<batch {
        for co in 0..<g.outChannels {
            let grp = co / coutG
            for oy in 0..<g.outHeight {
                for ox in 0..<g.outWidth {
                    var acc = Double(bias?[co] ?? 0)
                    for ci in 0..<cinG {
                        let c = grp * cinG + ci
                        for ki in 0..<g.kernelH {
                            let iy = oy * g.stride - g.padding + ki
                            if iy < 0 || iy >= g.inHeight { continue }
                            for kj in 0..<g.kernelW {
                                let ix = ox * g.stride - g.padding + kj
                                if ix < 0 || ix >= g.inWidth { continue }
                                let xv = x[((n * g.inChannels + c) * g.inHeight + iy) * g.inWidth + ix]
                                let wv = w[((co * cinG + ci) * g.kernelH + ki) * g.kernelW + kj]
                                acc += Double(xv) * Double(wv)
                            }
                        }
                    }
                    y[((n * g.outChannels + co) * g.outHeight + oy) * g.outWidth + ox] = Float(acc)
                }
            }
        }
    }
}

/// Naive backward of `convForwardNaive`: dx is overwritten, dw and db are accumulated (`+=`).
func convBackwardNaive(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                              _ dx: UnsafeMutablePointer<Float>?, _ dw: UnsafeMutablePointer<Float>,
                              _ db: UnsafeMutablePointer<Float>?, batch: Int, _ g: ConvGeometry) {
    let cinG = g.inPerGroup, coutG = g.outPerGroup
    dx?.update(repeating: 0, count: batch * g.inChannels * g.inPlane)
    for n in 0..<batch {
        for co in 0..<g.outChannels {
            let grp = co / coutG
            for oy in 0..<g.outHeight {
                for ox in 0..<g.outWidth {
                    let d = dy[((n * g.outChannels + co) * g.outHeight + oy) * g.outWidth + ox]
                    db?[co] += d
                    for ci in 0..<cinG {
                        let c = grp * cinG + ci
                        for ki in 0..<g.kernelH {
                            let iy = oy * g.stride - g.padding + ki
                            if iy < 0 || iy >= g.inHeight { continue }
                            for kj in 0..<g.kernelW {
                                let ix = ox * g.stride - g.padding + kj
                                if ix < 0 || ix >= g.inWidth { continue }
                                let xi = ((n * g.inChannels + c) * g.inHeight + iy) * g.inWidth + ix
                                let wi = ((co * cinG + ci) * g.kernelH + ki) * g.kernelW + kj
                                dw[wi] += x[xi] * d
                                dx?[xi] += w[wi] * d
                            }
                        }
                    }
                }
            }
        }
    }
}
