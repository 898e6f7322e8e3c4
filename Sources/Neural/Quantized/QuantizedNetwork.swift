import CKernels
import Foundation

/// A network compiled for int8 inference from its fp32 weights and calibrated ranges
/// (`Quantization`): fp32 layers in front, the int8 body (`QuantizedPlan`), fp32 layers
/// after. Weights are per-output-channel symmetric int8 with batch norm folded;
/// activations are asymmetric uint8 per tensor; each conv's requantization is fused with
/// its bias, the block's residual and the ReLU. The kernels are those of `isa`.
public final class QuantizedNetwork {
    public let spec: NetworkSpec
    public let compute: Compute
    public let isa: Int8ISA
    let head: [Layer]
    let body: [QuantizedUnit]
    let tail: [Layer]
    let input: QTensor
    let bodyInputShape: Shape
    private var dequantized: Tensor?
    private var pooled: Tensor?
    var headInput: Tensor?
    var mirrored: Tensor?

    /// How the convs read their patches (`PatchReading`): on a padded copy (the default);
    /// the same bytes every way, for A/B benchmarks and tests. Setting it sets every conv;
    /// one that cannot read through pointers (an image's packed channels) copies instead.
    /// Reads the way of the first conv that could take any.
    public var patchReading: PatchReading {
        get { (convs.first { $0.canUsePointers && !$0.isPointwise } ?? convs.first)?.reading ?? .padded }
        set {
            for c in convs { c.reading = newValue }
            lanes = []   // replicas copy their convs' way: made again
        }
    }

    /// Every conv of the int8 body, blocks included (the tests compare its two ways of reading patches).
    var convs: [QuantizedConv] {
        func walk(_ units: [QuantizedUnit]) -> [QuantizedConv] {
            units.flatMap { u -> [QuantizedConv] in
                if let c = u as? QuantizedConv { return [c] }
                if let r = u as? QuantizedResidual { return walk(r.body) + walk(r.shortcut) }
                return []
            }
        }
        return walk(body)
    }

    /// Compiles `network` with `quantization`'s ranges. Throws when a layer has no int8 form
    /// or a tensor the int8 network stores has no range.
    public init(_ network: Network, quantization: Quantization, compute: Compute = .current(), isa: Int8ISA = .best) throws {
        guard isa.isAvailable else { throw NeuralError.invalidSpec("this CPU cannot run the \(isa) int8 kernels") }
        spec = network.spec
        self.compute = compute
        self.isa = isa
        // layers of its own: the fp32 head and tail keep buffers, and the caller's network may run beside it
        let network = try network.copy()
        let plan = try QuantizedPlan(network)
        func range(_ name: String) throws -> QuantizedRange {
            guard let r = quantization.ranges[name], r.count == 2 else {
                throw NeuralError.invalidSpec("the quantization has no range for tensor '\(name)'; quantize the model again")
            }
            return QuantizedRange(r)
        }
        head = plan.head
        tail = plan.tail
        bodyInputShape = plan.head.last?.outputShape ?? network.spec.input
        input = QTensor(bodyInputShape, range: try range("input"))
        var current = input.range
        func build(_ steps: [QuantizedPlan.Step], fusedRange: QuantizedRange? = nil) throws -> [QuantizedUnit] {
            var units: [QuantizedUnit] = []
            for step in steps {
                switch step {
                case let .conv(_, layer, bn, activation, _, stores):
                    let out = try stores.map(range) ?? fusedRange!
                    if let c = layer as? Conv2d {
                        let folded = FoldedWeights(weight: c.weight, bias: c.bias, outChannels: c.geometry.outChannels, bn: bn)
                        units.append(try QuantizedConv(c.geometry, folded: folded, input: current, output: out, activation: activation))
                    } else if let d = layer as? DepthwiseConv2d {
                        let folded = FoldedWeights(weight: d.weight, bias: d.bias, outChannels: d.geometry.inChannels, bn: bn)
                        units.append(QuantizedDepthwise(d.geometry, folded: folded, input: current, output: out, activation: activation))
                    }
                    current = out
                case let .pool(_, layer):
                    if let p = layer as? MaxPool2d { units.append(try QuantizedPool(p.geometry, isMax: true, range: current)) }
                    if let p = layer as? AvgPool2d { units.append(try QuantizedPool(p.geometry, isMax: false, range: current)) }
                case let .residual(path, bodySteps, shortcutSteps, activation, _):
                    let blockInput = current
                    let out = try range(path)
                    let shortcut = try build(shortcutSteps)
                    current = blockInput
                    var bodyUnits = try build(Array(bodySteps.dropLast()))
                    guard case let .conv(_, layer, bn, _, _, _)? = bodySteps.last, let c = layer as? Conv2d else {
                        throw NeuralError.invalidSpec("layer \(path): the block's last conv is not a plain conv")
                    }
                    let folded = FoldedWeights(weight: c.weight, bias: c.bias, outChannels: c.geometry.outChannels, bn: bn)
                    bodyUnits.append(try QuantizedConv(c.geometry, folded: folded, input: current, output: out, activation: activation))
                    units.append(QuantizedResidual(body: bodyUnits, shortcut: shortcut))
                    current = out
                }
            }
            return units
        }
        body = try build(plan.body)
    }

