/// 2-D convolution, any kernel, stride, padding and groups.
/// Weight `[Cout, Cin/groups, kh, kw]`, optional bias `[Cout]`.
///
/// Kernels (depthwise convs use `DepthwiseConv2d` instead):
/// - 1x1 stride-1 convs: one GEMM per image straight on NCHW memory, no im2col.
/// - batches of at least two images per worker: each worker takes a slice of the batch
///   and walks it a few images at a time: im2col into a cache-sized buffer, one GEMM per
///   group; backward recomputes that im2col rather than keeping a batch-sized copy.
/// - smaller batches (batch-1 inference): im2col of the whole batch, GEMMs split across workers.
/// - convs the channel-blocked kernel takes (output channels a multiple of 16), at batches
///   of at least two images per worker: the forward pass, the weight gradient and the
///   input gradient of stride-1 convs run on it (`BlockedConvRunner`). A strided conv whose
///   input gradient is needed keeps im2col + GEMM for both gradients: a blocked weight
///   gradient beside a GEMM input gradient measured slower (1.15x over GEMM alone for the
///   small ResNet's training step, against 1.19x this way).
public final class Conv2d: Layer {
    public let geometry: ConvGeometry
    public let weight: Parameter
    public let bias: Parameter?
    public var needsInputGradient = true
    public var outputShape: Shape { Shape(geometry.outChannels, geometry.outHeight, geometry.outWidth) }

    private var input: Tensor?
    private var output: Tensor?
    private var gradInput: Tensor?
    private var workerCol: [Tensor?] = []      // per worker: [Cin*kh*kw, step*P]
    private var workerProduct: [Tensor?] = []  // per worker: [Cout, step*P]
    private var workerGrad: [Tensor?] = []     // per worker but the first: dW partial sums
    /// Whether the channel-blocked kernel may run this conv (off: im2col + GEMM only, to
    /// compare the two).
    public var blockedKernel = true
    /// Whether a 3x3 stride-1 conv's blocked forward pass and input gradient may run as
    /// Winograd F(2x2, 3x3) (off: the direct blocked kernel, to compare the two). Read when
    /// the blocked runners are made, at the first pass.
    public var winogradKernel = true
    private var blockedForward: BlockedConvRunner?
    private var blockedInputGradient: (runner: BlockedConvRunner, weights: UnsafeMutablePointer<Float>)?

    /// Floats of im2col buffer a worker aims for (about 2 MB: stays in cache).
    static let columnBudget = 1 << 19

    public init(_ g: ConvGeometry, bias hasBias: Bool) {
        precondition(g.inChannels % g.groups == 0 && g.outChannels % g.groups == 0, "channels not divisible by groups")
        geometry = g
        weight = Parameter(name: "weight", Shape(g.patch, 1, 1), count: g.outChannels)
        weight.dims = [g.outChannels, g.inPerGroup, g.kernelH, g.kernelW]
        if hasBias {
            let b = Parameter(name: "bias", Shape(g.outChannels), count: 1, isNormOrBias: true)
            b.dims = [g.outChannels]
            bias = b
        } else {
            bias = nil
        }
    }

    deinit { blockedInputGradient?.weights.deallocate() }

    /// Whether the blocked kernel has run this conv's forward pass and its input gradient.
    var blockedPaths: (forward: Bool, inputGradient: Bool) { (blockedForward != nil, blockedInputGradient != nil) }
    /// Whether those blocked passes run as Winograd.
    var winogradPaths: (forward: Bool, inputGradient: Bool) {
        (blockedForward?.winograd != nil, blockedInputGradient?.runner.winograd != nil)
    }

    public var parameters: [Parameter] { bias.map { [weight, $0] } ?? [weight] }

