/// Max pooling from one blocked buffer to another (`BlockedLayout`), 8 channels a vector,
/// for inference. The border counts as zeros, which is the padding max pooling wants only
/// when the input is never negative: use it after a ReLU. Its twin is `MaxPool2d`.
public struct BlockedMaxPool: Sendable {
    public let geometry: ConvGeometry
    public let input: BlockedLayout, output: BlockedLayout

    public static func applies(to g: ConvGeometry, inputBorder: Int = 1) -> Bool {
        g.padding <= inputBorder && g.kernelH == g.kernelW
    }

    /// Reads an input with a border of `inputBorder`; writes one with a border of 1.
    public init(_ g: ConvGeometry, inputBorder: Int = 1) {
        precondition(Self.applies(to: g, inputBorder: inputBorder), "not a pool the blocked kernel takes")
        geometry = g
        input = BlockedLayout(channels: g.inChannels, height: g.inHeight, width: g.inWidth, border: inputBorder)
        output = BlockedLayout(channels: g.inChannels, height: g.outHeight, width: g.outWidth)
    }

    /// Blocks of 8 channels per sample, for splitting the work.
    public var planes: Int { (geometry.inChannels + BlockedLayout.lanes - 1) / BlockedLayout.lanes }

    /// The planes `range` (sample * `planes` + channel block) of samples back to back.
    public func run(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, planes range: Range<Int>) {
        typealias V = SIMD8<Float>
        let g = geometry, k = g.kernelH, s = g.stride, row = input.rowStride, lanes = BlockedLayout.lanes
        let shift = input.border - g.padding
        for plane in range {
            let b = plane / planes, block = plane % planes
            let src = UnsafeRawPointer(x + b * input.count + block * input.blockStride)
            let dst = UnsafeMutableRawPointer(y + b * output.count + output.offset(block * lanes, 0, 0))
            for oy in 0..<g.outHeight {
                for ox in 0..<g.outWidth {
                    let origin = ((oy * s + shift) * row + (ox * s + shift) * lanes) * 4
                    var m = src.loadUnaligned(fromByteOffset: origin, as: V.self)
                    for ky in 0..<k {
                        for kx in 0..<k {
                            // (not `pointwiseMax`, which ran lane by lane: 1.9 ms for ResNet18's pool)
                            let v = src.loadUnaligned(fromByteOffset: origin + (ky * row + kx * lanes) * 4, as: V.self)
                            m = m.replacing(with: v, where: v .> m)
                        }
                    }
                    dst.storeBytes(of: m, toByteOffset: (oy * output.rowStride + ox * lanes) * 4, as: V.self)
                }
            }
        }
    }
}
