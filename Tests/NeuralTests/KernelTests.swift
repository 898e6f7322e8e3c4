import TestSupport
import Testing
@testable import Neural

/// Every optimized kernel against its naive twin, on random shapes, with one and two
/// workers (the batch-sliced and the whole-batch conv paths both run).
@Suite("Optimized kernels vs naive twins")
struct KernelTests {
    struct ConvCase: CustomStringConvertible, Sendable {
        var cin, cout, h, w, k, s, p, groups, batch: Int
        var description: String { "\(cin)->\(cout) \(h)x\(w) k\(k) s\(s) p\(p) g\(groups) n\(batch)" }
    }

    static let convCases: [ConvCase] = {
        var rng = SeededGenerator(seed: 42)
        var cases: [ConvCase] = [
            .init(cin: 3, cout: 8, h: 9, w: 7, k: 3, s: 1, p: 1, groups: 1, batch: 5),
            .init(cin: 4, cout: 6, h: 8, w: 8, k: 1, s: 1, p: 0, groups: 1, batch: 4),   // pointwise GEMM
            .init(cin: 6, cout: 6, h: 7, w: 9, k: 3, s: 2, p: 1, groups: 3, batch: 1),   // grouped, batch 1
            .init(cin: 5, cout: 5, h: 10, w: 6, k: 3, s: 2, p: 1, groups: 5, batch: 3),  // depthwise
            .init(cin: 4, cout: 4, h: 11, w: 11, k: 5, s: 1, p: 2, groups: 4, batch: 2), // depthwise 5x5
            .init(cin: 2, cout: 3, h: 40, w: 40, k: 7, s: 2, p: 3, groups: 1, batch: 6), // stem-like, many steps
            // the channel-blocked kernel (cout a multiple of 16): forward, and dx of stride-1 convs
            .init(cin: 3, cout: 16, h: 9, w: 7, k: 3, s: 1, p: 1, groups: 1, batch: 5),   // dx: GEMM (3 channels)
            .init(cin: 16, cout: 32, h: 11, w: 6, k: 3, s: 1, p: 1, groups: 1, batch: 7),
            .init(cin: 32, cout: 16, h: 7, w: 10, k: 3, s: 2, p: 1, groups: 1, batch: 4), // stride 2: dx GEMM
            .init(cin: 16, cout: 10, h: 9, w: 8, k: 3, s: 1, p: 1, groups: 1, batch: 4),  // dW GEMM, dx blocked
            .init(cin: 16, cout: 16, h: 9, w: 9, k: 5, s: 1, p: 2, groups: 1, batch: 3),
            .init(cin: 16, cout: 16, h: 8, w: 8, k: 3, s: 1, p: 0, groups: 1, batch: 4),  // dx reads a border of 2
            .init(cin: 16, cout: 16, h: 64, w: 48, k: 3, s: 1, p: 1, groups: 1, batch: 5), // 2 images a step
            .init(cin: 32, cout: 16, h: 5, w: 13, k: 3, s: 1, p: 1, groups: 1, batch: 3),  // Winograd, odd sizes
            .init(cin: 24, cout: 32, h: 40, w: 40, k: 7, s: 2, p: 3, groups: 1, batch: 6), // stem reading a border of 3
        ]
        for _ in 0..<6 {
            let groups = [1, 1, 2][rng.below(3)]
            let k = 1 + rng.below(5)
            cases.append(.init(cin: groups * (1 + rng.below(4)), cout: groups * (1 + rng.below(4)), h: k + rng.below(9),
                               w: k + rng.below(9), k: k, s: 1 + rng.below(3), p: rng.below(k / 2 + 1), groups: groups,
                               batch: 1 + rng.below(6)))
        }
        return cases
    }()

    @Test("conv and depthwise layers == naive direct convolution (im2col + GEMM, blocked, Winograd)", arguments: convCases, [1, 2])
    func conv(_ c: ConvCase, workers: Int) throws {
        try Parallel.with(workers: workers) { try convCase(c) }
    }

