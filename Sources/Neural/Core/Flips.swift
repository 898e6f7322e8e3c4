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
