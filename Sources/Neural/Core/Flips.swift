/// The four mirror images of a picture (itself, left-right, top-bottom, both): test-time
/// flip averaging runs a model on all four and averages its logits, which steadies its
/// score on faint, small defects at four times the compute.
public enum Flip: CaseIterable, Sendable {
    case none, horizontal, vertical, both

    var horizontal: Bool { self == .horizontal || self == .both }
    var vertical: Bool { self == .vertical || self == .both }

    /// Copies `channels` planes of `height` x `width` from `src` to `dst`, mirrored.
    public func copy<T>(_ src: UnsafePointer<T>, to dst: UnsafeMutablePointer<T>, channels: Int, height: Int, width: Int) {
        for c in 0..<channels {
            let plane = c * height * width
            for y in 0..<height {
                let from = src + plane + (vertical ? height - 1 - y : y) * width, to = dst + plane + y * width
                if horizontal {
                    for x in 0..<width { to[x] = from[width - 1 - x] }
                } else {
                    to.update(from: from, count: width)
                }
            }
        }
    }
}

extension Flip {
    /// Runs `fixed` (leading filters that commute with mirroring) once on `frame` and returns
    /// the four mirror images of their output as one batch, in `buffer` (made or reused).
    static func mirrorImages(after fixed: ArraySlice<Layer>, of frame: Tensor, buffer: inout Tensor?) -> Tensor {
        var h = frame
        for layer in fixed { h = layer.forward(h, mode: .eval) }
        let s = h.shape, n = allCases.count
        let x = buffer?.shape == s ? buffer! : Tensor(s, batch: n)
        buffer = x
        for (i, f) in allCases.enumerated() {
            f.copy(h.data, to: x.data + i * s.count, channels: s.channels, height: s.height, width: s.width)
        }
        return x
    }

    /// The mean of the four mirror images' outputs, `z` holding `k` values for each.
    static func mean(of z: UnsafePointer<Float>, outputs k: Int) -> [Float] {
        let n = allCases.count
        return (0..<k).map { j in (0..<n).reduce(Float(0)) { $0 + z[$1 * k + j] } / Float(n) }
    }
}