    func convCase(_ c: ConvCase) throws {
        let spec = NetworkSpec(name: "c", input: Shape(c.cin, c.h, c.w),
                               layers: [.conv(out: c.cout, kernel: c.k, stride: c.s, padding: c.p, groups: c.groups, bias: true)])
        let net = try Network(spec, seed: 3)
        let layer = net.root.layers[0]
        #expect((layer is DepthwiseConv2d) == (c.groups == c.cin && c.cin == c.cout && c.groups > 1))
        let (w, b) = (net.namedParameters[0].1, net.namedParameters[1].1)
        var rng = SeededGenerator(seed: 9)
        let x = randomTensor(batch: c.batch, spec.input, &rng)
        let y = net.forward(x, mode: .train)
        let g = ConvGeometry(input: spec.input, outChannels: c.cout, kernel: c.k, stride: c.s, padding: c.p, groups: c.groups)
        let ref = Tensor(y.shape, batch: c.batch)
        convForwardNaive(x.data, w.value.data, b.value.data, ref.data, batch: c.batch, g)
        expectClose(y.array, ref.array, tolerance: 1e-5, "forward \(c)")

        let dy = randomTensor(batch: c.batch, y.shape, &rng)
        net.zeroGradients()
        let dx = try #require(net.backward(dy, inputGradient: true))
        let rdx = Tensor(x.shape, batch: c.batch), rdw = Tensor(w.value.shape, batch: w.value.batch)
        let rdb = Tensor(b.value.shape, batch: 1)
        convBackwardNaive(x.data, w.value.data, dy.data, rdx.data, rdw.data, rdb.data, batch: c.batch, g)
        expectClose(dx.array, rdx.array, tolerance: 1e-5, "dx \(c)")
        expectClose(w.grad.array, rdw.array, tolerance: 1e-5, "dW \(c)")
        expectClose(b.grad.array, rdb.array, tolerance: 1e-5, "db \(c)")
        if let conv = layer as? Conv2d {
            let blocked = c.cout % 16 == 0 && c.groups == 1 && c.batch >= 2 * Compute.current().threads
            #expect(conv.blockedPaths.forward == blocked, "blocked forward \(c)")
            let blockedDX = c.groups == 1 && c.batch >= 2 * Compute.current().threads && c.s == 1 && c.cin % 16 == 0 && c.k > 1
            #expect(conv.blockedPaths.inputGradient == blockedDX, "blocked dx \(c)")
            // 3x3 stride-1 convs of 16+ input channels: Winograd F(2x2, 3x3), forward and dx
            let winogradForward = blocked && c.k == 3 && c.s == 1 && c.p == 1 && c.cin >= 16
            #expect(conv.winogradPaths.forward == winogradForward, "Winograd forward \(c)")
            #expect(conv.winogradPaths.inputGradient == (blockedDX && c.k == 3 && c.p == 1 && c.cout >= 16), "Winograd dx \(c)")
        }
    }

    @Test("im2col and col2im are adjoint: <im2col(x), c> == <x, col2im(c)>")
    func adjoint() {
        var rng = SeededGenerator(seed: 5)
        for _ in 0..<10 {
            let k = 1 + rng.below(4), s = 1 + rng.below(3)
            let shape = Shape(1 + rng.below(3), k + rng.below(7), k + rng.below(7)), batch = 1 + rng.below(3)
            let g = ConvGeometry(input: shape, outChannels: 1, kernel: k, stride: s, padding: rng.below(k / 2 + 1))
            let x = randomTensor(batch: batch, shape, &rng)
            let rows = shape.channels * k * k, cols = batch * g.outPlane
            let col = Tensor(batch: rows * cols, channels: 1), c = randomTensor(batch: rows * cols, Shape(1), &rng)
            im2col(x.data, batch: batch, g, col.data)
            let back = Tensor(shape, batch: batch)
            col2im(c.data, batch: batch, g, back.data)
            var lhs = 0.0, rhs = 0.0
            for i in 0..<col.count { lhs += Double(col[i]) * Double(c[i]) }
            for i in 0..<x.count { rhs += Double(x[i]) * Double(back[i]) }
            #expect(abs(lhs - rhs) <= 1e-4 * max(1, abs(lhs)), "\(lhs) vs \(rhs)")
        }
    }

