/// Ready network specs. Each is plain data: print it, store it, edit it.
public enum Zoo {
    /// ResNet's BasicBlock: two 3x3 convs with a residual connection, then ReLU; a 1x1
    /// conv + BN shortcut when the stride or the width changes.
    public static func basicBlock(in cin: Int, out cout: Int, stride: Int) -> [LayerSpec] {
        let body: [LayerSpec] = [
            .conv(out: cout, kernel: 3, stride: stride, padding: 1), .batchNorm, .relu,
            .conv(out: cout, kernel: 3, stride: 1, padding: 1), .batchNorm,
        ]
        let shortcut: [LayerSpec] = stride != 1 || cin != cout
            ? [.conv(out: cout, kernel: 1, stride: stride, padding: 0), .batchNorm] : []
        return [.residual(body: body, shortcut: shortcut), .relu]
    }

    /// ResNet18 as in torchvision (and the seed article): 7x7/2 stem, 3x3/2 max pool,
    /// four stages of two BasicBlocks (64, 128, 256, 512), global average pool, linear.
    public static func resnet18(input: Shape, classes: Int) -> NetworkSpec {
        var layers: [LayerSpec] = [.conv(out: 64, kernel: 7, stride: 2, padding: 3), .batchNorm, .relu,
                                   .maxPool(kernel: 3, stride: 2, padding: 1)]
        var cin = 64
        for (i, width) in [64, 128, 256, 512].enumerated() {
            for b in 0..<2 {
                layers += basicBlock(in: cin, out: width, stride: i > 0 && b == 0 ? 2 : 1)
                cin = width
            }
        }
        layers += [.globalAvgPool, .flatten, .linear(out: classes)]
        return NetworkSpec(name: "resnet18", input: input, layers: layers)
    }

    /// A small ResNet for inspection crops and 28x28 benchmarks: a 3x3 stem, then one
    /// BasicBlock per stage. depth 8: three stages (w, 2w, 4w); depth 10: four (.., 8w).
    /// `width` is the first stage's channel count (32 by default, times a multiplier).
    /// Inputs of 48 px and more get a strided stem, 96 px and more a max pool too.
    public static func smallResNet(input: Shape, classes: Int, depth: Int = 8, width: Int = 32) -> NetworkSpec {
        smallResNet(input: input, classes: classes, depth: depth, width: width, stemPool: true, globalPool: .avg)
    }

    /// How the last feature map becomes one vector.
    public enum GlobalPool: String, Sendable, CaseIterable, Codable {
        /// The mean: large areas and absences (a missing hole).
        case avg
        /// The maximum: a defect a few pixels wide is not averaged away by the rest of the part.
        case max
        /// Both, concatenated (twice the features into the classifier).
        case avgmax
        /// The mean and the peak's standard score over the map (`globalAvgPeakPool`): a
        /// defect measured against the image's own surface.
        case peak
    }

    /// The small ResNet with the choices that matter for small defects: `stemPool` false
    /// keeps twice the resolution into the first stage (no max pool after the stem on
    /// large inputs); `globalPool` chooses how the last feature map is summarized.
    public static func smallResNet(input: Shape, classes: Int, depth: Int, width: Int, stemPool: Bool, globalPool: GlobalPool) -> NetworkSpec {
        precondition(depth == 8 || depth == 10, "small ResNet depth is 8 or 10")
        let side = min(input.height, input.width)
        func down(_ s: Int) -> Int { (s + 2 - 3) / 2 + 1 }  // 3x3, stride 2, padding 1
        var (h, w) = (input.height, input.width)
        let stemStride = side >= 48 ? 2 : 1
        var layers: [LayerSpec] = [.conv(out: width, kernel: 3, stride: stemStride, padding: 1), .batchNorm, .relu]
        if stemStride == 2 { (h, w) = (down(h), down(w)) }
        if side >= 96 && stemPool {
            layers.append(.maxPool(kernel: 3, stride: 2, padding: 1))
            (h, w) = (down(h), down(w))
        }
        let stages = depth == 8 ? 3 : 4
        var cin = width
        for s in 0..<stages {
            let c = width << s
            layers += basicBlock(in: cin, out: c, stride: s == 0 ? 1 : 2)
            if s > 0 { (h, w) = (down(h), down(w)) }
            cin = c
        }
        switch globalPool {
        case .max where h == w: layers += [.maxPool(kernel: h, stride: h), .flatten, .linear(out: classes)]
        case .avgmax: layers += [.globalAvgMaxPool, .flatten, .linear(out: classes)]
        case .peak: layers += [.globalAvgPeakPool, .flatten, .linear(out: classes)]
        default: layers += [.globalAvgPool, .flatten, .linear(out: classes)]
        }
        let name = "resnet\(depth)-w\(width)" + (stemPool ? "" : "-fullstem") + (globalPool == .avg || (globalPool == .max && h != w) ? "" : "-g\(globalPool.rawValue)")
        return NetworkSpec(name: name, input: input, layers: layers)
    }

    /// What the first layer sees: the image, its high-pass (`LayerSpec.highPass`), or both.
    public enum InputFilter: String, Sendable, CaseIterable, Codable {
        case image
        /// The image minus its blur, scaled by its own strength: local irregularities on any
        /// surface, in any light.
        case highpass
        /// The high-pass, then the image (twice the input channels): colour and shading of
        /// the whole part stay visible.
        case both