    public var inputShape: Shape { spec.input }

    /// Logits for a batch `[N, C, H, W]` (normalized as the model's metadata says).
    public func predict(_ batch: Tensor) -> [Float] {
        precondition(batch.shape == spec.input, "input \(batch.shape) does not match the network's \(spec.input)")
        return compute.run { run(batch, fromHead: 0) }
    }

    /// The network from head layer `first` on, for `batch` as that layer takes it.
    func run(_ batch: Tensor, fromHead first: Int) -> [Float] {
        var none: [[Float]] = []
        return run(batch, fromHead: first, capture: false, group: 1, into: &none)
    }

    /// As `run(_:fromHead:)`; with `capture`, the embedding (the tail's global pooling's
    /// output, `Embedding`) of each group of `group` samples goes to `rows`.
    func run(_ batch: Tensor, fromHead first: Int, capture: Bool, group: Int, into rows: inout [[Float]]) -> [Float] {
        var x = batch
        for l in head.dropFirst(first) { x = l.forward(x, mode: .eval) }
        // a lane a core at most: more would only queue on the same cores, at smaller shares
        let threads = min(Compute.current().threads, ProcessInfo.processInfo.activeProcessorCount)
        if usesLanes(batch: x.batch, threads: threads) {
            return finish(runLanes(x, count: threads), capture: capture, group: group, into: &rows).array
        }
        quantize(x, images: 0..<x.batch, into: input)
        var q = input
        for u in body { u.run(q, residual: nil, isa: isa); q = u.output }
        return finish(q, capture: capture, group: group, into: &rows).array
    }

    /// Whether a batch runs in image lanes (`runLanes`), each thread its share of the images
    /// through the whole body, rather than every layer split between the threads: on by
    /// default, off to compare. Measured (`linesight-bench --ab-int8-lanes`, 2 cores, calls
    /// interleaved): the small ResNet 1.19x faster at batch 2 and 1.2x at 16-32 (4 images at
    /// a time), ResNet18 1.06x at batches 2 to 32. An uneven share costs more than lanes
    /// save (batch 3: 0.83-0.88x), so lanes run when the batch splits evenly or each thread
    /// has 8 images or more.
    public var imageLanes = true
    /// Images a lane runs through the body at a time (at least 1): 4 kept the small ResNet's maps in the
    /// core's cache (1.24x against 1.11x for all 16 at once); ResNet18, whose weights do
    /// not fit, was level at 4 and at 16 and slower at 1-2 (0.86-0.94x).
    public var laneSubBatch = 4

    func usesLanes(batch: Int, threads: Int) -> Bool {
        imageLanes && threads > 1 && !body.isEmpty && batch >= threads && (batch % threads == 0 || batch >= 8 * threads)
    }