    @Test("sgemm (split across workers) == naive GEMM, every transpose", arguments: [1, 2])
    func gemm(workers: Int) throws {
        try Parallel.with(workers: workers) { try gemmCase() }
    }

    func gemmCase() throws {
        try BLASRuntime.verifyKernels(seed: 11)
        var rng = SeededGenerator(seed: 1)
        for (m, n, k) in [(3, 700, 130), (150, 9, 300), (64, 64, 64)] {
            for ta in [false, true] {
                for tb in [false, true] {
                    let a = (0..<(m * k)).map { _ in rng.uniform(-1, 1) }, b = (0..<(k * n)).map { _ in rng.uniform(-1, 1) }
                    var fast = [Float](repeating: 0.5, count: m * n), slow = fast
                    sgemm(ta, tb, m, n, k, 1, a, ta ? m : k, b, tb ? k : n, 1, &fast, n)
                    sgemmNaive(ta, tb, m, n, k, 1, a, ta ? m : k, b, tb ? k : n, 1, &slow, n)
                    expectClose(fast, slow, tolerance: 1e-5, "gemm \(m)x\(n)x\(k) \(ta) \(tb)")
                }
            }
        }
    }

    @Test("16-lane row sums == Double sums, on lengths around the vector width", arguments: [0, 1, 15, 16, 17, 49, 784, 1000])
    func rowSums(_ count: Int) {
        var rng = SeededGenerator(seed: UInt64(count) + 1)
        let x = (0..<count).map { _ in rng.normal() + 0.5 }, g = (0..<count).map { _ in rng.normal() }
        let (s, q) = sumAndSquares(x, count), (sr, qr) = sumAndSquaresNaive(x, count)
        let (a, d) = centredSums(g, x, mu: 0.3, count), (ar, dr) = centredSumsNaive(g, x, mu: 0.3, count)
        let scale = Double(max(1, count))
        for (fast, ref, what) in [(s, sr, "sum"), (q, qr, "squares"), (a, ar, "sum of g"), (d, dr, "centred dot")] {
            #expect(abs(Double(fast) - ref) <= 1e-5 * scale, "\(what) over \(count): \(fast) vs \(ref)")
        }
    }

    @Test("batch norm: fast kernel == Double reference, and running statistics as PyTorch defines them")
    func batchNorm() {
        var rng = SeededGenerator(seed: 2)
        let shape = Shape(3, 5, 4), n = 6
        let bn = BatchNorm2d(shape)
        let x = randomTensor(batch: n, shape, &rng, scale: 3)
        for i in 0..<x.count { x[i] += 2 }
        let y = bn.forward(x, mode: .train)
        let m = n * shape.height * shape.width
        for c in 0..<3 {
            var vals: [Double] = []
            for i in 0..<n { for j in 0..<(shape.height * shape.width) { vals.append(Double(x[(i * 3 + c) * 20 + j])) } }
            let mean = vals.reduce(0, +) / Double(m)
            let variance = vals.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(m)
            for i in 0..<n {
                for j in 0..<20 {
                    let expected = (Double(x[(i * 3 + c) * 20 + j]) - mean) / (variance + 1e-5).squareRoot()
                    #expect(abs(Double(y[(i * 3 + c) * 20 + j]) - expected) < 1e-4)
                }
            }
            #expect(abs(Double(bn.runningMean[c]) - 0.1 * mean) < 1e-5)
            #expect(abs(Double(bn.runningVar[c]) - (0.9 + 0.1 * variance * Double(m) / Double(m - 1))) < 1e-4)
        }
    }
}

