import CKernels

/// 3x3 stride-1 convolution in the channel-blocked layout by Winograd's minimal filtering
/// F(2x2, 3x3) (Lavin & Gray, 2016), for inference: each 2x2 output tile costs 16
/// multiplies per (input, output) channel pair instead of 36.
///
///     Y = A^T [ (G g G^T) ⊙ (B^T d B) ] A      per 4x4 input tile d and 3x3 filter g
///
/// Tiles run in groups of `tileGroup`: a group's inputs are transformed once into a
/// scratch `V[16][Cin/8][group][8]` that stays in the cache, then for each block of 16
/// output channels the 16 element-wise products summed over input channels are 16 small
/// GEMMs on the blocked kernel's micro-kernel (tiles as its pixels, `ls_fconv_blocked`),
/// into `M[16][group][16]`; the output transform writes 2x2 pixels with the bias, a
/// residual and ReLU. Its naive twin is `convForwardNaive`.
///
/// A tile of an odd-sized image reads one row or column past the input's interior; what
/// it reads there only reaches the tile's output pixels outside the image, which are not
/// written. The input buffer must have `inputSlack` readable zero floats past its last sample.
public struct BlockedWinogradPlan: Sendable {
    /// Tiles whose inputs are transformed together (a multiple of the micro-kernel's 6).
    public static let defaultTileGroup = 12
    public let tileGroup: Int
    /// The micro-kernel's pixel origins: tile slot i at 8 i inside V, then at 16 i inside M.
    private let slots: [Int]
    /// Fewer input channels leave the transforms too large a share (the 1- or 3-channel stem).
    public static let minimumInputChannels = 16

    public let geometry: ConvGeometry
    public let input: BlockedLayout, output: BlockedLayout
    /// Blocks of 16 output channels.
    public let channelBlocks: Int

    public static func applies(to g: ConvGeometry, inputBorder: Int = 1) -> Bool {
        g.groups == 1 && g.kernelH == 3 && g.kernelW == 3 && g.stride == 1 && g.padding == 1 && inputBorder >= 1
            && g.outChannels % BlockedConvPlan.channelBlock == 0 && g.inChannels >= minimumInputChannels
    }

    /// Reads an input with a border of `inputBorder`; writes one with a border of 1.
    public init(_ g: ConvGeometry, inputBorder: Int = 1, tileGroup: Int = BlockedWinogradPlan.defaultTileGroup) {
        precondition(Self.applies(to: g, inputBorder: inputBorder), "not a conv the blocked Winograd kernel takes")
        precondition(tileGroup > 0 && tileGroup % 6 == 0, "tile groups are whole micro-kernel blocks of 6")
        self.tileGroup = tileGroup
        slots = (0..<tileGroup).map { $0 * BlockedLayout.lanes } + (0..<tileGroup).map { $0 * BlockedConvPlan.channelBlock }
        geometry = g
        input = BlockedLayout(channels: g.inChannels, height: g.inHeight, width: g.inWidth, border: inputBorder)
        output = BlockedLayout(channels: g.outChannels, height: g.outHeight, width: g.outWidth)
        channelBlocks = g.outChannels / BlockedConvPlan.channelBlock
    }

    /// Below this many tiles in a batch the transformed weights, 16/9 the direct kernel's,
    /// cost more to stream than Winograd saves: ResNet18 at batch 1 ran 6.61 ms with its
    /// 4x4-pixel layers (4 tiles, 512 channels, 16 MB of weights each) on the direct
    /// blocked kernel and 6.84 ms with them on Winograd; at batch 32, 175 ms and 157 ms.
    public static let minimumTiles = 16

    /// (`ConvKernelChoice` reads it.)
    public static func tilesPerSample(_ g: ConvGeometry) -> Int { (g.outHeight + 1) / 2 * ((g.outWidth + 1) / 2) }

    var tilesPerSample: Int { Self.tilesPerSample(geometry) }

    /// Floats past the end of the input buffer's last sample that edge tiles read.
    public var inputSlack: Int { 2 * input.rowStride }

    /// Input blocks of 8 channels.
    var inputBlocks: Int { (geometry.inChannels + BlockedLayout.lanes - 1) / BlockedLayout.lanes }

    /// Where each 2x2 output tile of a batch reads and writes, tiles flattened across rows
    /// and samples.
    public struct Tiles: Sendable {
        /// Per tile: the input offset of its 4x4 window's corner, the output offset of its
        /// top-left pixel, and how many of its rows (bit 1 set: both) and columns (bit 0 set:
        /// both) are inside the image.
        let origins: [Int], targets: [Int], extents: [UInt8]
        /// Tiles, and groups of `tileGroup`.
        public let count: Int, groups: Int
    }

