import Foundation

/// A model as an ONNX file (opset 17, IR 8) for ONNX Runtime, TensorRT or OpenVINO.
///
/// The graph takes `input`, float `[N, C, H, W]` with values in [0, 1] as the daemon's crops
/// (RGB or gray, resized to the model's input), `N` dynamic. Its first two nodes are the
/// model's normalization ((x - mean) / std); when the model averages over flips, the four
/// mirror images are run as one batch and their logits averaged, as the daemon does. Two
/// outputs: `logits` `[N, classes]`, and `scores` `[N, classes]`: softmax of logits over the
/// temperature for a multiclass model, a sigmoid per class for a multilabel one. The class
/// names, thresholds and normalization are in the model's metadata properties.
public enum ONNXExport {
    public static let opset = ONNXGraph.opset

    public struct Options: Sendable {
        /// Average over the four flips; nil: as the model was calibrated (`flipAverage`).
        public var flipAverage: Bool?
        /// The version string written as the producer's.
        public var producerVersion: String
        public init(flipAverage: Bool? = nil, producerVersion: String = "") {
            self.flipAverage = flipAverage
            self.producerVersion = producerVersion
        }
    }

    /// What the exported graph does, for the user: one line per fact.
    public struct Summary: Sendable {
        public var nodes: Int
        public var initializers: Int
        public var parameters: Int
        public var flipAverage: Bool
        public var scores: String
    }

    public static func encode(_ network: Network, _ meta: ModelMetadata, options: Options = Options()) throws -> (data: Data, summary: Summary) {
        try meta.validate()
        let s = network.spec.input, k = meta.classes.count
        var b = Builder()
        var g = ONNXGraph()
        // the model's normalization as the graph's first nodes
        let c = s.channels
        let mean = g.constant("normalization.mean", dims: [1, c, 1, 1], meta.normalization.mean)
        let std = g.constant("normalization.std", dims: [1, c, 1, 1], meta.normalization.std)
        var x = g.add("Sub", ["input", mean], name: "normalize/sub")
        x = g.add("Div", [x, std], name: "normalize/div")
        let flips = options.flipAverage ?? (meta.flipAverage == true)
        if flips {
            let axisW = b.axis(&g, 3), axisH = b.axis(&g, 2)
            let horizontal = b.mirror(&g, x, axes: axisW, name: "flips/horizontal")
            let vertical = b.mirror(&g, x, axes: axisH, name: "flips/vertical")
            let both = b.mirror(&g, horizontal, axes: axisH, name: "flips/both")
            x = g.add("Concat", [x, horizontal, vertical, both], name: "flips/batch", [("axis", .int(0))])
        }
        var rank = 4
        x = try b.emit(network.root, x, &g, path: "", rank: &rank)
        if rank == 4 { x = g.add("Flatten", [x], name: "head/flatten", [("axis", .int(1))]) }
        if flips {
            let shape = g.constant("flips.shape", dims: [3], ints: [4, -1, k])
            x = g.add("Reshape", [x, shape], name: "flips/split")
            x = g.add("ReduceMean", [x], name: "flips/mean", [("axes", .ints([0])), ("keepdims", .int(0))])
        }
        g.add("Identity", [x], name: "logits", output: "logits")
        let scoreKind: String
        switch meta.task {
        case .multiclass:
            let t = Float(meta.temperature ?? 1)
            let temperature = g.constant("temperature", dims: [], [t])
            let z = g.add("Div", ["logits", temperature], name: "scores/temperature")
            g.add("Softmax", [z], name: "scores/softmax", [("axis", .int(1))], output: "scores")
            scoreKind = "softmax(logits / \(t))"
        case .multilabel:
            g.add("Sigmoid", ["logits"], name: "scores/sigmoid", output: "scores")
            scoreKind = "sigmoid(logits) per class"
        }
        let properties = try metadataProperties(meta, flipAverage: flips)
        let bytes = g.model(name: network.spec.name, producer: "linesight", version: options.producerVersion,
                            inputs: [.init(name: "input", dims: [s.channels, s.height, s.width])],
                            outputs: [.init(name: "logits", dims: [k]), .init(name: "scores", dims: [k])],
                            properties: properties)
        let summary = Summary(nodes: g.nodes.count, initializers: g.initializers.count,
                              parameters: network.parameterCount, flipAverage: flips, scores: scoreKind)
        return (Data(bytes), summary)
    }

