/// `Conv2d`'s kernels: the one `ConvKernelChoice` picks runs the pass.
///
/// - `.pointwiseGEMM`: one GEMM per image straight on NCHW memory, no im2col.
/// - `.im2colGEMM`: at batches of at least two images per worker, each worker takes a
///   slice of the batch and walks it a few images at a time: im2col into a cache-sized
///   buffer, one GEMM per group; backward recomputes that im2col rather than keeping a
///   batch-sized copy. Smaller batches (batch-1 inference): im2col of the whole batch,
///   GEMMs split across workers.
/// - `.blocked`, `.blockedWinograd`: the forward pass, the weight gradient and the input
///   gradient of stride-1 convs run on `BlockedConvRunner`. A strided conv whose input
///   gradient is needed keeps im2col + GEMM for both gradients: a blocked weight gradient
///   beside a GEMM input gradient measured slower (1.15x over GEMM alone for the small
///   ResNet's training step, against 1.19x this way).
extension Conv2d {
    /// The kernel this conv runs on at batch `n` under `compute`.
    func kernel(batch n: Int, _ compute: Compute) -> ConvKernel {
        ConvKernelChoice.choose(geometry, batch: n, setting: .training, workers: compute.threads, options: compute.kernels)
    }

    /// Whether the blocked kernel has run this conv's forward pass and its input gradient.
    var blockedPaths: (forward: Bool, inputGradient: Bool) { (blockedForward != nil, blockedInputGradient != nil) }
    /// Whether those blocked passes run as Winograd.
    var winogradPaths: (forward: Bool, inputGradient: Bool) {
        (blockedForward?.winograd != nil, blockedInputGradient?.winograd != nil)
    }

    /// y = W * x + b on the chosen kernel.
    func convolve(_ x: Tensor, into y: Tensor) {
        let compute = Compute.current(), workers = prepareWorkers(compute.threads)
        let n = x.batch, g = geometry, p = g.outPlane
        switch kernel(batch: n, compute) {
        case .blocked, .blockedWinograd:
            let runner = forwardRunner(batch: n, compute)!
            runner.setWeights(weight.value.data)
            runner.run(x.data, batch: n, bias: bias?.value.data, into: y.data, workers: workers)
        case .pointwiseGEMM:
            Parallel.forEachWorker(n, workers: workers) { _, images in
                for i in images {
                    sgemmBLAS(false, false, g.outChannels, p, g.inChannels, 1, weight.value.data, g.inChannels,
                              x.data + i * x.sampleCount, p, 0, y.data + i * y.sampleCount, p)
                }
            }
            if let bias { addBias(y, bias.value.data) }
        default:
            im2colForward(x, into: y, workers: workers)
        }
    }