@Suite("Winograd F(2x2, 3x3)")
struct WinogradTests {
    @Test("== naive direct convolution on odd sizes, paddings and batches", arguments: [
        (3, 5, 7, 9, 1, 1), (4, 6, 8, 8, 0, 2), (2, 3, 5, 4, 2, 1), (16, 8, 28, 28, 1, 3), (5, 7, 3, 3, 1, 1),
    ])
    func matchesNaive(_ cin: Int, _ cout: Int, _ h: Int, _ w: Int, _ pad: Int, _ batch: Int) throws {
        var rng = SeededGenerator(seed: UInt64(cin * 31 + h))
        let g = ConvGeometry(input: Shape(cin, h, w), outChannels: cout, kernel: 3, stride: 1, padding: pad)
        let weight = (0..<(cout * cin * 9)).map { _ in rng.normal() }
        let bias = (0..<cout).map { _ in rng.normal() }
        let x = randomTensor(batch: batch, Shape(cin, h, w), &rng)
        let conv = WinogradConv(g, weight: weight, bias: bias)
        let y = conv.forward(x, mode: .eval)
        let ref = Tensor(y.shape, batch: batch)
        convForwardNaive(x.data, weight, bias, ref.data, batch: batch, g)
        expectClose(y.array, ref.array, tolerance: 1e-5, "winograd \(cin)->\(cout) \(h)x\(w) p\(pad) n\(batch)")
        try Parallel.with(workers: 2) {
            let again = WinogradConv(g, weight: weight, bias: bias).forward(x, mode: .eval)
            #expect(again.array == y.array)
        }
    }
}

@Suite("Direct convolution (inference)")
struct DirectConvTests {
    @Test("== naive convolution on odd sizes, kernels, strides, paddings and batches", arguments: [
        (3, 5, 7, 9, 3, 1, 1, 1), (4, 6, 8, 8, 3, 1, 0, 2), (2, 3, 5, 4, 3, 1, 2, 1), (16, 8, 28, 28, 3, 1, 1, 3),
        (5, 7, 3, 3, 3, 1, 1, 1), (3, 9, 17, 13, 7, 2, 3, 2), (8, 12, 9, 9, 3, 2, 1, 1), (6, 5, 10, 11, 5, 2, 2, 1),
        (1, 32, 28, 28, 3, 1, 1, 1), (4, 4, 12, 12, 3, 3, 1, 2), (64, 64, 4, 4, 3, 1, 1, 1), (3, 2, 6, 6, 2, 2, 0, 1),
        // strided packing's vector path (rows of 16+ inputs), at batch 1 split across threads
        (32, 16, 30, 34, 3, 2, 1, 1), (8, 8, 21, 40, 3, 2, 0, 2),
    ], FloatISA.available)
    func matchesNaive(_ c: (Int, Int, Int, Int, Int, Int, Int, Int), isa: FloatISA) throws {
        let (cin, cout, h, w, k, stride, pad, batch) = c
        var rng = SeededGenerator(seed: UInt64(cin * 31 + h * 7 + k))
        let g = ConvGeometry(input: Shape(cin, h, w), outChannels: cout, kernel: k, stride: stride, padding: pad)
        let weight = (0..<(cout * cin * k * k)).map { _ in rng.normal() }
        let bias = (0..<cout).map { _ in rng.normal() }
        let x = randomTensor(batch: batch, Shape(cin, h, w), &rng)
        let ref = Tensor(Shape(cout, g.outHeight, g.outWidth), batch: batch)
        convForwardNaive(x.data, weight, bias, ref.data, batch: batch, g)
        let name = "direct \(cin)->\(cout) \(h)x\(w) k\(k) s\(stride) p\(pad) n\(batch) \(isa)"
        let conv = DirectConvLayer(g, weight: weight, bias: bias)
        conv.isa = isa
        let y = conv.forward(x, mode: .eval)
        expectClose(y.array, ref.array, tolerance: 1e-5 * Float(cin * k * k).squareRoot(), name)
        conv.relu = true
        let again = try Parallel.with(workers: 2) { conv.forward(x, mode: .eval).array }
        expectClose(again, ref.array.map { max($0, 0) }, tolerance: 1e-5 * Float(cin * k * k).squareRoot(), name + " relu")
    }
}

