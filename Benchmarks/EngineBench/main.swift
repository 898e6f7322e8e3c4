// linesight-bench: the Swift half of `make bench-engine`. Prints one JSON document with
// the specs it ran (so the PyTorch/ONNX Runtime half builds the very same networks) and
// its figures. Not a test: numbers only, compared side by side by Benchmarks/engine/run.sh.
import Foundation
import Neural
import Training

let args = CommandLine.arguments
func option(_ name: String, _ fallback: String) -> String {
    if let i = args.firstIndex(of: name), i + 1 < args.count { return args[i + 1] }
    return fallback
}
if args.contains("--help") || args.contains("-h") {
    print("""
    usage: linesight-bench [--threads N] [--fashion-epochs N] [--quick] [--peak-only] [--train-only]
                           [--no-kernel-threads] [--min-parallel OPS]
           linesight-bench --infer-only [--quick] | --specs-only
           linesight-bench --int8 DIR [--rounds N] [--quick]
           linesight-bench --profile-infer small|resnet18|stage1 [--batch N]
           linesight-bench --ab-kernel-threads small|resnet18 [--batch N]
           linesight-bench --profile-int8 small|resnet18 [--batch N]
           linesight-bench --ab-int8-patches small|resnet18 [--batch N]
           linesight-bench --ab-int8-lanes small|resnet18 [--batch N] [--sub-batches A,B,...]
           linesight-bench --ab-compile small|resnet18 [--batch N]
           linesight-bench --ab-training small|resnet18 [--batch N]
           linesight-bench --ab-min-parallel small|resnet18 [--batch N] [--values A,B,...]
           linesight-bench --direct-crossover [--quick]
           linesight-bench --conv-shapes [--batch N] | --pack-vs-run | --kernel-ceiling | --blocked-vs-direct
           linesight-bench --blocked-winograd [--batch N] [--quick] | --blocked-dw
    The Swift half of `make bench-engine` (Benchmarks/engine/run.sh runs both halves and
    prints the ratios). Writes one JSON document to stdout, progress to stderr.
    """)
    exit(0)
}
let threads = Int(option("--threads", "2"))!
let fashionEpochs = Int(option("--fashion-epochs", "1"))!
let quick = args.contains("--quick")
/// The engine's threads for every figure (each variant below derives its own from it).
let compute = Compute(threads: threads, kernelThreads: !args.contains("--no-kernel-threads"),
                      minimumParallelWork: args.firstIndex(of: "--min-parallel").map { Int(args[$0 + 1])! }
                          ?? Compute.defaultMinimumParallelWork)
BLASRuntime.setThreads(1)
try BLASRuntime.verifyKernels()

func now() -> Double { Date().timeIntervalSince1970 }
func log(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }

/// Runs `body` until `seconds` have passed (at least `minimum` times) and returns per-call seconds.
func timed(seconds: Double, minimum: Int = 3, _ body: () -> Void) -> [Double] {
    var times: [Double] = []
    let start = now()
    while times.count < minimum || now() - start < seconds {
        let t = now()
        body()
        times.append(now() - t)
    }
    return times
}

func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }

func gemmPeak() -> Double {
    let n = 1536
    let a = [Float](repeating: 0.5, count: n * n), b = a
    var c = a
    let t = timed(seconds: 2) { compute.run { sgemm(false, false, n, n, n, 1, a, n, b, n, 0, &c, n) } }
    return 2 * Double(n * n * n) / median(t) / 1e9
}

struct Case { var name: String; var spec: NetworkSpec; var batch: Int }

/// One SGD step of `spec` at `batch` on random data; `blocked: false` keeps every conv on
/// im2col + GEMM.
func trainingStep(_ spec: NetworkSpec, batch: Int, blocked: Bool = true, winograd: Bool = true) throws -> () -> Void {
    let net = try Network(spec, seed: 1)
    let c = compute.with(kernels: ConvKernelOptions(winograd: winograd, blocked: blocked))
    var rng = SeededGenerator(seed: 2)
    let x = Tensor(spec.input, batch: batch)
    for i in 0..<x.count { x[i] = rng.normal() }
    let labels = (0..<batch).map { _ in Int32(rng.below(net.outputShape.count)) }
    let grad = Tensor(net.outputShape, batch: batch)
    let opt = SGD(learningRate: 0.01, momentum: 0.9, nesterov: true)
    let loss = SoftmaxCrossEntropy()
    let step = {
        c.run {
            let y = net.forward(x, mode: .train)
            _ = loss(y, labels, grad: grad)
            net.zeroGradients()
            net.backward(grad)
            opt.step(net.namedParameters)
        }
    }
    step(); step()
    return step
}

func trainingThroughput(_ c: Case) throws -> Double {
    let t = timed(seconds: quick ? 3 : 8, try trainingStep(c.spec, batch: c.batch))
    return Double(c.batch) / median(t)
}

