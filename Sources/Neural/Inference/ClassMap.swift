/// Where in the image a classifier saw a class: a class activation map (CAM, Zhou et al.
/// 2016) over the last feature map, for networks whose head is a global pooling then one
/// linear layer (every network of the zoo). Cell (y, x) holds
///
///     sum over channels c of (w[toward, c] - w[against, c]) * f[c, y, x]
///
/// with w the linear layer's weights for the channel's pooled features (for the mean-and-max
/// and mean-and-peak pools, the two features' weights added), and f the feature map. A
/// positive cell pushed the prediction toward `toward`. For a defect-map network (one channel,
/// whose strongest cell is the logit) it is that map itself.
public struct ClassMap: Sendable, Equatable {
    public var width: Int
    public var height: Int
    /// Row-major, `height * width` values.
    public var values: [Float]

    public init(width: Int, height: Int, values: [Float]) {
        precondition(values.count == width * height)
        (self.width, self.height, self.values) = (width, height, values)
    }
}

extension InferenceNetwork {
    /// The logits and the class map of `toward` against `against` for one sample (`C*H*W`
    /// floats), or nil for the map when the network's head is not a global pooling followed by
    /// one linear layer (flatten and dropout aside). One forward pass, without flips.
    public func classMap(sample: UnsafePointer<Float>, toward: Int, against: Int) -> (logits: [Float], map: ClassMap?) {
        let x = Tensor(spec.input, batch: 1)
        x.data.update(from: sample, count: x.count)
        let layers = root.layers
        let head = Self.camHead(layers)
        var features: [Float] = [], shape = Shape(0)
        let logits: [Float] = compute.run {
            var h = x
            for (i, layer) in layers.enumerated() {
                if let head, i == head.pool {
                    features = h.array
                    shape = Shape(h.channels, h.height, h.width)
                }
                h = layer.forward(h, mode: .eval)
            }
            return h.array
        }
        guard let head, toward >= 0, against >= 0, toward < head.linear.outFeatures, against < head.linear.outFeatures else {
            return (logits, nil)
        }
        let c = shape.channels, plane = shape.height * shape.width
        let w = head.linear.weight.value.data, n = head.linear.inFeatures
        guard n == c * head.featuresPerChannel, plane > 0 else { return (logits, nil) }
        // per channel: the weight difference, summed over the channel's pooled features
        var d = [Float](repeating: 0, count: c)
        for k in 0..<c {
            for f in 0..<head.featuresPerChannel {
                d[k] += w[toward * n + f * c + k] - w[against * n + f * c + k]
            }
        }
        var values = [Float](repeating: 0, count: plane)
        for k in 0..<c where d[k] != 0 {
            let dk = d[k], base = k * plane
            for j in 0..<plane { values[j] += dk * features[base + j] }
        }
        return (logits, ClassMap(width: shape.width, height: shape.height, values: values))
    }

    /// The index of the global pooling layer and the linear layer after it, when the network
    /// ends that way.
    static func camHead(_ layers: [Layer]) -> (pool: Int, linear: Linear, featuresPerChannel: Int)? {
        guard let pool = layers.lastIndex(where: { $0 is GlobalAvgPool || $0 is GlobalAvgMaxPool || $0 is GlobalAvgPeakPool }) else { return nil }
        let after = layers[(pool + 1)...]
        let linears = after.compactMap { $0 as? Linear }
        guard linears.count == 1, after.allSatisfy({ $0 is Linear || $0 is Flatten || $0 is Dropout }) else { return nil }
        return (pool, linears[0], layers[pool] is GlobalAvgPool ? 1 : 2)
    }
}