extension DirectConvTests {
    /// The layer writes only the image into its packing buffer (the padding stays as the
    /// zeroed buffer had it): a new input, a larger batch or a smaller one must leave nothing
    /// of the previous call behind.
    @Test("reused across inputs and batch sizes, == naive every time", arguments: [(1, 1), (2, 1), (2, 0)])
    func reusedBufferStaysClean(_ stride: Int, _ pad: Int) {
        var rng = SeededGenerator(seed: UInt64(40 + stride * 3 + pad))
        let (cin, cout, h, w) = (12, 8, 15, 19)
        let g = ConvGeometry(input: Shape(cin, h, w), outChannels: cout, kernel: 3, stride: stride, padding: pad)
        let weight = (0..<(cout * cin * 9)).map { _ in rng.normal() }
        let bias = (0..<cout).map { _ in rng.normal() }
        let conv = DirectConvLayer(g, weight: weight, bias: bias)
        for batch in [2, 1, 3, 1] {
            let x = randomTensor(batch: batch, Shape(cin, h, w), &rng)
            for i in 0..<x.count { x[i] += 5 }  // far from zero: stale values would show
            let ref = Tensor(Shape(cout, g.outHeight, g.outWidth), batch: batch)
            convForwardNaive(x.data, weight, bias, ref.data, batch: batch, g)
            expectClose(conv.forward(x, mode: .eval).array, ref.array, tolerance: 1e-4, "stride \(stride) pad \(pad) batch \(batch)")
        }
    }
}

extension DirectConvTests {
    @Test("adding a residual before the activation == naive conv + residual, then ReLU", arguments: [(1, 1), (2, 3)])
    func residualInTheOutputWrite(_ stride: Int, _ batch: Int) {
        var rng = SeededGenerator(seed: UInt64(70 + stride))
        let (cin, cout, h, w) = (9, 10, 13, 11)
        let g = ConvGeometry(input: Shape(cin, h, w), outChannels: cout, kernel: 3, stride: stride, padding: 1)
        let weight = (0..<(cout * cin * 9)).map { _ in rng.normal() }
        let bias = (0..<cout).map { _ in rng.normal() }
        let conv = DirectConvLayer(g, weight: weight, bias: bias)
        let x = randomTensor(batch: batch, Shape(cin, h, w), &rng)
        let residual = randomTensor(batch: batch, conv.outputShape, &rng)
        let ref = Tensor(conv.outputShape, batch: batch)
        convForwardNaive(x.data, weight, bias, ref.data, batch: batch, g)
        let sum = zip(ref.array, residual.array).map { $0 + $1 }
        expectClose(conv.forward(x, adding: residual, relu: false).array, sum, tolerance: 1e-4, "sum, stride \(stride)")
        let rectified = try! Parallel.with(workers: 2) { conv.forward(x, adding: residual, relu: true).array }
        expectClose(rectified, sum.map { max($0, 0) }, tolerance: 1e-4, "sum then ReLU, stride \(stride)")
        #expect(rectified.contains(0) && sum.contains { $0 < 0 }, "the ReLU came after the sum")
        expectClose(conv.forward(x, mode: .eval).array, ref.array, tolerance: 1e-4, "no residual on the plain call")
    }
}

