/// Everything about a 2-D convolution (or pooling window) that shapes the loops.
public struct ConvGeometry: Hashable, Sendable {
    public var inChannels: Int, inHeight: Int, inWidth: Int
    public var outChannels: Int
    public var kernelH: Int, kernelW: Int
    public var stride: Int, padding: Int, groups: Int

    public init(input: Shape, outChannels: Int, kernel: Int, stride: Int, padding: Int, groups: Int = 1) {
        inChannels = input.channels; inHeight = input.height; inWidth = input.width
        self.outChannels = outChannels
        kernelH = kernel; kernelW = kernel
        self.stride = stride; self.padding = padding; self.groups = groups
    }

    public var outHeight: Int { (inHeight + 2 * padding - kernelH) / stride + 1 }
    public var outWidth: Int { (inWidth + 2 * padding - kernelW) / stride + 1 }
    public var outPlane: Int { outHeight * outWidth }
    public var inPlane: Int { inHeight * inWidth }
    public var inPerGroup: Int { inChannels / groups }
    public var outPerGroup: Int { outChannels / groups }
    /// Rows of the im2col matrix for one group: inPerGroup * kernelH * kernelW.
    public var patch: Int { inPerGroup * kernelH * kernelW }

    /// Output columns `[lo, hi)` whose input column `ow*stride - padding + kj` is inside the image.
    @inline(__always)
    func validColumns(_ kj: Int) -> (Int, Int) {
        let off = padding - kj
        let lo = off <= 0 ? 0 : (off + stride - 1) / stride
        let last = inWidth - 1 + off
        let hi = last < 0 ? 0 : min(outWidth, last / stride + 1)
        return (min(lo, hi), hi)
    }
}