    /// The int8 body a thread runs on its share of a batch: the input bytes and units of
    /// its own (lane 0 is the network's own), the weights shared.
    private struct Lane {
        let input: QTensor
        let body: [QuantizedUnit]
    }
    private var lanes: [Lane] = []
    private var gathered: QTensor?

    /// The body on a large batch, one lane a thread: each thread quantizes its share of the
    /// images and runs them through every unit alone (no split or wait per layer, each
    /// image's maps in its core's cache), then its last bytes join the others' in `gathered`.
    private func runLanes(_ x: Tensor, count: Int) -> QTensor {
        while lanes.count < count {
            lanes.append(lanes.isEmpty ? Lane(input: input, body: body)
                                       : Lane(input: input.emptyCopy(), body: body.map { $0.replica() }))
        }
        let last = body.last!.output
        let out = gathered ?? last.emptyCopy()
        gathered = out
        out.resize(batch: x.batch)
        let lanes = self.lanes, perImage = last.pixels * last.pixelStride
        Parallel.forEachWorker(x.batch, workers: count) { lane, images in
            Compute.serial.run {
                let l = lanes[lane]
                var first = images.lowerBound
                while first < images.upperBound {
                    let part = first..<first + min(images.upperBound - first, max(1, laneSubBatch))
                    quantize(x, images: part, into: l.input)
                    var q = l.input
                    for u in l.body { u.run(q, residual: nil, isa: isa); q = u.output }
                    q.withBytes { from in out.withBytes { to in (to + part.lowerBound * perImage).update(from: from, count: part.count * perImage) } }
                    first = part.upperBound
                }
            }
        }
        out.range = lanes[0].body.last!.output.range
        return out
    }

    /// Whether the tail starts with a global average pool, which then runs on the body's
    /// bytes (`ls_dequantize_mean_u8`: each channel's mean summed in integers, no fp32 map).
    var poolsBytes: Bool { poolOnBytes && tail.first is GlobalAvgPool }
    /// Off: the tail's pool runs on the dequantized map (the tests compare the two ways).
    var poolOnBytes = true

    /// The tail on the body's last bytes: their channel means when it starts with the
    /// global average pool, else their dequantized map.
    private func finish(_ q: QTensor, capture: Bool, group: Int, into rows: inout [[Float]]) -> Tensor {
        let pool = capture ? Embedding.poolIndex(tail) : nil
        guard poolsBytes else { return Embedding.run(tail[...], dequantize(q), capture: pool, group: group, into: &rows) }
        let pooled = dequantizeMean(q)
        if pool == 0 { rows = Embedding.mean(pooled, group: group) }
        return Embedding.run(tail.dropFirst(), pooled, capture: pool, group: group, into: &rows)
    }

    /// Median seconds of each step of a prediction of `batch`, in network order: where the
    /// time of an int8 frame goes (`linesight engine --profile` on an int8 model). Every
    /// step splits between the threads, as a batch that runs in image lanes does not.
    public func profile(_ batch: Tensor, repeats: Int = 30) -> [(step: String, seconds: Double)] {
        var names: [String] = [], times: [[Double]] = []
        compute.run {
            for _ in 0..<repeats {
                var row = 0
                func timed(_ name: String, _ body: () -> Void) {
                    let t = DispatchTime.now().uptimeNanoseconds
                    body()
                    let seconds = Double(DispatchTime.now().uptimeNanoseconds - t) / 1e9
                    if row == names.count { names.append(name); times.append([]) }
                    times[row].append(seconds)
                    row += 1
                }
                var x = batch
                timed("fp32 head (\(head.count) layers)") { for l in head { x = l.forward(x, mode: .eval) } }
                timed("quantize the input") { quantize(x, images: 0..<x.batch, into: input) }
                var q = input
                for (i, u) in body.enumerated() {
                    timed("int8 \(i): \(type(of: u)) -> \(u.output.shape)") { u.run(q, residual: nil, isa: isa) }
                    q = u.output
                }
                var y = batch
                if poolsBytes {
                    timed("dequantize and pool") { y = dequantizeMean(q) }
                    timed("fp32 tail (\(tail.count - 1) layers)") { for l in tail.dropFirst() { y = l.forward(y, mode: .eval) } }
                } else {
                    timed("dequantize") { y = dequantize(q) }
                    timed("fp32 tail (\(tail.count) layers)") { for l in tail { y = l.forward(y, mode: .eval) } }
                }
            }
        }
        return zip(names, times).map { ($0, $1.sorted()[$1.count / 2]) }
    }

