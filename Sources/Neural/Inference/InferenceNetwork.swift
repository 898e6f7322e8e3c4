import Dispatch

/// A network compiled for inference: every conv followed by batch norm becomes one conv
/// with folded weights and bias, activations run in place on the producing layer's
/// output (fused), a residual block's sum and ReLU run in its last conv's output write,
/// buffers are reused across calls. Runs of convs and ResNet blocks run in the
/// channel-blocked layout (`BlockedSegment`); the other convs are `CompiledConv`s. Every
/// conv runs the kernel `ConvKernelChoice` picks for its batch. Batch 1 and batched entry
/// points, all run with the network's `Compute`.
///
/// Layers without weights to fold (pooling, linear, flatten) are shared with the source
/// network, output buffers included: do not run the two at the same time from different
/// threads (load a second `Network` for that).
///
/// Folding, per output channel c with s = gamma[c] / sqrt(var[c] + eps):
///     w'[c] = w[c] * s        b'[c] = (b[c] - mean[c]) * s + beta[c]
public final class InferenceNetwork {
    public let spec: NetworkSpec
    let root: Sequential
    var single: Tensor?
    var flips: Tensor?
    /// The threads and kernels every prediction runs with.
    public let compute: Compute

    /// Compiles `network` (its current weights and running statistics) to run with
    /// `compute` (by default the one in force where it is compiled). Its conv kernels are
    /// those `compute.kernels` allows (all give the same results to float rounding): with
    /// `blocked` (and `direct`), the longest runs of convs, max pools and ResNet blocks
    /// that fit the channel-blocked kernels become one `BlockedSegment`, at every batch
    /// size; with `fuseResiduals`, a block's sum and ReLU run in its last conv when that
    /// conv runs on the direct kernel.
    public init(_ network: Network, compute: Compute = .current()) {
        spec = network.spec
        self.compute = compute
        let kernels = compute.kernels
        let source = network.root.layers
        var layers: [Layer] = []
        func compiled(_ part: ArraySlice<Layer>) -> [Layer] {
            let out = Self.compile(Array(part), kernels)
            return kernels.fuseResiduals ? out.map { FusedResidual($0) ?? $0 } : out
        }
        var done = 0
        for run in kernels.blocked && kernels.direct ? Self.convRuns(source) : [] {
            // the longest tail of the run that fits
            for start in run.dropLast() {
                let shape = start == 0 ? network.inputShape : source[start - 1].outputShape
                let part = source[start..<run.last!]
                if let segment = BlockedSegment(Array(part), inputShape: shape, options: kernels) {
                    layers += compiled(source[done..<start]) + [segment]
                    done = run.last!
                    break
                }
            }
        }
        layers += compiled(source[done...])
        root = Sequential(layers, inputShape: network.inputShape)
    }

    /// Runs of consecutive convs (each with its batch norm and ReLU), max pools and residual
    /// blocks (each with its ReLU), as the layer index where each item starts, then the end.
    private static func convRuns(_ layers: [Layer]) -> [[Int]] {
        var runs: [[Int]] = [], run: [Int] = []
        var i = 0
        while i <= layers.count {
            var used = 0
            if i < layers.count, layers[i] is Conv2d {
                used = 1 + (layers[safe: i + 1] is BatchNorm2d ? 1 : 0)
                used += isReLU(layers[safe: i + used]) ? 1 : 0
            } else if i < layers.count, layers[i] is Residual {
                used = isReLU(layers[safe: i + 1]) ? 2 : 1
            } else if i < layers.count, layers[i] is MaxPool2d {
                used = 1
            }
            if used > 0 {
                run.append(i)
                i += used
            } else {
                if run.count >= 2 { runs.append(run + [i]) }
                run = []
                i += 1
            }
        }
        return runs
    }

    public var inputShape: Shape { spec.input }
    public var outputShape: Shape { root.outputShape }

    /// Logits for a batch `[N, C, H, W]`; the result belongs to the network until the next call.
    public func predict(_ batch: Tensor) -> Tensor {
        precondition(batch.shape == spec.input, "input \(batch.shape) does not match the network's \(spec.input)")
        return compute.run { root.forward(batch, mode: .eval) }
    }