        /// `spec` with this filter in front (`sigma` in input pixels).
        public func apply(to spec: NetworkSpec, sigma: Double) -> NetworkSpec {
            guard self != .image else { return spec }
            return NetworkSpec(name: spec.name + (self == .highpass ? "-hp" : "-hpx"), input: spec.input,
                               layers: [.highPass(sigma: sigma, keepInput: self == .both)] + spec.layers)
        }
    }

    /// `spec` with `LayerSpec.anomalyMap` in front: one more channel into the rest.
    public static func withAnomalyMap(_ spec: NetworkSpec) -> NetworkSpec {
        NetworkSpec(name: spec.name + "-am", input: spec.input, layers: [.anomalyMap] + spec.layers)
    }

    /// The networks inspection training offers (`linesight train --arch`), each built for
    /// an input and a class count by `spec`.
    public enum Architecture: String, Sendable, CaseIterable, Codable {
        /// `smallResNet` depth 8: three stages of one BasicBlock (w, 2w, 4w).
        case small
        /// `smallResNet` depth 10: four stages (w, 2w, 4w, 8w), a deeper, wider view.
        case small10
        /// torchvision's ResNet18 (`resnet18`), as the seed builds it; its 7x7/2 stem and
        /// pool see a quarter of the resolution, and it costs several times the compute.
        case resnet18
        /// The depthwise-separable `lightNet`, for a fast stage 1.
        case light

        /// The network for `input` and `classes`: `width` is the first stage's channels
        /// (ResNet18's are fixed), `stemPool` and `globalPool` apply to the small ResNets.
        public func spec(input: Shape, classes: Int, width: Int, stemPool: Bool, globalPool: GlobalPool) -> NetworkSpec {
            switch self {
            case .small: Zoo.smallResNet(input: input, classes: classes, depth: 8, width: width, stemPool: stemPool, globalPool: globalPool)
            case .small10: Zoo.smallResNet(input: input, classes: classes, depth: 10, width: width, stemPool: stemPool, globalPool: globalPool)
            case .resnet18: Zoo.resnet18(input: input, classes: classes)
            case .light: Zoo.lightNet(input: input, classes: classes, width: width)
            }
        }
    }

    /// A defect-map network from a classifier `spec`: its layers up to the last feature map
    /// (the global pooling, flatten and linear head removed), then a 1x1 conv to one logit per
    /// cell of that map. Trained with `DefectMapLoss`; `defectMapClassifier` makes it a
    /// pass/fail model.
    public static func defectMap(from spec: NetworkSpec) -> NetworkSpec {
        var layers = spec.layers
        while let last = layers.last {
            switch last {
            case .linear, .dropout, .flatten, .globalAvgPool, .globalAvgMaxPool, .globalAvgPeakPool: layers.removeLast()
            case .maxPool(let k, let s, _) where k == s && layers.count < spec.layers.count && k >= 4: layers.removeLast()  // .max's whole-map pool
            default: return NetworkSpec(name: spec.name + "-map", input: spec.input, layers: layers + [.conv(out: 1, kernel: 1, bias: true)])
            }
        }
        return NetworkSpec(name: spec.name + "-map", input: spec.input, layers: [.conv(out: 1, kernel: 1, bias: true)])
    }

    /// The pass/fail classifier of a defect map: the map's layers, then its mean and maximum
    /// (`globalAvgMaxPool`) into a two-class linear layer, which `defectMapHead` sets to give
    /// the logits (-max/2, +max/2): P(defect) = sigmoid(strongest cell), as trained.
    public static func defectMapClassifier(_ map: NetworkSpec) -> NetworkSpec {
        NetworkSpec(name: map.name, input: map.input, layers: map.layers + [.globalAvgMaxPool, .flatten, .linear(out: 2)])
    }

    /// The weights and bias of `defectMapClassifier`'s linear layer (2 x [mean, max]).
    public static let defectMapHead: (weight: [Float], bias: [Float]) = ([0, -0.5, 0, 0.5], [0, 0])

    /// A light depthwise-separable network (MobileNet-v1 style) for real-time stage 1:
    /// 3x3 stem, then depthwise 3x3 + pointwise 1x1 pairs with BN and ReLU6.
    public static func lightNet(input: Shape, classes: Int, width: Int = 16) -> NetworkSpec {
        let side = min(input.height, input.width)
        var layers: [LayerSpec] = [.conv(out: width, kernel: 3, stride: side >= 48 ? 2 : 1, padding: 1), .batchNorm, .relu6]
        let plan: [(Int, Int)] = [(2, 1), (4, 2), (4, 1), (8, 2), (8, 1), (16, 2)]
        for (mult, stride) in plan {
            layers += [.depthwise(kernel: 3, stride: stride, padding: 1), .batchNorm, .relu6,
                       .conv(out: width * mult, kernel: 1), .batchNorm, .relu6]
        }
        layers += [.globalAvgPool, .flatten, .dropout(0.1), .linear(out: classes)]
        return NetworkSpec(name: "lightnet-w\(width)", input: input, layers: layers)
    }
}