    public func tiles(batch: Int) -> Tiles {
        let g = geometry, th = (g.outHeight + 1) / 2, tw = (g.outWidth + 1) / 2, n = batch * th * tw
        var origins: [Int] = [], targets: [Int] = [], extents: [UInt8] = []
        origins.reserveCapacity(n)
        targets.reserveCapacity(n)
        extents.reserveCapacity(n)
        let shift = input.border - 1
        for t in 0..<n {
            let b = t / (th * tw), ty = t % (th * tw) / tw, tx = t % tw
            origins.append(b * input.count + (2 * ty + shift) * input.rowStride + (2 * tx + shift) * BlockedLayout.lanes)
            targets.append(b * output.count + output.offset(0, 2 * ty, 2 * tx))
            extents.append((2 * ty + 1 < g.outHeight ? 2 : 0) | (2 * tx + 1 < g.outWidth ? 1 : 0))
        }
        return Tiles(origins: origins, targets: targets, extents: extents, count: n,
                     groups: (n + tileGroup - 1) / tileGroup)
    }

    /// Floats of the packed, transformed weights: `[channelBlock16][16][inChannel][16]`.
    public var packedWeightCount: Int { channelBlocks * 16 * geometry.inChannels * BlockedConvPlan.channelBlock }

    /// Floats of one worker's scratch (`V` and `M` of one group).
    public var scratchCount: Int { 16 * tileGroup * (inputBlocks * BlockedLayout.lanes + BlockedConvPlan.channelBlock) }

    /// Multiply-adds of one sample, for the decision to split across threads.
    public var work: Int {
        let g = geometry
        return (g.outHeight + 1) / 2 * ((g.outWidth + 1) / 2) * 16 * g.inChannels * g.outChannels
    }

    /// Transforms `[Cout, Cin, 3, 3]` weights (`winogradFilter`) and packs them into `out`
    /// (`packedWeightCount` floats). Training repacks every step, so no allocation here.
    public func packWeights(_ w: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>) {
        let g = geometry, ci = g.inChannels, cb = BlockedConvPlan.channelBlock
        for o in 0..<g.outChannels {
            let base = out + (o / cb) * 16 * ci * cb + o % cb
            for c in 0..<ci {
                winogradFilter(w + (o * ci + c) * 9) { p, value in base[(p * ci + c) * cb] = value }
            }
        }
    }
}

/// The 3x3 filter at `f` transformed for F(2x2, 3x3), G f G^T with
/// G = [[1,0,0],[.5,.5,.5],[.5,-.5,.5],[0,0,1]]: `put(p, value)` for each of its 16
/// positions p = 4 i + j. Shared by both Winograd convs; no allocation.
@inline(__always)
func winogradFilter(_ f: UnsafePointer<Float>, _ put: (Int, Float) -> Void) {
    // G f (4x3), a row at a time, then (G f) G^T (4x4)
    @inline(__always) func row(_ i: Int, _ a: Float, _ b: Float, _ d: Float) {
        put(4 * i, a)
        put(4 * i + 1, 0.5 * (a + b + d))
        put(4 * i + 2, 0.5 * (a - b + d))
        put(4 * i + 3, d)
    }
    row(0, f[0], f[1], f[2])
    row(1, 0.5 * (f[0] + f[3] + f[6]), 0.5 * (f[1] + f[4] + f[7]), 0.5 * (f[2] + f[5] + f[8]))
    row(2, 0.5 * (f[0] - f[3] + f[6]), 0.5 * (f[1] - f[4] + f[7]), 0.5 * (f[2] - f[5] + f[8]))
    row(3, f[6], f[7], f[8])
}

