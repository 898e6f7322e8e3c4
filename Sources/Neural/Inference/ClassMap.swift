/// Where in the image a classifier saw a class: a class activation map (CAM, Zhou et al.
/// 2016) over the last feature map, for networks whose head is a global pooling then one
/// linear layer (every network of the zoo). With d[k] = w[toward, k] - w[against, k] the
/// linear layer's weight difference for pooled feature k, cell j of the map is what that
/// cell added to the logit difference:
///
///     mean pool:            sum over c of d[c] * f[c, j]
///     mean and max pool:    the above, plus N * d[C + c] * f[c, j] at each channel's strongest cell
///     mean and peak pool:   the above, plus N * d[C + c] * (f[c, j] - mean[c]) / s[c] at each
///                           channel's strongest cell
///
/// (f the feature map, C its channels, N its cells): a channel's maximum came from one
/// cell, so its share of the logit is put there and not spread over the map (spread, a
/// feature that is strong everywhere, such as the holes of a plate, outshone the defect:
/// stage 1's peak touched the defect on 5 % of detected synthetic parts, against 59 % so).
/// A positive cell pushed the prediction toward `toward`; the map's mean is the logit
/// difference less the biases'. The exception is a defect-map network (one channel of
/// defect scores, whose strongest cell is the logit): its class map is that map itself.
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

/// The last feature map of one prediction and the head that read it: class maps for any
/// pair of classes, without running the network again.
public struct ClassActivations: Sendable {
    public let features: [Float]
    public let channels: Int
    public let width: Int
    public let height: Int
    /// The linear layer's weights `[classes, pooled features]`.
    public let weights: [Float]
    public let classes: Int
    let pool: PoolKind

    enum PoolKind: Sendable { case mean, meanMax, meanPeak }

    /// The map of `toward` against `against` (nil: of `toward`'s own logit, as for one kind
    /// of a multilabel head), or nil for a class the head does not have.
    public func map(toward: Int, against: Int?) -> ClassMap? {
        guard (0..<classes).contains(toward), against.map({ (0..<classes).contains($0) }) ?? true else { return nil }
        let c = channels, plane = width * height, n = weights.count / classes
        func d(_ k: Int) -> Float { weights[toward * n + k] - (against.map { weights[$0 * n + k] } ?? 0) }
        var values = [Float](repeating: 0, count: plane)
        for k in 0..<c {
            let base = k * plane, mean = d(k)
            if mean != 0 {
                for j in 0..<plane { values[j] += mean * features[base + j] }
            }
            guard pool != .mean, d(c + k) != 0 else { continue }
            if c == 1 && pool == .meanMax {
                // a defect-map network's one channel is a map of defect scores: keep its shape
                for j in 0..<plane { values[j] += d(c + k) * features[base + j] }
                continue
            }
            // the pooled maximum (or peak) and where it came from
            var best = 0
            for j in 1..<plane where features[base + j] > features[base + best] { best = j }
            var pooled = features[base + best]
            if pool == .meanPeak {
                var sum: Float = 0, sq: Float = 0
                for j in 0..<plane { sum += features[base + j] }
                let m = sum / Float(plane)
                for j in 0..<plane { let e = features[base + j] - m; sq += e * e }
                pooled = (pooled - m) / (sq / Float(plane) + GlobalAvgPeakPool.epsilon).squareRoot()
            }
            if pooled.isFinite { values[best] += Float(plane) * d(c + k) * pooled }
        }
        return ClassMap(width: width, height: height, values: values)
    }
}

extension InferenceNetwork {
    /// The logits of one sample (`C*H*W` floats), one pass without flips, with the last
    /// feature map and the head, when the head is a global pooling followed by one linear
    /// layer (flatten and dropout aside); nil activations otherwise.
    public func classActivations(sample: UnsafePointer<Float>) -> (logits: [Float], activations: ClassActivations?) {
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
        guard let head, shape.height * shape.width > 0, head.linear.inFeatures == shape.channels * (head.kind == .mean ? 1 : 2) else {
            return (logits, nil)
        }
        let w = head.linear.weight.value
        return (logits, ClassActivations(features: features, channels: shape.channels, width: shape.width, height: shape.height,
                                         weights: w.array, classes: head.linear.outFeatures, pool: head.kind))
    }

    /// The index of the global pooling layer and the linear layer after it, when the network
    /// ends that way.
    static func camHead(_ layers: [Layer]) -> (pool: Int, linear: Linear, kind: ClassActivations.PoolKind)? {
        guard let pool = layers.lastIndex(where: { $0 is GlobalAvgPool || $0 is GlobalAvgMaxPool || $0 is GlobalAvgPeakPool }) else { return nil }
        let after = layers[(pool + 1)...]
        let linears = after.compactMap { $0 as? Linear }
        guard linears.count == 1, after.allSatisfy({ $0 is Linear || $0 is Flatten || $0 is Dropout }) else { return nil }
        let kind: ClassActivations.PoolKind = layers[pool] is GlobalAvgPool ? .mean : layers[pool] is GlobalAvgMaxPool ? .meanMax : .meanPeak
        return (pool, linears[0], kind)
    }
}