let winograd = !args.contains("--no-winograd")
let direct = !args.contains("--no-direct")
let inferenceCompute = compute.with(kernels: ConvKernelOptions(winograd: winograd, direct: direct))
func inference(_ spec: NetworkSpec, batch: Int) throws -> Double {
    let net = InferenceNetwork(try Network(spec, seed: 1), compute: inferenceCompute)
    var rng = SeededGenerator(seed: 3)
    let x = Tensor(spec.input, batch: batch)
    for i in 0..<x.count { x[i] = rng.normal() }
    _ = net.predict(x); _ = net.predict(x)
    return median(timed(seconds: quick ? 2 : 5, minimum: 10) { _ = net.predict(x) })
}

/// GFLOP/s of `Conv2d`'s forward pass on the direct blocked kernel: a real FLOP rate
/// against the peak (Winograd's, in direct-conv terms, is `--blocked-winograd`'s).
func convLayer(cin: Int, side: Int, batch: Int) throws -> Double {
    let spec = NetworkSpec(name: "conv", input: Shape(cin, side, side), layers: [.conv(out: cin, kernel: 3, stride: 1, padding: 1)])
    let net = try Network(spec, seed: 1)
    let c = compute.with(kernels: ConvKernelOptions(winograd: false))
    let x = Tensor(spec.input, batch: batch)
    x.fill(0.5)
    _ = c.run { net.forward(x, mode: .eval) }
    let t = median(timed(seconds: quick ? 1 : 3) { _ = c.run { net.forward(x, mode: .eval) } })
    return 2 * Double(batch * cin * side * side * cin * 9) / t / 1e9
}

/// Times each variant's call in turn for 4 s (`--quick`) or 10 s, each timed call after
/// one untimed call of the same variant, so that the host's drift hits all alike.
func interleaved(_ variants: [() -> Void]) -> [[Double]] {
    var times = [[Double]](repeating: [], count: variants.count)
    let start = now()
    while now() - start < (quick ? 4 : 10) {
        for (k, run) in variants.enumerated() {
            run()
            let t = now()
            run()
            times[k].append(now() - t)
        }
    }
    return times
}