extension BlockedWinogradPlan {
    /// Tile groups `groups` of the batch `tiles` was made for, output channel blocks
    /// `blocks` (of 16): y = act(conv(x) + bias + residual). `x`, `y` and `residual` are
    /// blocked buffers, one per sample back to back; only the interiors of `y` are written.
    /// `scratch` holds `scratchCount` floats, owned by the calling thread.
    @inline(never)
    public func run(_ x: UnsafePointer<Float>, _ u: UnsafePointer<Float>, bias: UnsafePointer<Float>, relu: Bool,
                    _ y: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>?, _ tiles: Tiles,
                    groups: Range<Int>, channelBlocks blocks: Range<Int>, scratch: UnsafeMutablePointer<Float>,
                    isa: FloatISA = .current) {
        let tg = tileGroup, cin = geometry.inChannels, cb = BlockedConvPlan.channelBlock
        let vBlock = tg * BlockedLayout.lanes, vPosition = inputBlocks * vBlock
        let v = scratch, m = scratch + 16 * vPosition
        slots.withUnsafeBufferPointer { slots in
            let slot = slots.baseAddress!, mSlot = slot + tg
            tiles.origins.withUnsafeBufferPointer { org in
                tiles.targets.withUnsafeBufferPointer { tgt in
                    tiles.extents.withUnsafeBufferPointer { ext in
                        for group in groups {
                            let t0 = group * tg, count = min(tg, tiles.count - t0)
                            transformInputs(x, org.baseAddress! + t0, count, v, vBlock: vBlock, vPosition: vPosition, isa: isa)
                            for k in blocks {
                                let uk = u + k * 16 * cin * cb
                                // per Winograd position, a pointwise product: the tiles as pixels
                                var a = ls_fconv_blocked_args()
                                a.origins = slot
                                a.targets = mSlot
                                a.pixels = count
                                a.kind = Int32(LS_FCONV_POINTWISE)
                                a.nt = 1
                                a.in_block = vBlock
                                a.cin = Int32(cin)
                                a.out_block = BlockedLayout.lanes
                                for p in 0..<16 {
                                    a.x = UnsafePointer(v + p * vPosition)
                                    a.w = uk + p * cin * cb
                                    a.y = m + p * tg * cb
                                    ls_fconv_blocked(isa.code, &a)
                                }
                                transformOutputs(m, count, y, tgt.baseAddress! + t0, ext.baseAddress! + t0, block: k,
                                                 bias: bias + k * cb, residual: residual, relu: relu, isa: isa)
                            }
                        }
                    }
                }
            }
        }
    }

    /// The whole batch `tiles` was made for (`batch` samples), across the engine's workers:
    /// tile groups split among them, each group's inputs transformed once for all output
    /// channels; with fewer groups than twice the workers (small images at small batches)
    /// the output channels split too, each part transforming its groups again. `scratch`:
    /// one buffer of `scratchCount` floats per worker.
    public func runParallel(_ x: UnsafePointer<Float>, _ u: UnsafePointer<Float>, bias: UnsafePointer<Float>, relu: Bool,
                            _ y: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>?, _ tiles: Tiles,
                            batch: Int, scratch: [UnsafeMutablePointer<Float>]) {
        // a quarter of the engine's threshold, as for the direct blocked convs
        let compute = Compute.current()
        let workers = work * batch < compute.minimumParallelWork / 4 ? 1 : min(compute.threads, scratch.count)
        let splits = tiles.groups >= 2 * workers ? 1 : min(channelBlocks, workers)
        let groups = tiles.groups, blocks = channelBlocks
        Parallel.forEachWorker(groups * splits, workers: workers) { worker, range in
            for unit in range {
                // part-major, so that each worker's share is whole parts when split
                let group = unit % groups, part = unit / groups
                run(x, u, bias: bias, relu: relu, y, residual: residual, tiles, groups: group..<(group + 1),
                    channelBlocks: (blocks * part / splits)..<(blocks * (part + 1) / splits), scratch: scratch[worker])
            }
        }
    }

    /// V = B^T d B for `count` tiles, every input block, B^T = [[1,0,-1,0],[0,1,1,0],[0,-1,1,0],[0,1,0,-1]]
    /// (`ls_fwino_input`).
    @inline(__always)
    private func transformInputs(_ x: UnsafePointer<Float>, _ origins: UnsafePointer<Int>, _ count: Int,
                                 _ v: UnsafeMutablePointer<Float>, vBlock: Int, vPosition: Int, isa: FloatISA) {
        var a = ls_fwino_input_args()
        a.x = x
        a.origins = origins
        a.count = Int32(count)
        a.blocks = Int32(inputBlocks)
        a.row = input.rowStride
        a.in_block = input.blockStride
        a.v = v
        a.v_block = vBlock
        a.v_position = vPosition
        ls_fwino_input(isa.code, &a)
    }

    /// Y = A^T M A, A^T = [[1,1,1,0],[0,1,-1,-1]], for `count` tiles of output block `k`
    /// (16 channels, two 8-channel planes), plus bias and residual, then ReLU (`ls_fwino_output`).
    @inline(__always)
    private func transformOutputs(_ m: UnsafePointer<Float>, _ count: Int, _ y: UnsafeMutablePointer<Float>,
                                  _ targets: UnsafePointer<Int>, _ extents: UnsafePointer<UInt8>, block k: Int,
                                  bias: UnsafePointer<Float>, residual: UnsafePointer<Float>?, relu: Bool, isa: FloatISA) {
        let outBlock = output.blockStride
        var a = ls_fwino_output_args()
        a.m = m
        a.position_stride = tileGroup * BlockedConvPlan.channelBlock
        a.count = Int32(count)
        a.y = y + 2 * k * outBlock
        a.targets = targets
        a.extents = extents
        a.out_block = outBlock
        a.row = output.rowStride
        a.bias = bias
        a.residual = residual.map { $0 + 2 * k * outBlock }
        a.relu = relu ? 1 : 0
        ls_fwino_output(isa.code, &a)
    }
}