@Suite("Channel-blocked convolution (training)")
struct BlockedTrainingTests {
    @Test("weight gradient == naive, on odd input channels, kernels, strides, batches and worker counts", arguments: [
        (1, 16, 9, 7, 3, 1, 1, 5, 1), (3, 32, 13, 11, 3, 2, 1, 4, 2), (5, 16, 6, 6, 1, 2, 0, 3, 2), (16, 16, 8, 9, 5, 1, 2, 7, 2),
        (24, 32, 10, 10, 7, 2, 3, 2, 1), (16, 16, 64, 60, 3, 1, 1, 9, 2),   // the last: several steps per worker
    ], FloatISA.available)
    func weightGradient(_ c: (Int, Int, Int, Int, Int, Int, Int, Int, Int), isa: FloatISA) {
        let (cin, cout, h, w, k, stride, pad, batch, workers) = c
        let g = ConvGeometry(input: Shape(cin, h, w), outChannels: cout, kernel: k, stride: stride, padding: pad)
        var rng = SeededGenerator(seed: UInt64(cin * 7 + k + batch))
        let x = randomTensor(batch: batch, Shape(cin, h, w), &rng)
        let dy = randomTensor(batch: batch, Shape(cout, g.outHeight, g.outWidth), &rng)
        let runner = BlockedConvRunner(g)
        runner.isa = isa
        let count = cout * cin * k * k
        let partials = (0..<workers).map { _ in
            let p = UnsafeMutablePointer<Float>.allocate(capacity: count)
            p.initialize(repeating: 0.5, count: count)   // accumulated into, not overwritten
            return p
        }
        defer { for p in partials { p.deallocate() } }
        Parallel.with(workers: workers) { runner.weightGradient(x.data, dy.data, batch: batch, into: partials) }
        let fast = (0..<count).map { i in partials.reduce(Float(-0.5) * Float(workers)) { $0 + $1[i] } }
        var ref = [Float](repeating: 0, count: count)
        let weights = [Float](repeating: 0, count: count)
        ref.withUnsafeMutableBufferPointer { convBackwardNaive(x.data, weights, dy.data, nil, $0.baseAddress!, nil, batch: batch, g) }
        expectClose(fast, ref, tolerance: 1e-4, "dW \(cin)->\(cout) k\(k) s\(stride) n\(batch) \(isa)")
        if h == 64 { #expect(runner.imagesPerStep < batch / workers, "several steps per worker") }
    }
}

@Suite("Channel-blocked convolution (inference)")
struct BlockedConvTests {
    @Test("the blocked layout round-trips [C, H, W] (whole blocks transposed 8x8, the rest one by one) and keeps its border zero")
    func layoutRoundTrip() {
        var rng = SeededGenerator(seed: 91)
        let (c, h, w) = (20, 5, 19), plane = h * w   // two whole blocks and 4 channels; two vectors of pixels and 3
        let layout = BlockedLayout(channels: c, height: h, width: w)
        let x = (0..<(c * plane)).map { _ in rng.normal() }
        let b = UnsafeMutablePointer<Float>.allocate(capacity: layout.count)
        defer { b.deallocate() }
        for ranges in [[0..<c], [0..<3, 3..<20], [0..<8, 8..<11, 11..<20]] {
            b.initialize(repeating: 0, count: layout.count)
            for r in ranges { layout.pack(x, into: b, channels: r) }
            for (ch, y, i) in [(9, 2, 3), (0, 0, 0), (19, 4, 18), (7, 3, 16), (12, 1, 8)] {
                #expect(b[layout.offset(ch, y, i)] == x[ch * plane + y * w + i], "\(ranges): (\(ch), \(y), \(i))")
            }
            var back = [Float](repeating: 0, count: x.count)
            back.withUnsafeMutableBufferPointer { out in
                for r in ranges.reversed() { layout.unpack(b, into: out.baseAddress!, channels: r) }
            }
            #expect(back == x, "\(ranges)")
            #expect(b[layout.offset(0, -1, 0)] == 0 && b[layout.offset(15, 5, 6)] == 0 && b[layout.offset(3, 4, 19)] == 0, "border")
        }
        #expect(layout.count == 3 * 7 * 21 * 8)
    }

