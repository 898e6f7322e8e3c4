import Testing
@testable import Neural

/// `ConvKernelChoice`: every kernel it picks gives the naive convolution on the geometries
/// it picks it for, training and inference pick alike where both can run, and the
/// crossovers sit where its table says.
@Suite("Conv kernel choice")
struct ConvKernelChoiceTests {
    /// Geometries covering every kernel: pointwise, strided, stems, wide 3x3 stride-1 ones,
    /// channel counts the blocked kernel does not take, grouped.
    static let geometries: [ConvGeometry] = [
        ConvGeometry(input: Shape(8, 6, 5), outChannels: 16, kernel: 1, stride: 1, padding: 0),    // pointwise
        ConvGeometry(input: Shape(16, 9, 7), outChannels: 32, kernel: 1, stride: 2, padding: 0),   // strided 1x1
        ConvGeometry(input: Shape(3, 17, 15), outChannels: 16, kernel: 7, stride: 2, padding: 3),  // stem
        ConvGeometry(input: Shape(16, 9, 8), outChannels: 32, kernel: 3, stride: 2, padding: 1),   // stride 2
        ConvGeometry(input: Shape(16, 10, 9), outChannels: 16, kernel: 3, stride: 1, padding: 1),  // blocked Winograd
        ConvGeometry(input: Shape(128, 4, 5), outChannels: 16, kernel: 3, stride: 1, padding: 1),  // wide: NCHW Winograd
        ConvGeometry(input: Shape(12, 7, 7), outChannels: 10, kernel: 3, stride: 1, padding: 1),   // not blocked
        ConvGeometry(input: Shape(8, 7, 6), outChannels: 16, kernel: 3, stride: 1, padding: 1, groups: 2),
    ]

    @Test("each chosen kernel == naive convolution, training and inference, 1 and 2 threads", arguments: [1, 2])
    func chosenKernelsMatchNaive(threads: Int) throws {
        var rng = SeededGenerator(seed: 11)
        var seen: Set<String> = []
        try Compute(threads: threads).run {
            for g in Self.geometries {
                let conv = Conv2d(g, bias: true)
                for i in 0..<conv.weight.value.count { conv.weight.value[i] = rng.normal() * 0.2 }
                for i in 0..<g.outChannels { conv.bias!.value[i] = rng.normal() }
                conv.needsInputGradient = false
                let compiled = CompiledConv(conv, options: .all)
                for batch in [1, 3, 4, 6] {
                    let x = randomTensor(batch: batch, Shape(g.inChannels, g.inHeight, g.inWidth), &rng)
                    let expected = Tensor(conv.outputShape, batch: batch)
                    convForwardNaive(x.data, conv.weight.value.data, conv.bias!.value.data, expected.data, batch: batch, g)
                    let training = conv.kernel(batch: batch, Compute.current())
                    expectClose(conv.forward(x, mode: .train).array, expected.array, tolerance: 1e-4, "\(training) \(g) b\(batch)")
                    let inference = compiled.kernel(batch: batch)
                    expectClose(compiled.forward(x, mode: .eval).array, expected.array, tolerance: 1e-4, "\(inference) \(g) b\(batch)")
                    seen.formUnion(["\(training)", "\(inference)"])
                }
            }
        }
        let every: [ConvKernel] = [.pointwiseGEMM, .im2colGEMM, .direct, .winograd, .blocked, .blockedWinograd]
        #expect(Set(every.map(\.description)) == seen, "every kernel ran: \(seen.sorted())")
    }

