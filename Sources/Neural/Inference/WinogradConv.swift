/// 3x3 stride-1 convolution by Winograd's minimal filtering F(2x2, 3x3) (Lavin & Gray,
/// 2016), inference only: each 2x2 output tile costs 16 multiplies instead of 36.
///
///     Y = A^T [ (G g G^T) ⊙ (B^T d B) ] A      per 4x4 input tile d and 3x3 filter g
///
/// The element-wise product over channels becomes 16 GEMMs, `M[k] = U[k] V[k]` with
/// U `[16][Cout][Cin]` (filters, transformed once) and V `[16][Cin][tiles]` (inputs).
/// Its naive twin is the direct convolution (`convForwardNaive`).
public final class WinogradConv: Layer {
    public let geometry: ConvGeometry
    public var needsInputGradient = false
    public var outputShape: Shape { Shape(geometry.outChannels, geometry.outHeight, geometry.outWidth) }
    private let u: UnsafeMutablePointer<Float>      // [16][Cout][Cin]
    private let bias: [Float]
    private var v: Tensor?                          // [16][Cin][T]
    private var m: Tensor?                          // [16][Cout][T]
    private var output: Tensor?

    /// 3x3 stride-1 ungrouped convs with enough input channels for the 16 GEMMs to pay
    /// (a 1- or 3-channel stem is cheaper as im2col + one GEMM).
    public static func applies(to g: ConvGeometry) -> Bool {
        g.kernelH == 3 && g.kernelW == 3 && g.stride == 1 && g.groups == 1 && g.inChannels >= 8
    }

    /// `weight` `[Cout, Cin, 3, 3]`, `bias` `[Cout]` (already folded with batch norm).
    public init(_ g: ConvGeometry, weight: UnsafePointer<Float>, bias: [Float]) {
        precondition(g.kernelH == 3 && g.kernelW == 3 && g.stride == 1 && g.groups == 1,
                     "Winograd F(2x2,3x3) needs a 3x3 stride-1 ungrouped conv")
        geometry = g
        self.bias = bias
        let co = g.outChannels, ci = g.inChannels
        u = alignedFloats(16 * co * ci)
        for o in 0..<co {
            for c in 0..<ci {
                winogradFilter(weight + (o * ci + c) * 9) { p, value in u[(p * co + o) * ci + c] = value }
            }
        }
    }