    /// The blocked runner for the forward pass, if this conv and batch take it.
    private func forwardRunner(batch n: Int, workers: Int) -> BlockedConvRunner? {
        guard blockedKernel, n >= 2 * workers, !isPointwise, BlockedConvRunner.applies(to: geometry) else { return nil }
        if blockedForward == nil { blockedForward = BlockedConvRunner(geometry, winograd: winogradKernel) }
        return blockedForward
    }

    /// The blocked runner for the input gradient, with the flipped weights loaded.
    private func inputGradientRunner(batch n: Int, workers: Int) -> BlockedConvRunner? {
        guard blockedKernel, n >= 2 * workers else { return nil }
        if blockedInputGradient == nil, let t = BlockedConvRunner.inputGradientGeometry(of: geometry) {
            blockedInputGradient = (BlockedConvRunner(t, winograd: winogradKernel), .allocate(capacity: weight.value.count))
        }
        guard let (runner, flipped) = blockedInputGradient else { return nil }
        BlockedConvRunner.flipped(weight.value.data, geometry, into: flipped)
        runner.setWeights(flipped)
        return runner
    }

    var isPointwise: Bool {
        geometry.kernelH == 1 && geometry.kernelW == 1 && geometry.stride == 1
            && geometry.padding == 0 && geometry.groups == 1
    }

    /// Images per im2col step for one worker.
    var imagesPerStep: Int { max(1, Conv2d.columnBudget / max(1, geometry.inChannels * geometry.kernelH * geometry.kernelW * geometry.outPlane)) }

    private func workerBuffers(_ w: Int, images: Int) -> (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) {
        let g = geometry, np = images * g.outPlane
        return (scratch(&workerCol[w], count: g.inChannels * g.kernelH * g.kernelW * np),
                scratch(&workerProduct[w], count: g.outChannels * np))
    }