let small = Zoo.smallResNet(input: Shape(1, 28, 28), classes: 10, depth: 8, width: 32)
let r18 = Zoo.resnet18(input: Shape(3, 128, 128), classes: 10)
if let i = args.firstIndex(of: "--int8"), i + 1 < args.count {
    // int8 against fp32, and files for ONNX Runtime's int8 (Benchmarks/engine/run.sh)
    try int8Bench([("small_resnet", small), ("resnet18", r18)], out: args[i + 1], rounds: Int(option("--rounds", "3"))!,
                  seconds: quick ? 1 : 3, threads: threads)
    exit(0)
}
if let i = args.firstIndex(of: "--profile-infer") {
    // A loop to attach a profiler to: batch-N inference of one network for ~10 s.
    // "stage1": the daemon's default stage-1 network (ResNet-8, width 32, 1x128x128, as bench-pipeline runs it)
    let stage1 = Zoo.smallResNet(input: Shape(1, 128, 128), classes: 2, depth: 8, width: 32)
    let spec = args[i + 1] == "resnet18" ? r18 : args[i + 1] == "stage1" ? stage1 : small
    let batch = Int(option("--batch", "1"))!
    let t = try inference(spec, batch: batch)
    log("median \(t * 1000) ms")
    let x0 = Tensor(spec.input, batch: batch)
    for (layer, seconds) in InferenceNetwork(try Network(spec, seed: 1), compute: inferenceCompute).profile(x0) {
        log(String(format: "%8.3f ms  ", seconds * 1000) + layer)
    }
    let net = InferenceNetwork(try Network(spec, seed: 1), compute: inferenceCompute)
    let x = Tensor(spec.input, batch: batch)
    for _ in 0..<10 { log(String(format: "window median %.3f ms", median(timed(seconds: 1) { _ = net.predict(x) }) * 1000)) }
    exit(0)
}
/// A network of `spec` (seed 1), its int8 ranges calibrated as `--int8` does, and a batch of
/// the calibration frames.
func calibratedBatch(_ spec: NetworkSpec, batch: Int) throws -> (Network, Quantization, Tensor) {
    let net = try Network(spec, seed: 1)
    let frames = try calibrationFrames(spec.input, count: 16).map { $0.map { ($0 - 0.5) / 0.25 } }
    let q = try compute.run { try Calibrator(method: .percentile, percentile: 99.99).calibrate(net, frames: frames) }
    let x = Tensor(spec.input, batch: batch)
    for b in 0..<batch {
        frames[b % frames.count].withUnsafeBufferPointer { x.data.advanced(by: b * spec.input.count).update(from: $0.baseAddress!, count: spec.input.count) }
    }
    return (net, q, x)
}
if let i = args.firstIndex(of: "--profile-int8") {
    // Where the time of an int8 prediction goes, step by step (calibrated as `--int8` does).
    let (net, q, x) = try calibratedBatch(args[i + 1] == "resnet18" ? r18 : small, batch: Int(option("--batch", "1"))!)
    let qnet = try QuantizedNetwork(net, quantization: q, compute: compute)
    for _ in 0..<3 {
        let steps = qnet.profile(x, repeats: 50)
        for (step, seconds) in steps { log(String(format: "%8.3f ms  ", seconds * 1000) + step) }
        log(String(format: "%8.3f ms  sum of steps", steps.reduce(0) { $0 + $1.seconds } * 1000))
        log(String(format: "%8.3f ms  a whole prediction (median)", median(timed(seconds: 1) { _ = qnet.predict(x) }) * 1000))
    }
    exit(0)
}
if let i = args.firstIndex(of: "--ab-int8-patches") {
    // Batch-N latency of the int8 network with its patches read each way (`PatchReading`:
    // padded, pointers, copies), calls interleaved so that the host's drift hits all alike.
    let (net, q, x) = try calibratedBatch(args[i + 1] == "resnet18" ? r18 : small, batch: Int(option("--batch", "1"))!)
    let nets = try PatchReading.allCases.map { way in
        let n = try QuantizedNetwork(net, quantization: q, compute: compute)
        n.patchReading = way
        return n
    }
    let t = interleaved(nets.map { net in { _ = net.predict(x) } })
    log(String(format: "padded %.3f ms, pointers %.3f ms, copies %.3f ms; pointers/padded %.3f, copies/padded %.3f (medians of %d)",
               median(t[0]) * 1000, median(t[1]) * 1000, median(t[2]) * 1000,
               median(zip(t[1], t[0]).map { $0 / $1 }), median(zip(t[2], t[0]).map { $0 / $1 }), t[0].count))
    exit(0)
}
if let i = args.firstIndex(of: "--ab-int8-lanes") {
    // Batch-N latency of the int8 network in image lanes (each thread its share of the
    // images through every layer) against every layer split between the threads, calls
    // interleaved so that the host's drift hits both alike.
    let (net, q, x) = try calibratedBatch(args[i + 1] == "resnet18" ? r18 : small, batch: Int(option("--batch", "1"))!)
    let subs = option("--sub-batches", "").split(separator: ",").compactMap { Int($0) }
    let nets = try ([(true, 4), (false, 4)] + subs.map { (true, $0) }).map { lanes, sub in
        let n = try QuantizedNetwork(net, quantization: q, compute: compute)
        n.imageLanes = lanes
        n.laneSubBatch = sub
        return n
    }
    let reference = nets[1].predict(x)
    let same = nets.allSatisfy { $0.predict(x) == reference }
    let t = interleaved(nets.map { net in { _ = net.predict(x) } })
    log(String(format: "lanes (4 images at a time) %.3f ms, layers split %.3f ms; split/lanes %.3f (medians of %d)%@", median(t[0]) * 1000, median(t[1]) * 1000,
               median(zip(t[1], t[0]).map { $0 / $1 }), t[0].count, same ? "" : "; THE LOGITS DIFFER"))
    for (i, sub) in subs.enumerated() {
        log(String(format: "lanes of %d images at a time %.3f ms; split/these %.3f", sub, median(t[2 + i]) * 1000, median(zip(t[1], t[2 + i]).map { $0 / $1 })))
    }
    exit(same ? 0 : 1)
}
if let i = args.firstIndex(of: "--ab-kernel-threads") {
    // Batch-N latency with and without the spinning kernel threads, calls interleaved so
    // that the host's drift hits both alike.
    let spec = args[i + 1] == "resnet18" ? r18 : small
    let batch = Int(option("--batch", "1"))!
    let source = try Network(spec, seed: 1)
    let nets = [true, false].map { flag in
        InferenceNetwork(source, compute: Compute(threads: threads, kernelThreads: flag, minimumParallelWork: compute.minimumParallelWork,
                                                  kernels: inferenceCompute.kernels))
    }
    let x = Tensor(spec.input, batch: batch)
    x.fill(0.5)
    let t = interleaved(nets.map { net in { _ = net.predict(x) } })
    log(String(format: "kernel threads %.3f ms, dispatch %.3f ms (medians of %d)", median(t[0]) * 1000, median(t[1]) * 1000, t[0].count))
    exit(0)
}
if let i = args.firstIndex(of: "--ab-compile") {
    // Batch-N latency of four compiled forms, calls interleaved so that the host's drift
    // hits all alike: channel-blocked segments (the default), the same without Winograd, direct convs with each
    // block's sum in its last conv, and direct convs with the sums apart. The input is
    // random: a constant one ran 15 % faster on this CPU (ResNet18, the same network).
    let spec = args[i + 1] == "resnet18" ? r18 : small
    let batch = Int(option("--batch", "1"))!
    let source = try Network(spec, seed: 1)
    let nets = [ConvKernelOptions(), ConvKernelOptions(winograd: false), ConvKernelOptions(blocked: false),
                ConvKernelOptions(blocked: false, fuseResiduals: false)].map { InferenceNetwork(source, compute: compute.with(kernels: $0)) }
    let x = Tensor(spec.input, batch: batch)
    var rng = SeededGenerator(seed: 3)
    for i in 0..<x.count { x[i] = rng.normal() }
    let times = interleaved(nets.map { net in { _ = net.predict(x) } })
    log(String(format: "blocked %.3f ms, blocked without Winograd %.3f ms, direct with sums fused %.3f ms, direct with sums apart %.3f ms (medians of %d)",
               median(times[0]) * 1000, median(times[1]) * 1000, median(times[2]) * 1000, median(times[3]) * 1000, times[0].count))
    exit(0)
}
if let i = args.firstIndex(of: "--ab-training") {
    // Training images/s with the channel-blocked conv kernel and Winograd (the default),
    // the blocked kernel without Winograd, and im2col + GEMM alone, steps interleaved so
    // that the host's drift hits all alike.
    let spec = args[i + 1] == "resnet18" ? r18 : small
    let batch = Int(option("--batch", "64"))!
    let steps = [try trainingStep(spec, batch: batch), try trainingStep(spec, batch: batch, winograd: false),
                 try trainingStep(spec, batch: batch, blocked: false)]
    let times = interleaved(steps)
    let rates = times.map { Double(batch) / median($0) }
    log(String(format: "blocked with Winograd %.1f img/s, blocked %.1f img/s, im2col + GEMM %.1f img/s: %.2fx, %.2fx (medians of %d)",
               rates[0], rates[1], rates[2], rates[0] / rates[1], rates[0] / rates[2], times[0].count))
    exit(0)
}
if args.contains("--blocked-dw") {
    // The blocked weight-gradient kernel alone, one thread, per layer: GFLOP/s.
    for (cin, cout, side, k, stride, batch) in [(32, 32, 28, 3, 1, 2), (64, 64, 14, 3, 1, 4), (128, 128, 7, 3, 1, 8),
                                                (64, 64, 32, 3, 1, 1), (256, 256, 8, 3, 1, 4)] {
        let g = ConvGeometry(input: Shape(cin, side, side), outChannels: cout, kernel: k, stride: stride, padding: k / 2)
        let plan = BlockedConvPlan(g)
        let x = UnsafeMutablePointer<Float>.allocate(capacity: plan.input.count * batch)
        let dy = UnsafeMutablePointer<Float>.allocate(capacity: plan.output.count * batch)
        x.initialize(repeating: 0.5, count: plan.input.count * batch)
        dy.initialize(repeating: 0.25, count: plan.output.count * batch)
        let dw = UnsafeMutablePointer<Float>.allocate(capacity: cout * cin * k * k)
        dw.initialize(repeating: 0, count: cout * cin * k * k)
        let table = plan.pixels(batch: batch)
        let t = timed(seconds: 1) { plan.accumulateWeightGradient(x, dy, table, into: dw, channelBlocks: 0..<plan.channelBlocks) }.min()!
        print(String(format: "%d->%d %dpx b%d: %.1f us, %.1f GF/s", cin, cout, side, batch, t * 1e6, 2 * Double(plan.work * batch) / t / 1e9))
    }
    exit(0)
}
if let i = args.firstIndex(of: "--ab-min-parallel") {
    // Batch-N latency with each of a list of parallel thresholds (multiply-adds), calls interleaved.
    let spec = args[i + 1] == "resnet18" ? r18 : small
    let batch = Int(option("--batch", "1"))!
    let values = option("--values", "1048576,524288").split(separator: ",").map { Int($0)! }
    let source = try Network(spec, seed: 1)
    let nets = values.map { v in
        InferenceNetwork(source, compute: Compute(threads: threads, kernelThreads: compute.usesKernelThreads, minimumParallelWork: v))
    }
    let x = Tensor(spec.input, batch: batch)
    var rng = SeededGenerator(seed: 3)
    for i in 0..<x.count { x[i] = rng.normal() }
    let times = interleaved(nets.map { net in { _ = net.predict(x) } })
    for (v, t) in zip(values, times) { log(String(format: "threshold %d: %.3f ms", v, median(t) * 1000)) }
    exit(0)
}
if args.contains("--pack-vs-run") {
    // The direct conv's two halves on one thread, batch 1: packing the input, the multiply-adds.
    for (cin, cout, side, stride) in [(32, 64, 28, 2), (64, 128, 14, 2), (32, 32, 28, 1), (64, 64, 14, 1)] {
        let g = ConvGeometry(input: Shape(cin, side, side), outChannels: cout, kernel: 3, stride: stride, padding: 1)
        let plan = DirectConvPlan(g)
        let w = UnsafeMutablePointer<Float>.allocate(capacity: plan.packedWeightCount)
        let p = UnsafeMutablePointer<Float>.allocate(capacity: plan.packedInputCount)
        let x = [Float](repeating: 0.5, count: cin * side * side), wt = [Float](repeating: 0.01, count: cout * cin * 9)
        plan.packWeights(wt, into: w)
        let bias = [Float](repeating: 0, count: cout), y = UnsafeMutablePointer<Float>.allocate(capacity: cout * g.outPlane)
        let tp = timed(seconds: 0.5) { plan.packInput(x, into: p, channels: 0..<cin) }.min()!
        let ti = timed(seconds: 0.5) { plan.packInput(x, into: p, channels: 0..<cin, padding: false) }.min()!
        let tr = timed(seconds: 0.5) { plan.run(p, w, bias: bias, relu: false, y, channelBlocks: 0..<(cout / 4)) }.min()!
        let flops = 2.0 * Double(cout * g.outPlane * cin * 9)
        print(String(format: "%d->%d %dpx s%d: pack %.1f us (image only, as the layer packs: %.1f), run %.1f us (%.1f GF/s useful, %.1f grid)",
                     cin, cout, side, stride, tp * 1e6, ti * 1e6, tr * 1e6, flops / tr / 1e9, 2 * Double(plan.work) / tr / 1e9))
    }
    exit(0)
}
if args.contains("--blocked-vs-direct") {
    // The channel-blocked conv (input already blocked: no packing) against the direct
    // conv layer (packs its input), batch 1, per layer, calls interleaved.
    for (cin, cout, side, k, stride) in [(32, 32, 28, 3, 1), (32, 64, 28, 3, 2), (64, 64, 14, 3, 1), (64, 128, 14, 3, 2),
                                         (128, 128, 7, 3, 1), (32, 64, 28, 1, 2), (64, 128, 14, 1, 2),
                                         (64, 64, 32, 3, 1), (128, 128, 16, 3, 1), (256, 256, 8, 3, 1), (512, 512, 4, 3, 1),
                                         (256, 512, 8, 3, 2), (3, 64, 128, 7, 2)] {
        let g = ConvGeometry(input: Shape(cin, side, side), outChannels: cout, kernel: k, stride: stride, padding: k / 2)
        var rng = SeededGenerator(seed: 5)
        let wt = (0..<(cout * cin * k * k)).map { _ in rng.normal() * 0.05 }
        let direct = DirectConvLayer(g, weight: wt, bias: [Float](repeating: 0.1, count: cout))
        let plan = BlockedConvPlan(g, inputBorder: max(1, k / 2))
        let w = UnsafeMutablePointer<Float>.allocate(capacity: plan.packedWeightCount)
        plan.packWeights(wt, into: w)
        let xb = UnsafeMutablePointer<Float>.allocate(capacity: plan.input.count)
        xb.initialize(repeating: 0, count: plan.input.count)
        let yb = UnsafeMutablePointer<Float>.allocate(capacity: plan.output.count)
        yb.initialize(repeating: 0, count: plan.output.count)
        let bias = [Float](repeating: 0.1, count: cout)
        let x = Tensor(Shape(cin, side, side), batch: 1)
        for i in 0..<x.count { x[i] = max(0, rng.normal()) }
        x.data.withMemoryRebound(to: Float.self, capacity: x.count) { plan.input.pack($0, into: xb, channels: 0..<cin) }
        let table = plan.pixels(batch: 1)
        let units = plan.channelBlocks * table.blocks, npb = table.blocks
        func blocked() {
            compute.run {
                Parallel.forEachChunk(units, work: plan.work) { r in
                    var u = r.lowerBound
                    while u < r.upperBound {
                        let kb = u / npb, p0 = u % npb, p1 = min(npb, p0 + r.upperBound - u)
                        plan.run(xb, w, bias: bias, relu: true, yb, residual: nil, table, channelBlocks: kb..<(kb + 1), pixelBlocks: p0..<p1)
                        u += p1 - p0
                    }
                }
            }
        }
        // check: the two agree
        direct.relu = true
        let ref = compute.run { direct.forward(x, mode: .eval) }
        blocked()
        let back = UnsafeMutablePointer<Float>.allocate(capacity: ref.count)
        plan.output.unpack(yb, into: back, channels: 0..<cout)
        var err: Float = 0
        for i in 0..<ref.count { err = max(err, abs(ref[i] - back[i])) }
        var td: [Double] = [], tb: [Double] = []
        let start = now()
        while now() - start < 1.5 {
            var t = now(); _ = compute.run { direct.forward(x, mode: .eval) }; td.append(now() - t)
            t = now(); blocked(); tb.append(now() - t)
        }
        let flops = 2.0 * Double(cout * g.outPlane * cin * k * k)
        print(String(format: "%d->%d %dpx k%d s%d: direct %.1f us (%.1f GF/s), blocked %.1f us (%.1f GF/s): %.2fx; max diff %.1e",
                     cin, cout, side, k, stride, median(td) * 1e6, flops / median(td) / 1e9, median(tb) * 1e6, flops / median(tb) / 1e9,
                     median(td) / median(tb), err))
    }
    exit(0)
}
if args.contains("--blocked-winograd") {
    // The blocked direct conv against blocked Winograd F(2x2, 3x3) in tile groups of 6, 12
    // and 24, on the networks' 3x3 stride-1 layers, inputs already blocked, calls
    // interleaved; GF/s in direct-conv terms.
    let batch = Int(option("--batch", "1"))!
    for (c, side) in [(32, 28), (64, 14), (128, 7), (64, 32), (128, 16), (256, 8), (512, 4)] {
        let g = ConvGeometry(input: Shape(c, side, side), outChannels: c, kernel: 3, stride: 1, padding: 1)
        var rng = SeededGenerator(seed: 5)
        let wt = (0..<(c * c * 9)).map { _ in rng.normal() * 0.05 }, bias = [Float](repeating: 0.1, count: c)
        let plan = BlockedConvPlan(g), winos = [6, 12, 24].map { BlockedWinogradPlan(g, tileGroup: $0) }
        func zeroed(_ n: Int) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: n)
            p.initialize(repeating: 0, count: n)
            return p
        }
        let w = zeroed(plan.packedWeightCount), u = zeroed(winos[0].packedWeightCount)
        plan.packWeights(wt, into: w)
        winos[0].packWeights(wt, into: u)
        let xb = zeroed(batch * plan.input.count + winos[0].inputSlack), yd = zeroed(batch * plan.output.count), yw = zeroed(batch * plan.output.count)
        let scratch = (0..<threads).map { _ in zeroed(winos.map(\.scratchCount).max()!) }
        let x = (0..<(c * side * side)).map { _ in max(0, rng.normal()) }
        for b in 0..<batch { plan.input.pack(x, into: xb + b * plan.input.count, channels: 0..<c) }
        let table = plan.pixels(batch: batch), tiles = winos.map { $0.tiles(batch: batch) }
        let units = plan.channelBlocks * table.blocks, npb = table.blocks
        func direct() {
            compute.run {
                Parallel.forEachChunk(units, work: plan.work * batch, threshold: compute.minimumParallelWork / 4) { r in
                    var k = r.lowerBound
                    while k < r.upperBound {
                        let kb = k / npb, p0 = k % npb, p1 = min(npb, p0 + r.upperBound - k)
                        plan.run(xb, w, bias: bias, relu: true, yd, residual: nil, table, channelBlocks: kb..<(kb + 1), pixelBlocks: p0..<p1)
                        k += p1 - p0
                    }
                }
            }
        }
        let variants = [direct] + zip(winos, tiles).map { wino, t in
            { compute.run { wino.runParallel(xb, u, bias: bias, relu: true, yw, residual: nil, t, batch: batch, scratch: scratch) } }
        }
        variants[0](); variants[2]()
        var err: Float = 0, scale: Float = 0
        for i in 0..<(batch * plan.output.count) { err = max(err, abs(yd[i] - yw[i])); scale = max(scale, abs(yd[i])) }
        let times = interleaved(variants)
        let flops = 2.0 * Double(batch * c * g.outPlane * c * 9)
        var line = String(format: "%d->%d %dpx b%d: direct %.1f us (%.0f GF/s)", c, c, side, batch, median(times[0]) * 1e6, flops / median(times[0]) / 1e9)
        for (i, wino) in winos.enumerated() {
            line += String(format: ", wino/%d %.1f us (%.0f)", wino.tileGroup, median(times[i + 1]) * 1e6, flops / median(times[i + 1]) / 1e9)
        }
        print(line + String(format: "; max diff %.1e of %.1f", err, scale))
    }
    exit(0)
}
if args.contains("--kernel-ceiling") {
    // The direct conv micro-kernel on an L1-resident problem: its ceiling on one core.
    for (cin, side, stride) in [(16, 6, 1), (64, 6, 1), (32, 10, 1), (64, 12, 2)] {
        let g = ConvGeometry(input: Shape(cin, side, side), outChannels: 8, kernel: 3, stride: stride, padding: 1)
        let plan = DirectConvPlan(g)
        let w = UnsafeMutablePointer<Float>.allocate(capacity: plan.packedWeightCount)
        let p = UnsafeMutablePointer<Float>.allocate(capacity: plan.packedInputCount)
        let x = [Float](repeating: 0.5, count: cin * side * side), wt = [Float](repeating: 0.01, count: 8 * cin * 9)
        plan.packWeights(wt, into: w); plan.packInput(x, into: p, channels: 0..<cin)
        let bias = [Float](repeating: 0, count: 8), y = UnsafeMutablePointer<Float>.allocate(capacity: 8 * side * side)
        let reps = 2000
        let t = timed(seconds: 1) { for _ in 0..<reps { plan.run(p, w, bias: bias, relu: false, y, channelBlocks: 0..<2) } }.min()!
        print("cin \(cin) side \(side) stride \(stride): \(String(format: "%.1f", 2 * Double(plan.work * reps) / t / 1e9)) GF/s (grid work)")
    }
    exit(0)
}
if args.contains("--direct-crossover") {
    // Where inference's strided and wide (128+ channel) 3x3 convs leave the direct kernel
    // (`ConvKernelChoice.directBatchLimit`): each kernel forced, calls interleaved, per batch.
    let shapes: [(Int, Int, Int, Int)] = [(32, 64, 28, 2), (64, 128, 14, 2), (64, 128, 32, 2), (128, 256, 16, 2),
                                          (128, 128, 16, 1), (256, 256, 8, 1), (512, 512, 4, 1)]
    for (cin, cout, side, s) in shapes {
        let g = ConvGeometry(input: Shape(cin, side, side), outChannels: cout, kernel: 3, stride: s, padding: 1)
        var rng = SeededGenerator(seed: 5)
        let conv = Conv2d(g, bias: true)
        for i in 0..<conv.weight.value.count { conv.weight.value[i] = rng.normal() * 0.05 }
        let bias = [Float](repeating: 0.1, count: cout)
        for i in 0..<cout { conv.bias!.value[i] = bias[i] }
        let direct = DirectConvLayer(g, weight: conv.weight.value.data, bias: bias)
        let wino = WinogradConv.applies(to: g) ? WinogradConv(g, weight: conv.weight.value.data, bias: bias) : nil
        for batch in [1, 2, 3, 4, 6, 8] {
            let x = Tensor(Shape(cin, side, side), batch: batch)
            for i in 0..<x.count { x[i] = rng.normal() }
            var variants: [() -> Void] = [{ _ = compute.run { direct.forward(x, mode: .eval) } },
                                          { _ = compute.run { conv.forward(x, mode: .eval) } }]
            if let wino { variants.append { _ = compute.run { wino.forward(x, mode: .eval) } } }
            let t = interleaved(variants).map { median($0) * 1000 }
            let batched = ConvKernelChoice.choose(g, batch: batch, setting: .training, workers: threads)
            let chosen = ConvKernelChoice.choose(g, batch: batch, setting: .inference, workers: threads)
            print(String(format: "%d->%d %dpx s%d b%d: direct %.3f ms, %@ %.3f ms", cin, cout, side, s, batch, t[0],
                         batched.description, t[1]) + (wino == nil ? "" : String(format: ", winograd %.3f ms", t[2])) + "; chosen: \(chosen)")
        }
    }
    exit(0)
}
if args.contains("--conv-shapes") {
    // Per-layer GFLOP/s of each conv kernel at one batch size (default 1): where the time goes.
    let batch = Int(option("--batch", "1"))!
    let shapes: [(Int, Int, Int, Int, Int)] = [(1, 32, 28, 3, 1), (32, 32, 28, 3, 1), (32, 64, 28, 3, 2), (64, 64, 14, 3, 1),
        (64, 128, 14, 3, 2), (128, 128, 7, 3, 1), (3, 64, 128, 7, 2), (64, 64, 32, 3, 1), (64, 128, 32, 3, 2),
        (128, 128, 16, 3, 1), (256, 256, 8, 3, 1), (512, 512, 4, 3, 1)]
    for (cin, cout, side, k, s) in shapes {
        let spec = NetworkSpec(name: "conv", input: Shape(cin, side, side), layers: [.conv(out: cout, kernel: k, stride: s, padding: k / 2)])
        let g = ConvGeometry(input: spec.input, outChannels: cout, kernel: k, stride: s, padding: k / 2)
        let flops = 2 * Double(batch * cout * g.outPlane * cin * k * k)
        var line = "\(cin)->\(cout) \(side)px k\(k) s\(s):"
        for (name, w, d) in [("direct", false, true), ("winograd", true, false), ("gemm", false, false)] {
            let net = InferenceNetwork(try Network(spec, seed: 1), compute: compute.with(kernels: ConvKernelOptions(winograd: w, direct: d)))
            let x = Tensor(spec.input, batch: batch)
            x.fill(0.5)
            let t = median(timed(seconds: 0.5, minimum: 5) { _ = net.predict(x) })
            line += String(format: "  %@ %.3f ms %.1f GF/s", name, t * 1000, flops / t / 1e9)
        }
        print(line)
    }
    exit(0)
}
/// Batch-1 latency and batch-32 throughput of both networks.
func inferenceFigures() throws -> [String: Double] {
    var infer: [String: Double] = [:]
    for (name, spec) in [("small_resnet", small), ("resnet18", r18)] {
        log("inference \(name) ...")
        infer["\(name)/b1_ms"] = try inference(spec, batch: 1) * 1000
        infer["\(name)/b32_images_per_s"] = 32 / (try inference(spec, batch: 32))
    }
    return infer
}
if args.contains("--infer-only") {
    // one round of the interleaved inference rematch (Benchmarks/engine/run.sh)
    let out = try JSONSerialization.data(withJSONObject: ["inference": try inferenceFigures()], options: [.sortedKeys, .prettyPrinted])
    print(String(decoding: out, as: UTF8.self))
    exit(0)
}
var result: [String: Any] = ["threads": threads, "openblas_core": BLASRuntime.coreName]
let encoder = JSONEncoder()
result["specs"] = ["small_resnet": try JSONSerialization.jsonObject(with: encoder.encode(small)),
                   "resnet18": try JSONSerialization.jsonObject(with: encoder.encode(r18))]