    /// The model's metadata a user of the ONNX file needs, as `metadata_props`.
    static func metadataProperties(_ meta: ModelMetadata, flipAverage: Bool) throws -> [(String, String)] {
        func json<T: Encodable>(_ v: T) throws -> String {
            String(decoding: try JSONEncoder.sorted.encode(v), as: UTF8.self)
        }
        var out: [(String, String)] = [
            ("linesight.classes", try json(meta.classes)),
            ("linesight.task", meta.task.rawValue),
            ("linesight.normalization", try json(meta.normalization) + " (applied inside the graph)"),
            ("linesight.input", "float [N, \(meta.spec.input.channels), \(meta.spec.input.height), \(meta.spec.input.width)], values in [0, 1]"),
            ("linesight.flip_average", flipAverage ? "true" : "false"),
            ("linesight.thresholds", try json(meta.thresholds)),
        ]
        if let t = meta.temperature { out.append(("linesight.temperature", String(t))) }
        out.append(("linesight.created", meta.provenance.created))
        return out
    }

    /// Turns layers into nodes, keeping the values' rank (4 for maps, 2 after flatten).
    private struct Builder {
        private var axes: [Int: String] = [:]

        mutating func axis(_ g: inout ONNXGraph, _ a: Int) -> String {
            if let name = axes[a] { return name }
            let name = g.constant("axis.\(a)", dims: [1], ints: [a])
            axes[a] = name
            return name
        }

        /// `x` reversed along `axes` (a one-element int64 constant): Slice with step -1.
        mutating func mirror(_ g: inout ONNXGraph, _ x: String, axes: String, name: String) -> String {
            if !g.initializers.contains(where: { $0.name == "slice.start" }) {
                g.constant("slice.start", dims: [1], ints: [-1])
                g.constant("slice.end", dims: [1], ints: [Int(Int64.min)])
                g.constant("slice.step", dims: [1], ints: [-1])
            }
            return g.add("Slice", [x, "slice.start", "slice.end", axes, "slice.step"], name: name)
        }

        mutating func emit(_ layer: Layer, _ x: String, _ g: inout ONNXGraph, path: String, rank: inout Int) throws -> String {
            let name = path.isEmpty ? "root" : String(path.dropLast())
            switch layer {
            case let seq as Sequential:
                var h = x
                for (child, l) in seq.children { h = try emit(l, h, &g, path: path + child + ".", rank: &rank) }
                return h
            case let r as Residual:
                let body = try emit(r.body, x, &g, path: path + "body.", rank: &rank)
                var r4 = 4
                let shortcut = r.shortcut.layers.isEmpty ? x : try emit(r.shortcut, x, &g, path: path + "shortcut.", rank: &r4)
                return g.add("Add", [body, shortcut], name: name + "/add")
            case let conv as Conv2d:
                return convolution(&g, x, conv.geometry, conv.weight, conv.bias, name: name, path: path)
            case let conv as DepthwiseConv2d:
                return convolution(&g, x, conv.geometry, conv.weight, conv.bias, name: name, path: path)
            case let bn as BatchNorm2d:
                let c = bn.shape.channels
                let inputs = [x, g.constant(path + "weight", dims: [c], bn.weight.value.array),
                              g.constant(path + "bias", dims: [c], bn.bias.value.array),
                              g.constant(path + "running_mean", dims: [c], bn.runningMean.array),
                              g.constant(path + "running_var", dims: [c], bn.runningVar.array)]
                return g.add("BatchNormalization", inputs, name: name, [("epsilon", .float(bn.epsilon))])
            case let a as Activation:
                switch a.kind {
                case .relu: return g.add("Relu", [x], name: name)
                case .relu6:
                    if !g.initializers.contains(where: { $0.name == "relu6.min" }) {
                        g.constant("relu6.min", dims: [], [0])
                        g.constant("relu6.max", dims: [], [6])
                    }
                    return g.add("Clip", [x, "relu6.min", "relu6.max"], name: name)
                case .silu:
                    let s = g.add("Sigmoid", [x], name: name + "/sigmoid")
                    return g.add("Mul", [x, s], name: name)
                }
            case let p as MaxPool2d:
                return g.add("MaxPool", [x], name: name, window(p.geometry))
            case let p as AvgPool2d:
                return g.add("AveragePool", [x], name: name, window(p.geometry) + [("count_include_pad", .int(1))])
            case is GlobalAvgPool:
                return g.add("GlobalAveragePool", [x], name: name)
            case is GlobalAvgMaxPool:
                let avg = g.add("GlobalAveragePool", [x], name: name + "/mean")
                let max = g.add("GlobalMaxPool", [x], name: name + "/max")
                return g.add("Concat", [avg, max], name: name, [("axis", .int(1))])
            case is GlobalAvgPeakPool:
                return peakPool(&g, x, name: name)
            case is Flatten:
                rank = 2
                return g.add("Flatten", [x], name: name, [("axis", .int(1))])
            case let l as Linear:
                var h = x
                if rank == 4 { h = g.add("Flatten", [x], name: name + "/flatten", [("axis", .int(1))]); rank = 2 }
                var inputs = [h, g.constant(path + "weight", dims: l.weight.dims, l.weight.value.array)]
                if let bias = l.bias { inputs.append(g.constant(path + "bias", dims: bias.dims, bias.value.array)) }
                return g.add("Gemm", inputs, name: name, [("transB", .int(1))])
            case is Dropout:
                return x
            case let hp as HighPass:
                return highPass(&g, x, hp, name: name, path: path)
            default:
                throw NeuralError.invalidSpec("layer \(name) (\(type(of: layer))) has no ONNX form")
            }
        }