    deinit { freeAligned(u) }

    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        let g = geometry, n = x.batch
        let th = (g.outHeight + 1) / 2, tw = (g.outWidth + 1) / 2, tiles = n * th * tw
        let y = ensure(&output, outputShape, batch: n)
        let vp = scratch(&v, count: 16 * g.inChannels * tiles)
        let mp = scratch(&m, count: 16 * g.outChannels * tiles)
        let co = g.outChannels, ci = g.inChannels
        Parallel.forEachChunk(g.inChannels, work: 32 * ci * tiles) { channels in
            for c in channels { transformInput(x, c, vp, th: th, tw: tw, tiles: tiles) }
        }
        Parallel.forEachChunk(16, work: 16 * co * ci * tiles) { slots in
            for k in slots {
                sgemmBLAS(false, false, co, tiles, ci, 1, u + k * co * ci, ci, vp + k * ci * tiles, tiles, 0,
                          mp + k * co * tiles, tiles)
            }
        }
        Parallel.forEachChunk(co, work: 32 * co * tiles) { outs in
            for o in outs { transformOutput(mp, o, y, th: th, tw: tw, tiles: tiles) }
        }
        return y
    }

    /// V[k][c][t] = (B^T d B)[k] for every tile t of channel c, d read with zero padding,
    /// B^T = [[1,0,-1,0],[0,1,1,0],[0,-1,1,0],[0,1,0,-1]]. Works a row of tiles at a
    /// time so every loop runs along contiguous memory.
    @inline(__always)
    private func transformInput(_ x: Tensor, _ c: Int, _ v: UnsafeMutablePointer<Float>, th: Int, tw: Int, tiles: Int) {
        let g = geometry, stride = g.inChannels * tiles, width = 2 * tw + 2
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 8 * width) { buf in
            let rows = buf.baseAddress!, r = rows + 4 * width
            for b in 0..<x.batch {
                let src = x.data + (b * g.inChannels + c) * g.inPlane
                for ty in 0..<th {
                    // the tile row's four input rows, zero-padded to `width`
                    for i in 0..<4 {
                        let row = rows + i * width, yy = 2 * ty - g.padding + i
                        row.update(repeating: 0, count: width)
                        guard yy >= 0 && yy < g.inHeight else { continue }
                        let lo = max(0, g.padding), hi = min(width, g.inWidth + g.padding)
                        if lo < hi { (row + lo).update(from: src + yy * g.inWidth + lo - g.padding, count: hi - lo) }
                    }
                    let d0 = rows, d1 = rows + width, d2 = rows + 2 * width, d3 = rows + 3 * width
                    let r0 = r, r1 = r + width, r2 = r + 2 * width, r3 = r + 3 * width
                    for k in 0..<width {
                        r0[k] = d0[k] - d2[k]; r1[k] = d1[k] + d2[k]; r2[k] = d2[k] - d1[k]; r3[k] = d1[k] - d3[k]
                    }
                    let base = v + c * tiles + (b * th + ty) * tw
                    for i in 0..<4 {
                        let ri = r + i * width
                        let o0 = base + (i * 4) * stride, o1 = o0 + stride, o2 = o1 + stride, o3 = o2 + stride
                        for t in 0..<tw {
                            let a = ri[2 * t], bb = ri[2 * t + 1], cc = ri[2 * t + 2], dd = ri[2 * t + 3]
                            o0[t] = a - cc; o1[t] = bb + cc; o2[t] = cc - bb; o3[t] = bb - dd
                        }
                    }
                }
            }
        }
    }

    /// y = A^T m A + bias for every tile of output channel o, A^T = [[1,1,1,0],[0,1,-1,-1]],
    /// a row of tiles at a time.
    @inline(__always)
    private func transformOutput(_ m: UnsafeMutablePointer<Float>, _ o: Int, _ y: Tensor, th: Int, tw: Int, tiles: Int) {
        let g = geometry, stride = g.outChannels * tiles, b0 = bias[o]
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 8 * tw) { buf in
            let q = buf.baseAddress!   // A^T m, per tile: 2 rows x 4 columns, tile-contiguous
            for b in 0..<y.batch {
                let dst = y.data + (b * g.outChannels + o) * g.outPlane
                for ty in 0..<th {
                    let base = m + o * tiles + (b * th + ty) * tw
                    for j in 0..<4 {
                        let m0 = base + j * stride, m1 = base + (4 + j) * stride
                        let m2 = base + (8 + j) * stride, m3 = base + (12 + j) * stride
                        let q0 = q + j * tw, q1 = q + (4 + j) * tw
                        for t in 0..<tw { q0[t] = m0[t] + m1[t] + m2[t]; q1[t] = m1[t] - m2[t] - m3[t] }
                    }
                    for i in 0..<2 where 2 * ty + i < g.outHeight {
                        let row = dst + (2 * ty + i) * g.outWidth
                        let a = q + i * 4 * tw, bq = a + tw, cq = bq + tw, dq = cq + tw
                        let full = g.outWidth / 2
                        for t in 0..<full {
                            row[2 * t] = a[t] + bq[t] + cq[t] + b0
                            row[2 * t + 1] = bq[t] - cq[t] - dq[t] + b0
                        }
                        if full < tw { row[2 * full] = a[full] + bq[full] + cq[full] + b0 }
                    }
                }
            }
        }
    }

    public func backward(_ dy: Tensor) -> Tensor { preconditionFailure("inference networks do not train") }
}