if args.contains("--specs-only") {
    // the two networks as JSON, for a quick reference run outside run.sh
    print(String(decoding: try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys]), as: UTF8.self))
    exit(0)
}
if let modelOut = args.firstIndex(of: "--model-out").map({ args[$0 + 1] }) {
    // A model file for the reference side to read with PyTorch's `safetensors`, and the
    // logits it must reproduce on a fixed input.
    let net = try Network(small, seed: 1)
    let meta = ModelMetadata(spec: small, classes: FashionMNIST.classNames,
                             normalization: .init(mean: [FashionMNIST.mean], std: [FashionMNIST.std]),
                             provenance: .init(created: "bench"))
    try ModelFile.save(net, meta, to: modelOut)
    let x = Tensor(small.input, batch: 2)
    for i in 0..<x.count { x[i] = Float(sin(Double(i) * 0.37)) }
    result["interop"] = ["path": modelOut, "logits": net.forward(x, mode: .eval).array.map(Double.init)]
}
let trainOnly = args.contains("--train-only")   // one round of the training rematch (Benchmarks/engine/run.sh)
if !trainOnly {
    log("peak ...")
    let peak = fmaPeak(threads: threads)
    result["peak_fma_gflops"] = peak.gflops
    result["peak_vector_width"] = peak.width
    result["gemm_gflops"] = gemmPeak()
}
if args.contains("--peak-only") {
    print(result["peak_fma_gflops"]!, result["gemm_gflops"]!)
    exit(0)
}
var train: [String: Double] = [:]
for c in [Case(name: "small_resnet/b64", spec: small, batch: 64), Case(name: "small_resnet/b128", spec: small, batch: 128),
          Case(name: "resnet18/b32", spec: r18, batch: 32)] {
    log("train \(c.name) ...")
    train[c.name] = try trainingThroughput(c)
}
result["train_images_per_s"] = train
if trainOnly {
    let out = try JSONSerialization.data(withJSONObject: ["train_images_per_s": train], options: [.sortedKeys, .prettyPrinted])
    print(String(decoding: out, as: UTF8.self))
    exit(0)
}
result["inference"] = try inferenceFigures()
var convs: [String: Double] = [:]
for (cin, side) in [(64, 32), (128, 16), (256, 8), (512, 4)] {
    log("conv \(cin)x\(side) ...")
    convs["conv3x3_\(cin)c_\(side)px_b32_gflops"] = try convLayer(cin: cin, side: side, batch: 32)
}
result["conv_forward"] = convs

if fashionEpochs > 0 {
    log("fashion-mnist, \(fashionEpochs) epoch(s) ...")
    let trainSet = try FashionMNIST.load(test: false), testSet = try FashionMNIST.load(test: true)
    let net = try Network(small, seed: 1)
    let config = TrainingConfig.fashionMNIST(epochs: fashionEpochs, seed: 1)
    let trainer = try Trainer(network: net, config: config, train: trainSet, validation: nil, compute: compute)
    let start = now()
    let summary = try trainer.run()
    let seconds = now() - start
    let ev = compute.run { evaluate(net, on: testSet, normalization: config.normalization) }
    result["fashion"] = ["epochs": fashionEpochs, "seconds_per_epoch": seconds / Double(fashionEpochs),
                         "train_images_per_s": summary.history.map(\.imagesPerSecond).reduce(0, +) / Double(summary.history.count),
                         "test_accuracy": ev.accuracy]
}
let out = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys, .prettyPrinted])
print(String(decoding: out, as: UTF8.self))