    /// Logits for one sample (`C*H*W` floats).
    public func predict(sample: UnsafePointer<Float>) -> [Float] {
        let x = headInput?.batch == 1 ? headInput! : Tensor(spec.input, batch: 1)
        headInput = x
        x.data.update(from: sample, count: x.count)
        return predict(x)
    }

    /// Logits for one sample averaged over its four flips, run as one batch of four. The
    /// head's leading fixed filters that commute with mirroring run once on the frame.
    public func predictFlipAveraged(sample: UnsafePointer<Float>) -> [Float] {
        let fixed = head.prefix { $0.commutesWithMirroring }
        let x1 = headInput?.batch == 1 ? headInput! : Tensor(spec.input, batch: 1)
        headInput = x1
        x1.data.update(from: sample, count: x1.count)
        let z = compute.run { run(Flip.mirrorImages(after: fixed, of: x1, buffer: &mirrored), fromHead: fixed.count) }
        return z.withUnsafeBufferPointer { Flip.mean(of: $0.baseAddress!, outputs: z.count / Flip.allCases.count) }
    }

    /// The batch's `images` (fp32 NCHW) into `target`'s bytes (NHWC), the first of them its image 0.
    private func quantize(_ x: Tensor, images: Range<Int>, into target: QTensor) {
        let s = bodyInputShape, plane = s.height * s.width
        target.resize(batch: images.count)
        let r = target.range, stride = target.pixelStride
        target.withBytes { q in
            Parallel.forEachChunk(images.count, work: images.count * s.count * 8) { range in
                for i in range {
                    let b = images.lowerBound + i
                    ls_quantize_u8(x.data + b * s.count, Int32(s.channels), Int32(plane), r.scale, Int32(r.zeroPoint), q + i * plane * stride, Int32(stride))
                }
            }
        }
    }

    /// Each image's channel means of the body's last bytes, as the tail's global average pool
    /// would give them from the dequantized map (`[N, C]`).
    private func dequantizeMean(_ q: QTensor) -> Tensor {
        let s = q.shape, plane = s.height * s.width
        let y = pooled?.batch == q.batch ? pooled! : Tensor(Shape(s.channels), batch: q.batch)
        pooled = y
        let scale = q.range.scale, zero = q.range.zeroPoint, stride = q.pixelStride
        q.withBytes { src in
            Parallel.forEachChunk(q.batch, work: q.batch * plane * stride) { range in
                for b in range {
                    ls_dequantize_mean_u8(src + b * plane * stride, Int32(s.channels), Int32(plane), Int32(stride), scale, Int32(zero),
                                          y.data + b * s.channels)
                }
            }
        }
        return y
    }

    /// The body's last bytes back to fp32 NCHW for the tail.
    private func dequantize(_ q: QTensor) -> Tensor {
        let s = q.shape, plane = s.height * s.width
        let y = dequantized?.batch == q.batch ? dequantized! : Tensor(s, batch: q.batch)
        dequantized = y
        let scale = q.range.scale, zero = q.range.zeroPoint, stride = q.pixelStride
        q.withBytes { src in
            for b in 0..<q.batch {
                ls_dequantize_u8(src + b * plane * stride, Int32(s.channels), Int32(plane), Int32(stride), scale, Int32(zero), y.data + b * s.count)
            }
        }
        return y
    }
}