        private func window(_ w: ConvGeometry) -> [(String, ONNXGraph.Attribute)] {
            [("kernel_shape", .ints([w.kernelH, w.kernelW])), ("strides", .ints([w.stride, w.stride])),
             ("pads", .ints([w.padding, w.padding, w.padding, w.padding]))]
        }

        private func convolution(_ g: inout ONNXGraph, _ x: String, _ geometry: ConvGeometry, _ weight: Parameter, _ bias: Parameter?,
                                 name: String, path: String) -> String {
            var inputs = [x, g.constant(path + "weight", dims: weight.dims, weight.value.array)]
            if let bias { inputs.append(g.constant(path + "bias", dims: bias.dims, bias.value.array)) }
            return g.add("Conv", inputs, name: name, window(geometry) + [("group", .int(geometry.groups)), ("dilations", .ints([1, 1]))])
        }

        /// Per channel the mean, then (max - mean) / sqrt(variance + eps) (`GlobalAvgPeakPool`).
        private func peakPool(_ g: inout ONNXGraph, _ x: String, name: String) -> String {
            let mean = g.add("ReduceMean", [x], name: name + "/mean", [("axes", .ints([2, 3])), ("keepdims", .int(1))])
            let max = g.add("ReduceMax", [x], name: name + "/max", [("axes", .ints([2, 3])), ("keepdims", .int(1))])
            let d = g.add("Sub", [x, mean], name: name + "/centre")
            let sq = g.add("Mul", [d, d], name: name + "/square")
            let v = g.add("ReduceMean", [sq], name: name + "/variance", [("axes", .ints([2, 3])), ("keepdims", .int(1))])
            let eps = g.constant(name + ".epsilon", dims: [], [GlobalAvgPeakPool.epsilon])
            let s = g.add("Sqrt", [g.add("Add", [v, eps], name: name + "/eps")], name: name + "/std")
            let z = g.add("Div", [g.add("Sub", [max, mean], name: name + "/rise"), s], name: name + "/z")
            return g.add("Concat", [mean, z], name: name, [("axis", .int(1))])
        }

        /// x minus its Gaussian blur (mirrored borders: a Gather of the padded rows and columns,
        /// then a depthwise 1-D conv each way), over the image's root mean square + epsilon.
        private mutating func highPass(_ g: inout ONNXGraph, _ x: String, _ hp: HighPass, name: String, path: String) -> String {
            let c = hp.inputShape.channels, k = hp.gaussian.taps.count
            let cols = g.constant(path + "columns", dims: [hp.gaussian.columnMap.count], ints: hp.gaussian.columnMap.map(Int.init))
            let rows = g.constant(path + "rows", dims: [hp.gaussian.rowMap.count], ints: hp.gaussian.rowMap.map(Int.init))
            let across = g.constant(path + "taps.across", dims: [c, 1, 1, k], Array((0..<c).map { _ in hp.gaussian.taps }.joined()))
            let down = g.constant(path + "taps.down", dims: [c, 1, k, 1], Array((0..<c).map { _ in hp.gaussian.taps }.joined()))
            let depthwise: [(String, ONNXGraph.Attribute)] = [("group", .int(c))]
            var t = g.add("Gather", [x, cols], name: name + "/pad_columns", [("axis", .int(3))])
            t = g.add("Conv", [t, across], name: name + "/blur_across", depthwise + [("kernel_shape", .ints([1, k]))])
            t = g.add("Gather", [t, rows], name: name + "/pad_rows", [("axis", .int(2))])
            t = g.add("Conv", [t, down], name: name + "/blur_down", depthwise + [("kernel_shape", .ints([k, 1]))])
            let detail = g.add("Sub", [x, t], name: name + "/detail")
            let sq = g.add("Mul", [detail, detail], name: name + "/square")
            let ms = g.add("ReduceMean", [sq], name: name + "/mean_square", [("axes", .ints([1, 2, 3])), ("keepdims", .int(1))])
            let eps = g.constant(path + "epsilon", dims: [], [HighPass.epsilon])
            let scale = g.add("Add", [g.add("Sqrt", [ms], name: name + "/rms"), eps], name: name + "/scale")
            let y = g.add("Div", [detail, scale], name: hp.keepInput ? name + "/normalized" : name)
            return hp.keepInput ? g.add("Concat", [y, x], name: name, [("axis", .int(1))]) : y
        }
    }
}