    @Test("== naive convolution, + residual, then ReLU, on odd sizes, kernels, strides and batches", arguments: [
        (8, 16, 7, 9, 3, 1, 1), (16, 32, 13, 11, 3, 2, 1), (8, 16, 6, 6, 1, 2, 0), (24, 16, 5, 3, 3, 1, 1),
        (8, 32, 9, 12, 1, 1, 0), (16, 16, 10, 10, 2, 2, 0), (8, 16, 1, 1, 3, 1, 1), (32, 48, 28, 28, 3, 2, 1),
        (1, 16, 9, 7, 3, 1, 1), (3, 32, 8, 8, 3, 2, 1), (12, 16, 6, 5, 3, 1, 1), (20, 32, 5, 7, 1, 1, 0),   // a last block of fewer than 8 channels
        (16, 8, 9, 7, 3, 1, 1), (8, 24, 7, 7, 3, 2, 1), (24, 40, 5, 6, 1, 1, 0), (6, 8, 11, 9, 5, 2, 1),   // a last half block of outputs
    ], FloatISA.available)
    func matchesNaive(_ c: (Int, Int, Int, Int, Int, Int, Int), isa: FloatISA) throws {
        let (cin, cout, h, w, k, stride, pad) = c
        let g = ConvGeometry(input: Shape(cin, h, w), outChannels: cout, kernel: k, stride: stride, padding: pad)
        #expect(BlockedConvPlan.applies(to: g))
        let plan = BlockedConvPlan(g)
        let wp = UnsafeMutablePointer<Float>.allocate(capacity: plan.packedWeightCount)
        defer { wp.deallocate() }
        expectBlockedConvMatchesNaive(g, input: plan.input, output: plan.output, seed: UInt64(cin * 13 + h * 5 + k + stride), "blocked \(isa)",
                                      split: 3, pack: { plan.packWeights($0, into: wp) }) { batch, x, y, bias, residual, relu, split in
            let table = plan.pixels(batch: batch)
            #expect(table.count == batch * g.outPlane)
            // pixel blocks in `split` parts, channel blocks one by one: any partition gives the same output
            for kb in 0..<plan.channelBlocks {
                for s in 0..<split {
                    let lo = table.blocks * s / split, hi = table.blocks * (s + 1) / split
                    plan.run(x, wp, bias: bias, relu: relu, y, residual: residual, table, channelBlocks: kb..<(kb + 1), pixelBlocks: lo..<hi,
                             isa: isa)
                }
            }
        }
    }
}

extension BlockedConvTests {
    @Test("a 7x7 stride-2 stem reading a border of 3 == naive convolution")
    func stemFromAWideBorder() {
        var rng = SeededGenerator(seed: 17)
        let g = ConvGeometry(input: Shape(3, 19, 16), outChannels: 16, kernel: 7, stride: 2, padding: 3)
        #expect(!BlockedConvPlan.applies(to: g) && BlockedConvPlan.applies(to: g, inputBorder: 3))
        let plan = BlockedConvPlan(g, inputBorder: 3)
        let weight = (0..<(16 * 3 * 49)).map { _ in rng.normal() }, bias = (0..<16).map { _ in rng.normal() }
        let x = (0..<(3 * 19 * 16)).map { _ in rng.normal() }
        var ref = [Float](repeating: 0, count: 16 * g.outPlane)
        ref.withUnsafeMutableBufferPointer { convForwardNaive(x, weight, bias, $0.baseAddress!, batch: 1, g) }
        let wp = UnsafeMutablePointer<Float>.allocate(capacity: plan.packedWeightCount)
        let xb = UnsafeMutablePointer<Float>.allocate(capacity: plan.input.count), yb = UnsafeMutablePointer<Float>.allocate(capacity: plan.output.count)
        defer { for p in [wp, xb, yb] { p.deallocate() } }
        xb.initialize(repeating: 0, count: plan.input.count)
        yb.initialize(repeating: 0, count: plan.output.count)
        plan.packWeights(weight, into: wp)
        plan.input.pack(x, into: xb, channels: 0..<3)
        let table = plan.pixels(batch: 1)
        plan.run(xb, wp, bias: bias, relu: false, yb, residual: nil, table, channelBlocks: 0..<1, pixelBlocks: 0..<table.blocks)
        var out = [Float](repeating: 0, count: ref.count)
        out.withUnsafeMutableBufferPointer { plan.output.unpack(yb, into: $0.baseAddress!, channels: 0..<16) }
        expectClose(out, ref, tolerance: 1e-4, "7x7 s2 p3")
    }

