import Foundation

/// Turns a `NetworkSpec` into layers and initializes the weights from a seed
/// (Kaiming-normal fan-out for convs, as torchvision's ResNet; PyTorch's default uniform
/// for linear layers).
///
/// Only for a spec that `NetworkSpec.plan()` accepted: that is where every shape, limit
/// and size is checked, once, before anything is allocated; the products here cannot overflow.
struct NetworkBuilder {
    var generator: SeededGenerator

    mutating func build(_ specs: [LayerSpec], input: Shape) -> Sequential {
        var shape = input
        var layers: [Layer] = []
        for spec in specs {
            let layer = make(spec, input: shape)
            layers.append(layer)
            shape = layer.outputShape
        }
        return Sequential(layers, inputShape: input)
    }

    private mutating func make(_ spec: LayerSpec, input: Shape) -> Layer {
        switch spec {
        case let .conv(out, kernel, stride, padding, groups, bias):
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
            return make(.conv(out: input.channels, kernel: kernel, stride: stride, padding: padding,
                              groups: input.channels, bias: bias), input: input)
        case .batchNorm:
            return BatchNorm2d(input)
        case .activation(let kind):
            return Activation(kind, shape: input)
        case let .maxPool(kernel, stride, padding), let .avgPool(kernel, stride, padding):
            let g = ConvGeometry(input: input, outChannels: input.channels, kernel: kernel, stride: stride, padding: padding)
            if case .maxPool = spec { return MaxPool2d(g) }
            return AvgPool2d(g)
        case .globalAvgPool:
            return GlobalAvgPool(input)
        case .globalAvgMaxPool:
            return GlobalAvgMaxPool(input)
        case .globalAvgPeakPool:
            return GlobalAvgPeakPool(input)
        case .flatten:
            return Flatten(input)
        case let .highPass(sigma, keepInput):
            return HighPass(input, sigma: sigma, keepInput: keepInput)
        case .anomalyMap:
            return AnomalyMap(input)
        case let .linear(out, bias):
            let layer = Linear(input: input, outFeatures: out, bias: bias)
            let bound = 1 / Float(input.count).squareRoot()
            fillUniform(layer.weight.value, bound)
            if let b = layer.bias { fillUniform(b.value, bound) }
            return layer
        case .dropout(let p):
            return Dropout(probability: Float(p), shape: input, seed: generator.next())
        case let .residual(body, shortcut):
            let b = build(body, input: input)
            let s = build(shortcut, input: input)
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