    /// Logits for one sample, given as `C*H*W` floats in NCHW order.
    public func predict(sample: UnsafePointer<Float>) -> [Float] {
        let x = single ?? Tensor(spec.input, batch: 1)
        single = x
        x.data.update(from: sample, count: x.count)
        return predict(x).array
    }

    /// Logits for one sample (`C*H*W` floats), averaged over its four flips (`Flip`), run
    /// as one batch of four. The leading fixed filters that commute with mirroring (the
    /// anomaly map, the high-pass) run once on the frame and their output is mirrored.
    public func predictFlipAveraged(sample: UnsafePointer<Float>) -> [Float] {
        let fixed = root.layers.prefix { $0.commutesWithMirroring }
        let x1 = single ?? Tensor(spec.input, batch: 1)
        single = x1
        x1.data.update(from: sample, count: x1.count)
        let z = compute.run { () -> Tensor in
            var y = Flip.mirrorImages(after: fixed, of: x1, buffer: &flips)
            for layer in root.layers.dropFirst(fixed.count) { y = layer.forward(y, mode: .eval) }
            return y
        }
        return Flip.mean(of: z.data, outputs: z.sampleCount)
    }

    /// Median seconds per call of each compiled layer, timed in network order (each
    /// repeat is one pass through the network, so caches and threads are as in a real
    /// prediction), with a short description: where inference time goes. Residual blocks
    /// show their body and shortcut layers, then the whole block run once more on its own
    /// (body, shortcut, sum and ReLU).
    public func profile(_ batch: Tensor, repeats: Int = 50) -> [(layer: String, seconds: Double)] {
        precondition(batch.shape == spec.input, "input \(batch.shape) does not match the network's \(spec.input)")
        var names: [String] = []
        var times: [[Double]] = []
        var row = 0
        func timed(_ name: String, _ body: () -> Tensor) -> Tensor {
            let t = DispatchTime.now().uptimeNanoseconds
            let y = body()
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - t) / 1e9
            if row == names.count {
                names.append(name)
                times.append([])
            }
            times[row].append(seconds)
            row += 1
            return y
        }
        func walk(_ layers: [Layer], _ x: Tensor, _ prefix: String) -> Tensor {
            var h = x
            for (i, layer) in layers.enumerated() {
                let input = h
                if let r = (layer as? FusedResidual)?.block ?? (layer as? Residual) ?? ((layer as? FusedActivation)?.inner as? Residual) {
                    _ = walk(r.body.layers, input, "\(prefix)\(i).body.")
                    _ = walk(r.shortcut.layers, input, "\(prefix)\(i).shortcut.")
                }
                h = timed("\(prefix)\(i) \(Self.describe(layer, batch: x.batch))") { layer.forward(input, mode: .eval) }
            }
            return h
        }
        let segments = root.layers.compactMap { $0 as? BlockedSegment }
        for s in segments { s.stepSeconds = Array(repeating: [], count: s.steps.count) }
        compute.run {
            for _ in 0..<max(1, repeats) {
                row = 0
                _ = walk(root.layers, batch, "")
            }
        }
        func median(_ t: [Double]) -> Double { t.sorted()[t.count / 2] }
        var out: [(layer: String, seconds: Double)] = []
        for (name, t) in zip(names, times) {
            out.append((name, median(t)))
            // a segment's steps follow it, timed inside the same runs
            if let (i, s) = root.layers.enumerated().first(where: { name.hasPrefix("\($0.offset) ") && $0.element is BlockedSegment }),
               let seg = s as? BlockedSegment, let steps = seg.stepSeconds {
                for (j, st) in steps.enumerated() { out.append(("  \(i).\(j) " + seg.describe(step: j, batch: batch.batch), median(st))) }
            }
        }
        for s in segments { s.stepSeconds = nil }
        return out
    }

    private static func describe(_ layer: Layer, batch: Int) -> String {
        switch layer {
        case let c as CompiledConv:
            let g = c.conv.geometry
            return "\(c.kernel(batch: batch)) conv \(g.inChannels)->\(g.outChannels) k\(g.kernelH) s\(g.stride) at \(g.inHeight)x\(g.inWidth)"
                + (c.relu ? " +relu" : "")
        case let f as FusedActivation: return Self.describe(f.inner, batch: batch) + " +\(f.kind.rawValue)"
        case let b as BlockedSegment: return b.summary
        case is Residual: return "residual block (whole, again)"
        case let f as FusedResidual:
            return "residual block (whole, again; sum" + (f.relu ? " and relu" : "") + " in its last conv" +
                (f.last.kernel(batch: batch) == .direct ? ")" : ": not at this batch)")
        default: return String(describing: type(of: layer))
        }
    }

    private static func compile(_ layers: [Layer], _ kernels: ConvKernelOptions) -> [Layer] {
        var out: [Layer] = []
        var i = 0
        while i < layers.count {
            var layer = layers[i]
            if let bn = layers[safe: i + 1] as? BatchNorm2d {
                if let conv = layer as? Conv2d {
                    layer = fold(conv, bn)
                    i += 1
                } else if let dw = layer as? DepthwiseConv2d {
                    layer = fold(dw, bn)
                    i += 1
                }
            }
            if let conv = layer as? Conv2d { layer = CompiledConv(conv, options: kernels) }
            if let r = layer as? Residual {
                layer = Residual(body: Sequential(compile(r.body.layers, kernels), inputShape: r.body.inputShape),
                                 shortcut: Sequential(compile(r.shortcut.layers, kernels), inputShape: r.shortcut.inputShape))
            }
            if let act = layers[safe: i + 1] as? Activation, !(layer is Activation) {
                layer = fuse(layer, act.kind)
                i += 1
            }
            if !(layer is Dropout) { out.append(layer) }
            i += 1
        }
        return out
    }

    private static func foldedBias(_ bn: BatchNorm2d, _ c: Int, _ bias: Float) -> (scale: Float, bias: Float) {
        let s = bn.weight.value[c] / (bn.runningVar[c] + bn.epsilon).squareRoot()
        return (s, (bias - bn.runningMean[c]) * s + bn.bias.value[c])
    }

    /// The activation folded into the layer's output write where the kernel can (a
    /// compiled conv's ReLU), otherwise applied in place after it.
    private static func fuse(_ layer: Layer, _ kind: ActivationKind) -> Layer {
        if let c = layer as? CompiledConv, kind == .relu {
            c.relu = true
            return c
        }
        return FusedActivation(layer, kind)
    }

    static func fold(_ conv: Conv2d, _ bn: BatchNorm2d) -> Conv2d {
        let folded = Conv2d(conv.geometry, bias: true)
        let per = conv.geometry.patch
        for c in 0..<conv.geometry.outChannels {
            let (s, b) = foldedBias(bn, c, conv.bias?.value[c] ?? 0)
            for j in 0..<per { folded.weight.value[c * per + j] = conv.weight.value[c * per + j] * s }
            folded.bias!.value[c] = b
        }
        folded.needsInputGradient = false
        return folded
    }

    private static func fold(_ conv: DepthwiseConv2d, _ bn: BatchNorm2d) -> DepthwiseConv2d {
        let folded = DepthwiseConv2d(conv.geometry, bias: true)
        let per = conv.geometry.kernelH * conv.geometry.kernelW
        for c in 0..<conv.geometry.outChannels {
            let (s, b) = foldedBias(bn, c, conv.bias?.value[c] ?? 0)
            for j in 0..<per { folded.weight.value[c * per + j] = conv.weight.value[c * per + j] * s }
            folded.bias!.value[c] = b
        }
        return folded
    }
}

/// A layer whose output goes through an activation in place: no second buffer, no
/// second layer call. Inference only.
final class FusedActivation: Layer {
    let inner: Layer
    let kind: ActivationKind
    var needsInputGradient = false
    var outputShape: Shape { inner.outputShape }

    init(_ inner: Layer, _ kind: ActivationKind) {
        self.inner = inner
        self.kind = kind
    }

    func forward(_ x: Tensor, mode: Mode) -> Tensor {
        let y = inner.forward(x, mode: mode)
        activate(kind, y.data, y.data, y.count)
        return y
    }

    func backward(_ dy: Tensor) -> Tensor { preconditionFailure("inference networks do not train") }
}

extension Array {
    subscript(safe i: Int) -> Element? { i >= 0 && i < count ? self[i] : nil }
}
