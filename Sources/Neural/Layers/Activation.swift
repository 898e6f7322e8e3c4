import Foundation

/// The element-wise non-linearities, fused into convolutions at inference time.
public enum ActivationKind: String, Codable, Sendable, CaseIterable {
    case relu, relu6, silu
}

/// ReLU, ReLU6 or SiLU (x * sigmoid(x)), element-wise.
public final class Activation: Layer {
    public let kind: ActivationKind
    public let outputShape: Shape
    public var needsInputGradient = true
    private var input: Tensor?
    private var output: Tensor?
    private var gradInput: Tensor?

    public init(_ kind: ActivationKind, shape: Shape) {
        self.kind = kind
        outputShape = shape
    }

    public func forward(_ x: Tensor, mode: Mode) -> Tensor {
        input = x
        let y = ensure(&output, outputShape, batch: x.batch)
        activate(kind, x.data, y.data, x.count)
        return y
    }

    public func backward(_ dy: Tensor) -> Tensor {
        guard let x = input else { preconditionFailure("backward before forward") }
        let dx = ensure(&gradInput, outputShape, batch: x.batch)
        let xs = x.data, g = dy.data, d = dx.data, count = x.count
        Parallel.forEachChunk(count, minimumPerChunk: 1 << 16) { r in
            switch kind {
            case .relu:
                for i in r { d[i] = xs[i] > 0 ? g[i] : 0 }
            case .relu6:
                for i in r { d[i] = xs[i] > 0 && xs[i] < 6 ? g[i] : 0 }
            case .silu:
                for i in r {
                    let s = 1 / (1 + expf(-xs[i]))
                    d[i] = g[i] * s * (1 + xs[i] * (1 - s))
                }
            }
        }
        return dx
    }
}

/// y = act(x) over `count` elements; `x` and `y` may be the same buffer.
public func activate(_ kind: ActivationKind, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ count: Int) {
    Parallel.forEachChunk(count, minimumPerChunk: 1 << 16) { r in
        switch kind {
        case .relu:
            for i in r { y[i] = max(x[i], 0) }
        case .relu6:
            for i in r { y[i] = min(max(x[i], 0), 6) }
        case .silu:
            for i in r { y[i] = x[i] / (1 + expf(-x[i])) }
        }
    }
}