    @Test("training and inference choose alike where both can run; the segment's blocked forms as training's")
    func oneChoice() {
        for g in Self.geometries {
            for batch in [1, 2, 3, 4, 8, 32] {
                for workers in [1, 2] {
                    let training = ConvKernelChoice.choose(g, batch: batch, setting: .training, workers: workers)
                    let inference = ConvKernelChoice.choose(g, batch: batch, setting: .inference, workers: workers)
                    #expect([.pointwiseGEMM, .im2colGEMM, .blocked, .blockedWinograd].contains(training), "\(g)")
                    if inference != .direct && inference != .winograd {
                        #expect(inference == training, "\(g) b\(batch) w\(workers)")
                    }
                    // with the once-packed NCHW kernels off, inference is training's choice
                    let packedPerCall = ConvKernelOptions(winograd: false, direct: false)
                    #expect(ConvKernelChoice.choose(g, batch: batch, setting: .inference, workers: workers, options: packedPerCall)
                        == ConvKernelChoice.choose(g, batch: batch, setting: .training, workers: workers, options: packedPerCall))
                    if training == .blocked || training == .blockedWinograd {
                        let segment = ConvKernelChoice.choose(g, batch: batch, setting: .blockedSegment(inputBorder: max(1, g.padding)),
                                                              workers: workers)
                        #expect(segment == training, "\(g) b\(batch)")
                    }
                }
            }
        }
    }

    @Test("crossovers: direct below directBatchLimit for strided and wide convs, Winograd from 16 tiles")
    func crossovers() {
        let limit = ConvKernelChoice.directBatchLimit
        let strided = ConvGeometry(input: Shape(64, 16, 16), outChannels: 128, kernel: 3, stride: 2, padding: 1)
        #expect(ConvKernelChoice.choose(strided, batch: limit - 1, setting: .inference, workers: 1) == .direct)
        #expect(ConvKernelChoice.choose(strided, batch: limit, setting: .inference, workers: 1) == .blocked)
        let wide = ConvGeometry(input: Shape(256, 8, 8), outChannels: 256, kernel: 3, stride: 1, padding: 1)
        #expect(ConvKernelChoice.choose(wide, batch: limit - 1, setting: .inference, workers: 1) == .direct)
        #expect(ConvKernelChoice.choose(wide, batch: limit, setting: .inference, workers: 1) == .winograd)
        let narrow = ConvGeometry(input: Shape(64, 8, 8), outChannels: 64, kernel: 3, stride: 1, padding: 1)
        #expect(ConvKernelChoice.choose(narrow, batch: 64, setting: .inference, workers: 1) == .direct)
        // 4x4 pixels: 4 tiles a sample, Winograd from a batch of 4
        let tiny = ConvGeometry(input: Shape(512, 4, 4), outChannels: 512, kernel: 3, stride: 1, padding: 1)
        #expect(ConvKernelChoice.choose(tiny, batch: 3, setting: .blockedSegment(inputBorder: 1), workers: 1) == .blocked)
        #expect(ConvKernelChoice.choose(tiny, batch: 4, setting: .blockedSegment(inputBorder: 1), workers: 1) == .blockedWinograd)
        // training: blocked from two images per worker
        #expect(ConvKernelChoice.choose(narrow, batch: 3, setting: .training, workers: 2) == .im2colGEMM)
        #expect(ConvKernelChoice.choose(narrow, batch: 4, setting: .training, workers: 2) == .blockedWinograd)
        #expect(ConvKernelChoice.choose(narrow, batch: 4, setting: .training, workers: 2, options: ConvKernelOptions(blocked: false)) == .im2colGEMM)
    }

    @Test("the Compute passed in reaches the kernels; a network keeps the one it was compiled with")
    func computeReachesKernels() throws {
        #expect(Compute.current().threads == 1, "outside any Compute: serial")
        let spec = Zoo.smallResNet(input: Shape(1, 12, 12), classes: 2, depth: 8, width: 16)
        let net = try Network(spec, seed: 2)
        let two = Compute(threads: 2)
        let (inside, compiled) = two.run { (Compute.current().threads, InferenceNetwork(net)) }
        #expect(inside == 2 && compiled.compute.threads == 2 && InferenceNetwork(net).compute.threads == 1)
        // a batch of 3 is two images per worker on one thread (the blocked kernel), not on two (im2col + GEMM)
        let g = ConvGeometry(input: Shape(16, 8, 8), outChannels: 16, kernel: 3, stride: 1, padding: 1)
        var rng = SeededGenerator(seed: 4)
        let x = randomTensor(batch: 3, Shape(16, 8, 8), &rng)
        let serial = Conv2d(g, bias: false), parallel = Conv2d(g, bias: false)
        _ = serial.forward(x, mode: .eval)
        _ = two.run { parallel.forward(x, mode: .eval) }
        #expect(serial.blockedPaths.forward && !parallel.blockedPaths.forward)
        // the kernel switches travel in the same value
        let noBlocked = Conv2d(g, bias: false)
        _ = Compute.serial.with(kernels: ConvKernelOptions(blocked: false)).run { noBlocked.forward(x, mode: .eval) }
        #expect(!noBlocked.blockedPaths.forward)
    }
}
