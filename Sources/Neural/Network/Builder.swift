import Foundation

/// Turns a `NetworkSpec` into layers, checking every shape once, and initializes the
/// weights from a seed (Kaiming-normal fan-out for convs, as torchvision's ResNet;
/// PyTorch's default uniform for linear layers).
struct NetworkBuilder {
    var generator: SeededGenerator

    mutating func build(_ specs: [LayerSpec], input: Shape, path: String) throws -> Sequential {
        var shape = input
        var layers: [Layer] = []
        for (i, spec) in specs.enumerated() {
            let layer = try make(spec, input: shape, path: path.isEmpty ? "\(i)" : "\(path).\(i)")
            layers.append(layer)
            shape = layer.outputShape
        }
        return Sequential(layers, inputShape: input)
    }

    private func window(_ what: String, kernel: Int, stride: Int, padding: Int, input: Shape, at path: String) throws {
        guard kernel > 0, stride > 0, padding >= 0 else {
            throw NeuralError.invalidSpec("\(what) at \(path): kernel, stride must be > 0 and padding >= 0")
        }
        guard padding * 2 <= kernel || what != "pool" else {
            throw NeuralError.invalidSpec("pool at \(path): padding \(padding) must be at most half the kernel \(kernel)")
        }
        guard input.height + 2 * padding >= kernel, input.width + 2 * padding >= kernel else {
            throw NeuralError.invalidSpec("\(what) at \(path): kernel \(kernel) is larger than the padded input \(input)")
        }
    }

    private mutating func make(_ spec: LayerSpec, input: Shape, path: String) throws -> Layer {
        switch spec {
        case let .conv(out, kernel, stride, padding, groups, bias):
            try window("conv", kernel: kernel, stride: stride, padding: padding, input: input, at: path)
            guard out > 0, groups > 0, input.channels % groups == 0, out % groups == 0 else {
                throw NeuralError.invalidSpec("conv at \(path): \(input.channels) in and \(out) out channels must divide by groups \(groups)")
            }
            let g = ConvGeometry(input: input, outChannels: out, kernel: kernel, stride: stride, padding: padding, groups: groups)
            if groups == input.channels && out == input.channels && groups > 1 {
                let layer = DepthwiseConv2d(g, bias: bias)
                initConv(layer.weight, layer.bias, fanOut: out * kernel * kernel / groups, fanIn: kernel * kernel)
                return layer
            }
            let layer = Conv2d(g, bias: bias)
            initConv(layer.weight, layer.bias, fanOut: out * kernel * kernel, fanIn: g.patch)
            return layer
        case let .depthwise(kernel, stride, padding, bias):
            return try make(.conv(out: input.channels, kernel: kernel, stride: stride, padding: padding,
                                  groups: input.channels, bias: bias), input: input, path: path)
        case .batchNorm:
            return BatchNorm2d(input)
        case .activation(let kind):
            return Activation(kind, shape: input)
        case let .maxPool(kernel, stride, padding), let .avgPool(kernel, stride, padding):
            try window("pool", kernel: kernel, stride: stride, padding: padding, input: input, at: path)
            let g = ConvGeometry(input: input, outChannels: input.channels, kernel: kernel, stride: stride, padding: padding)
            if case .maxPool = spec { return MaxPool2d(g) }
            return AvgPool2d(g)
        case .globalAvgPool:
            return GlobalAvgPool(input)
        case .globalAvgMaxPool:
            return GlobalAvgMaxPool(input)
        case .flatten:
            return Flatten(input)
        case let .linear(out, bias):
            guard out > 0 else { throw NeuralError.invalidSpec("linear at \(path): out must be > 0") }
            let layer = Linear(input: input, outFeatures: out, bias: bias)
            let bound = 1 / Float(input.count).squareRoot()
            fillUniform(layer.weight.value, bound)
            if let b = layer.bias { fillUniform(b.value, bound) }
            return layer
        case .dropout(let p):
            guard p >= 0 && p < 1 else { throw NeuralError.invalidSpec("dropout at \(path): p must be in [0, 1)") }
            return Dropout(probability: Float(p), shape: input, seed: generator.next())
        case let .residual(body, shortcut):
            let b = try build(body, input: input, path: "\(path).body")
            let s = try build(shortcut, input: input, path: "\(path).shortcut")
            guard b.outputShape == s.outputShape else {
                throw NeuralError.invalidSpec("residual at \(path): body gives \(b.outputShape), shortcut gives \(s.outputShape)")
            }
            return Residual(body: b, shortcut: s)
        }
    }

    private mutating func initConv(_ w: Parameter, _ b: Parameter?, fanOut: Int, fanIn: Int) {
        let std = (2 / Float(fanOut)).squareRoot()
        for i in 0..<w.value.count { w.value[i] = generator.normal() * std }
        if let b { fillUniform(b.value, 1 / Float(fanIn).squareRoot()) }
    }

    private mutating func fillUniform(_ t: Tensor, _ bound: Float) {
        for i in 0..<t.count { t[i] = generator.uniform(-bound, bound) }
    }
}