    @Test("blocked max pooling == MaxPool2d on non-negative inputs", arguments: [
        (3, 2, 1, 9, 7, 1), (2, 2, 0, 8, 8, 1), (3, 1, 1, 5, 6, 1), (3, 2, 1, 12, 11, 3),
    ])
    func maxPoolMatchesTwin(_ k: Int, _ stride: Int, _ pad: Int, _ h: Int, _ w: Int, _ border: Int) {
        var rng = SeededGenerator(seed: UInt64(k * 10 + h))
        let channels = 12, batch = 2
        let g = ConvGeometry(input: Shape(channels, h, w), outChannels: channels, kernel: k, stride: stride, padding: pad)
        let x = randomTensor(batch: batch, Shape(channels, h, w), &rng)
        for i in 0..<x.count { x[i] = max(x[i], 0) }   // after a ReLU
        let ref = MaxPool2d(g).forward(x, mode: .eval).array
        let plan = BlockedMaxPool(g, inputBorder: border)
        let xb = UnsafeMutablePointer<Float>.allocate(capacity: batch * plan.input.count)
        let yb = UnsafeMutablePointer<Float>.allocate(capacity: batch * plan.output.count)
        defer { xb.deallocate(); yb.deallocate() }
        xb.initialize(repeating: 0, count: batch * plan.input.count)
        yb.initialize(repeating: 0, count: batch * plan.output.count)
        let inCount = channels * h * w, outCount = channels * g.outPlane
        for b in 0..<batch { plan.input.pack(x.data + b * inCount, into: xb + b * plan.input.count, channels: 0..<channels) }
        plan.run(xb, yb, planes: 0..<(batch * plan.planes - 1))
        plan.run(xb, yb, planes: (batch * plan.planes - 1)..<(batch * plan.planes))
        var out = [Float](repeating: -1, count: batch * outCount)
        out.withUnsafeMutableBufferPointer { o in
            for b in 0..<batch { plan.output.unpack(yb + b * plan.output.count, into: o.baseAddress! + b * outCount, channels: 0..<channels) }
        }
        #expect(out == ref, "k\(k) s\(stride) p\(pad) \(h)x\(w) border \(border)")
    }
}

@Suite("Max pooling, evaluation path")
struct MaxPoolEvalTests {
    @Test("== the training path (its twin) on odd sizes, kernels, strides and paddings", arguments: [
        (3, 2, 1, 9, 7), (2, 2, 0, 8, 8), (3, 1, 1, 5, 6), (4, 4, 0, 4, 4), (3, 2, 1, 64, 64), (5, 3, 2, 11, 10),
    ])
    func matchesTraining(_ k: Int, _ stride: Int, _ pad: Int, _ h: Int, _ w: Int) {
        var rng = SeededGenerator(seed: UInt64(k * 100 + h))
        let shape = Shape(3, h, w)
        let x = randomTensor(batch: 2, shape, &rng)
        let pool = MaxPool2d(ConvGeometry(input: shape, outChannels: 3, kernel: k, stride: stride, padding: pad))
        let train = pool.forward(x, mode: .train).array
        let eval = pool.forward(x, mode: .eval).array
        #expect(eval.count == train.count)
        #expect(eval == train, "maxpool k\(k) s\(stride) p\(pad) \(h)x\(w)")
    }
}
