/// Which layers of a network run in int8 and how they fuse, shared by calibration (which
/// measures the tensors the int8 network will store) and compilation (which builds it).
///
/// A network is: fp32 layers in front (a high-pass filter), then an int8 body from the first
/// conv up to the global pooling (convs with their batch norm and activation, depthwise
/// convs, max and average pools, ResNet blocks whose sum and ReLU fuse into the body's last
/// conv), then fp32 layers (pooling to a vector, flatten, linear) on the dequantized map.
struct QuantizedPlan {
    indirect enum Step {
        /// A conv (`Conv2d` or `DepthwiseConv2d`), the batch norm after it, the activation after that.
        /// `stores` names the tensor it writes (its first layer's path), nil inside a block
        /// where the block's sum is stored instead.
        case conv(path: String, layer: Layer, bn: BatchNorm2d?, activation: ActivationKind?, last: String, stores: String?)
        case pool(path: String, layer: Layer)
        /// A ResNet block and the ReLU after it (if any): the body's last conv is a `.conv`
        /// with `stores` nil, fused with the sum.
        case residual(path: String, body: [Step], shortcut: [Step], activation: ActivationKind?, last: String)
    }

    let head: [Layer]
    let body: [Step]
    let tail: [Layer]
    /// Path of the last fp32 layer in front ("" when the body starts at the input).
    let headLast: String

    /// The plan for `network`, or why it has no int8 form.
    init(_ network: Network) throws {
        let layers = network.root.layers
        guard let first = layers.firstIndex(where: { $0 is Conv2d || $0 is DepthwiseConv2d }) else {
            throw NeuralError.invalidSpec("\(network.spec.name) has no conv layer to run in int8")
        }
        for (i, l) in layers[..<first].enumerated() where !(l is HighPass || l is AnomalyMap) {
            throw NeuralError.invalidSpec("layer \(i) (\(type(of: l))) before the first conv has no int8 form; only fixed input filters (high-pass, anomaly map) may come first")
        }
        let end = layers[first...].firstIndex { $0 is GlobalAvgPool || $0 is GlobalAvgMaxPool || $0 is GlobalAvgPeakPool || $0 is Flatten || $0 is Linear }
            ?? layers.endIndex
        head = Array(layers[..<first])
        headLast = first == 0 ? "" : String(first - 1)
        body = try Self.steps(Array(layers[first..<end]), prefix: "", offset: first)
        tail = Array(layers[end...])
        for l in tail where l is Conv2d || l is DepthwiseConv2d || l is BatchNorm2d {
            throw NeuralError.invalidSpec("a \(type(of: l)) after the global pooling has no int8 form")
        }
    }

    /// `layers` (the children of a `Sequential` at `prefix`, the first being child
    /// `offset`) as steps.
    static func steps(_ layers: [Layer], prefix: String, offset: Int, inBlockBody: Bool = false) throws -> [Step] {
        var out: [Step] = []
        var i = 0
        func path(_ j: Int) -> String { prefix + String(offset + j) }
        while i < layers.count {
            let l = layers[i]
            switch l {
            case is Conv2d, is DepthwiseConv2d:
                if let conv = l as? Conv2d, conv.geometry.groups != 1 {
                    throw NeuralError.invalidSpec("layer \(path(i)): a grouped conv has no int8 form")
                }
                var last = i
                let bn = (i + 1 < layers.count ? layers[i + 1] as? BatchNorm2d : nil)
                if bn != nil { last += 1 }
                var activation: ActivationKind?
                if last + 1 < layers.count, let a = layers[last + 1] as? Activation {
                    guard a.kind != .silu else { throw NeuralError.invalidSpec("layer \(path(last + 1)): SiLU has no int8 form") }
                    activation = a.kind
                    last += 1
                }
                let fused = inBlockBody && last == layers.count - 1
                out.append(.conv(path: path(i), layer: l, bn: bn, activation: activation, last: path(last), stores: fused ? nil : path(i)))
                i = last + 1
            case is MaxPool2d, is AvgPool2d:
                out.append(.pool(path: path(i), layer: l))
                i += 1
            case let r as Residual:
                let body = try steps(r.body.layers, prefix: path(i) + ".body.", offset: 0, inBlockBody: true)
                guard case .conv(_, _, _, nil, _, nil)? = body.last else {
                    throw NeuralError.invalidSpec("layer \(path(i)): a residual body must end in a conv (and batch norm) without activation")
                }
                let shortcut = try steps(r.shortcut.layers, prefix: path(i) + ".shortcut.", offset: 0)
                var activation: ActivationKind?, last = i
                if i + 1 < layers.count, let a = layers[i + 1] as? Activation {
                    guard a.kind != .silu else { throw NeuralError.invalidSpec("layer \(path(i + 1)): SiLU has no int8 form") }
                    activation = a.kind
                    last = i + 1
                }
                out.append(.residual(path: path(i), body: body, shortcut: shortcut, activation: activation, last: path(last)))
                i = last + 1
            case is Dropout:
                i += 1
            default:
                throw NeuralError.invalidSpec("layer \(path(i)) (\(type(of: l))) has no int8 form")
            }
        }
        return out
    }

    /// Every tensor the int8 network stores, by name, with the path of the fp32 layer whose
    /// output it is ("input": the body's input, the output of `headLast`).
    var storedTensors: [(name: String, fp32Output: String)] {
        var out: [(String, String)] = [("input", headLast)]
        func visit(_ steps: [Step]) {
            for s in steps {
                switch s {
                case let .conv(_, _, _, _, last, stores?): out.append((stores, last))
                case .conv, .pool: break
                case let .residual(path, body, shortcut, _, last):
                    visit(shortcut); visit(body)
                    out.append((path, last))
                }
            }
        }
        visit(body)
        return out
    }
}