    /// dW += dy (x) x and, if `dx`, dx = W^T (x) dy, on the chosen kernels.
    func convolveBackward(_ x: Tensor, _ dy: Tensor, into dx: Tensor?) {
        let compute = Compute.current(), workers = prepareWorkers(compute.threads)
        let n = x.batch, g = geometry, p = g.outPlane
        let forwardKernel = kernel(batch: n, compute)
        if forwardKernel == .pointwiseGEMM {
            pointwiseBackward(x, dy, dx, workers: workers)
            return
        }
        if n < 2 * workers {
            let (col, prod) = workerBuffers(0, images: n)
            im2col(x.data, batch: n, g, col)
            nchwToChannelMajor(dy.data, prod, batch: n, channels: g.outChannels, plane: p)
            groupBackward(col, prod, np: n * p, dW: weight.grad.data, dx: dx?.data, images: n, gemm: sgemm, parallel: true)
            return
        }
        let partials = partialGradients(workers)
        let blockedDX = dx == nil ? nil : inputGradientRunner(batch: n, compute)
        if forwardKernel != .im2colGEMM, let runner = forwardRunner(batch: n, compute), dx == nil || blockedDX != nil {
            // no im2col at all: dW and dx both on the blocked kernel
            runner.weightGradient(x.data, dy.data, batch: n, into: partials)
            reducePartials(partials)
            if let blockedDX, let dx { blockedDX.run(dy.data, batch: n, bias: nil, into: dx.data, workers: workers) }
            return
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
    }

    /// The blocked runner for the forward pass (and the weight gradient), if the chosen
    /// kernel is a blocked one; remade if the choice between its two forms changed.
    private func forwardRunner(batch n: Int, _ compute: Compute) -> BlockedConvRunner? {
        let k = kernel(batch: n, compute)
        guard k == .blocked || k == .blockedWinograd else { return nil }
        if blockedForward == nil || (blockedForward!.winograd != nil) != (k == .blockedWinograd) {
            blockedForward = BlockedConvRunner(geometry, winograd: k == .blockedWinograd)
        }
        return blockedForward
    }

    /// The blocked runner for the input gradient (the conv of dy with the flipped weights,
    /// stride-1 convs only), with those weights loaded, if that conv's chosen kernel is blocked.
    private func inputGradientRunner(batch n: Int, _ compute: Compute) -> BlockedConvRunner? {
        guard let t = BlockedConvRunner.inputGradientGeometry(of: geometry) else { return nil }
        let k = ConvKernelChoice.choose(t, batch: n, setting: .training, workers: compute.threads, options: compute.kernels)
        guard k == .blocked || k == .blockedWinograd else { return nil }
        if blockedInputGradient == nil || (blockedInputGradient!.winograd != nil) != (k == .blockedWinograd) {
            blockedInputGradient = BlockedConvRunner(t, winograd: k == .blockedWinograd)
        }
        if flippedWeights == nil { flippedWeights = .allocate(capacity: weight.value.count) }
        BlockedConvRunner.flipped(weight.value.data, geometry, into: flippedWeights!)
        blockedInputGradient!.setWeights(flippedWeights!)
        return blockedInputGradient
    }

    /// Images per im2col step for one worker.
    var imagesPerStep: Int { max(1, Conv2d.columnBudget / max(1, geometry.inChannels * geometry.kernelH * geometry.kernelW * geometry.outPlane)) }

    private func workerBuffers(_ w: Int, images: Int) -> (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) {
        let g = geometry, np = images * g.outPlane
        return (scratch(&workerCol[w], count: g.inChannels * g.kernelH * g.kernelW * np),
                scratch(&workerProduct[w], count: g.outChannels * np))
    }

    /// Sizes the per-worker buffers for `threads` workers and returns that count, which
    /// the rest of the pass uses.
    private func prepareWorkers(_ threads: Int) -> Int {
        let w = max(1, threads)
        if workerCol.count < w {
            workerCol = Array(repeating: nil, count: w)
            workerProduct = Array(repeating: nil, count: w)
            workerGrad = Array(repeating: nil, count: w)
        }
        return w
    }

    private func im2colForward(_ x: Tensor, into y: Tensor, workers: Int) {
        let n = x.batch, g = geometry, p = g.outPlane
        if n == 1 {
            // one image: [Cout, P] is already NCHW, so the GEMM writes the output directly,
            // on top of the bias
            let (col, _) = workerBuffers(0, images: 1)
            im2col(x.data, batch: 1, g, col)
            if let bias {
                for c in 0..<g.outChannels { (y.data + c * p).update(repeating: bias.value[c], count: p) }
            }
            for grp in 0..<g.groups { groupForward(grp, col, y.data, np: p, gemm: sgemm, beta: bias == nil ? 0 : 1) }
        } else if n < 2 * workers {
            let (col, prod) = workerBuffers(0, images: n)
            im2col(x.data, batch: n, g, col)
            for grp in 0..<g.groups { groupForward(grp, col, prod, np: n * p, gemm: sgemm) }
            channelMajorToNCHW(prod, y.data, batch: n, channels: g.outChannels, plane: p, bias: bias?.value.data)
        } else {
            forEachSlice(x, workers: workers) { _, i, cnt, col, prod in
                for grp in 0..<g.groups { groupForward(grp, col, prod, np: cnt * p, gemm: sgemmBLAS) }
                channelMajorToNCHW(prod, y.data + i * y.sampleCount, batch: cnt, channels: g.outChannels, plane: p,
                                   bias: bias?.value.data, only: 0..<g.outChannels)
            }
        }
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