    /// Sizes the per-worker buffers for the current worker count and returns that count,
    /// which the rest of the call uses (so a change of `Parallel.workers` mid-call is harmless).
    private func prepareWorkers() -> Int {
        let w = max(1, Parallel.workers)
        if workerCol.count < w {
            workerCol = Array(repeating: nil, count: w)
            workerProduct = Array(repeating: nil, count: w)
            workerGrad = Array(repeating: nil, count: w)
        }
        return w
    }

    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        input = x
        let workers = prepareWorkers()
        let n = x.batch, g = geometry, p = g.outPlane
        let y = ensure(&output, outputShape, batch: n)
        if let runner = forwardRunner(batch: n, workers: workers) {
            runner.setWeights(weight.value.data)
            runner.run(x.data, batch: n, bias: bias?.value.data, into: y.data, workers: workers)
            return y
        }
        if isPointwise {
            Parallel.forEachWorker(n, workers: workers) { _, images in
                for i in images {
                    sgemmBLAS(false, false, g.outChannels, p, g.inChannels, 1, weight.value.data, g.inChannels,
                              x.data + i * x.sampleCount, p, 0, y.data + i * y.sampleCount, p)
                }
            }
            if let bias { addBias(y, bias.value.data) }
            return y
        }
        if n == 1 {
            // one image: [Cout, P] is already NCHW, so the GEMM writes the output directly,
            // on top of the bias
            let (col, _) = workerBuffers(0, images: 1)
            im2col(x.data, batch: 1, g, col)
            if let bias {
                for c in 0..<g.outChannels { (y.data + c * p).update(repeating: bias.value[c], count: p) }
            }
            for grp in 0..<g.groups { groupForward(grp, col, y.data, np: p, gemm: sgemm, beta: bias == nil ? 0 : 1) }
            return y
        }
        if n < 2 * workers {
            let (col, prod) = workerBuffers(0, images: n)
            im2col(x.data, batch: n, g, col)
            for grp in 0..<g.groups { groupForward(grp, col, prod, np: n * p, gemm: sgemm) }
            channelMajorToNCHW(prod, y.data, batch: n, channels: g.outChannels, plane: p, bias: bias?.value.data)
            return y
        }
        forEachSlice(x, workers: workers) { _, i, cnt, col, prod in
            for grp in 0..<g.groups { groupForward(grp, col, prod, np: cnt * p, gemm: sgemmBLAS) }
            channelMajorToNCHW(prod, y.data + i * y.sampleCount, batch: cnt, channels: g.outChannels, plane: p,
                               bias: bias?.value.data, only: 0..<g.outChannels)
        }
        return y
    }

    private typealias GEMM = (Bool, Bool, Int, Int, Int, Float, UnsafePointer<Float>, Int, UnsafePointer<Float>, Int,
                              Float, UnsafeMutablePointer<Float>, Int) -> Void

    @inline(__always)
    private func groupForward(_ grp: Int, _ col: UnsafeMutablePointer<Float>, _ prod: UnsafeMutablePointer<Float>,
                              np: Int, gemm: GEMM, beta: Float = 0) {
        let g = geometry
        gemm(false, false, g.outPerGroup, np, g.patch, 1, weight.value.data + grp * g.outPerGroup * g.patch, g.patch,
             col + grp * g.patch * np, np, beta, prod + grp * g.outPerGroup * np, np)
    }

    /// dW += dY' col^T; if `dx`: col = W^T dY' and col2im into dx (zeroed here).
    @inline(__always)
    private func groupBackward(_ col: UnsafeMutablePointer<Float>, _ prod: UnsafeMutablePointer<Float>, np: Int,
                               dW: UnsafeMutablePointer<Float>, dx: UnsafeMutablePointer<Float>?, images: Int,
                               gemm: GEMM, parallel: Bool) {
        let g = geometry
        for grp in 0..<g.groups {
            gemm(false, true, g.outPerGroup, g.patch, np, 1, prod + grp * g.outPerGroup * np, np,
                 col + grp * g.patch * np, np, 1, dW + grp * g.outPerGroup * g.patch, g.patch)
        }
        guard let dx else { return }
        for grp in 0..<g.groups {
            gemm(true, false, g.patch, np, g.outPerGroup, 1, weight.value.data + grp * g.outPerGroup * g.patch, g.patch,
                 prod + grp * g.outPerGroup * np, np, 0, col + grp * g.patch * np, np)
        }
        dx.update(repeating: 0, count: images * g.inChannels * g.inPlane)
        if parallel {
            col2im(col, batch: images, g, dx)
        } else {
            col2im(col, batch: images, g, dx, channels: 0..<g.inChannels)
        }
    }

    public func backward(_ dy: Tensor) -> Tensor {
        guard let x = input else { preconditionFailure("backward before forward") }
        let n = x.batch, g = geometry, p = g.outPlane
        if let bias { accumulateBiasGrad(dy, bias.grad.data) }
        let dx = needsInputGradient ? ensure(&gradInput, x.shape, batch: n) : nil
        let workers = prepareWorkers()
        if isPointwise {
            pointwiseBackward(x, dy, dx, workers: workers)
            return dx ?? x
        }
        if n < 2 * workers {
            let (col, prod) = workerBuffers(0, images: n)
            im2col(x.data, batch: n, g, col)
            nchwToChannelMajor(dy.data, prod, batch: n, channels: g.outChannels, plane: p)
            groupBackward(col, prod, np: n * p, dW: weight.grad.data, dx: dx?.data, images: n, gemm: sgemm, parallel: true)
            return dx ?? x
        }
        let partials = partialGradients(workers)
        let blockedDX = dx == nil ? nil : inputGradientRunner(batch: n, workers: workers)
        if let runner = forwardRunner(batch: n, workers: workers), dx == nil || blockedDX != nil {
            // no im2col at all: dW and dx both on the blocked kernel
            runner.weightGradient(x.data, dy.data, batch: n, into: partials)
            reducePartials(partials)
            if let blockedDX, let dx { blockedDX.run(dy.data, batch: n, bias: nil, into: dx.data, workers: workers) }
            return dx ?? x
        }
        let gemmDX = blockedDX == nil ? dx : nil
        forEachSlice(x, workers: workers) { w, i, cnt, col, prod in
            nchwToChannelMajor(dy.data + i * dy.sampleCount, prod, batch: cnt, channels: g.outChannels, plane: p,
                               only: 0..<g.outChannels)
            groupBackward(col, prod, np: cnt * p, dW: partials[w], dx: gemmDX.map { $0.data + i * x.sampleCount },
                          images: cnt, gemm: sgemmBLAS, parallel: false)
        }
        reducePartials(partials)
        if let blockedDX, let dx { blockedDX.run(dy.data, batch: n, bias: nil, into: dx.data, workers: workers) }
        return dx ?? x
    }

    /// Splits the batch across workers; each walks its slice `imagesPerStep` images at a
    /// time, im2col-ing them into its own buffer before calling
    /// `body(worker, firstImage, count, col, product)`.
    private func forEachSlice(_ x: Tensor, workers: Int,
                              _ body: (Int, Int, Int, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) -> Void) {
        let g = geometry, step = imagesPerStep
        for w in 0..<workers { _ = workerBuffers(w, images: step) }
        Parallel.forEachWorker(x.batch, workers: workers) { w, images in
            let col = workerCol[w]!.data, prod = workerProduct[w]!.data
            var i = images.lowerBound
            while i < images.upperBound {
                let cnt = min(step, images.upperBound - i)
                im2col(x.data + i * x.sampleCount, batch: cnt, g, col, channels: 0..<g.inChannels)
                body(w, i, cnt, col, prod)
                i += cnt
            }
        }
    }

    /// dW accumulators per worker: the first writes straight into the gradient.
    private func partialGradients(_ workers: Int) -> [UnsafeMutablePointer<Float>] {
        let count = weight.grad.count
        return (0..<workers).map { w in
            if w == 0 { return weight.grad.data }
            let buf = scratch(&workerGrad[w], count: count)
            buf.update(repeating: 0, count: count)
            return buf
        }
    }

    private func reducePartials(_ partials: [UnsafeMutablePointer<Float>]) {
        let d = weight.grad.data, count = weight.grad.count
        for w in partials.indices.dropFirst() {
            let s = partials[w]
            for i in 0..<count { d[i] += s[i] }
        }
    }

    private func pointwiseBackward(_ x: Tensor, _ dy: Tensor, _ dx: Tensor?, workers: Int) {
        let g = geometry, p = g.outPlane
        let partials = partialGradients(workers)
        Parallel.forEachWorker(x.batch, workers: workers) { w, images in
            for i in images {
                let dyi = dy.data + i * dy.sampleCount, xi = x.data + i * x.sampleCount
                sgemmBLAS(false, true, g.outChannels, g.inChannels, p, 1, dyi, p, xi, p, 1, partials[w], g.inChannels)
                if let dx {
                    sgemmBLAS(true, false, g.inChannels, p, g.outChannels, 1, weight.value.data, g.inChannels,
                              dyi, p, 0, dx.data + i * dx.sampleCount, p)
                }
            }
        }
        reducePartials(partials)
    }
}

/// y[n, c, :] += b[c]
func addBias(_ y: Tensor, _ b: UnsafePointer<Float>) {
    let p = y.plane
    for n in 0..<y.batch {
        for c in 0..<y.channels {
            let row = y.data + (n * y.channels + c) * p
            let v = b[c]
            for i in 0..<p { row[i] += v }
        }
    }
}

/// db[c] += sum over n and the plane of dy[n, c, :]
func accumulateBiasGrad(_ dy: Tensor, _ db: UnsafeMutablePointer<Float>) {
    let p = dy.plane
    for c in 0..<dy.channels {
        var acc: Float = 0
        for n in 0..<dy.batch {
            let row = dy.data + (n * dy.channels + c) * p
            for i in 0..<p { acc += row[i] }
        }
        db[c] += acc
    }
}
