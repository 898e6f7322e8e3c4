import Foundation
import Testing
@testable import Neural

/// Loads a committed fixture (written by scripts/make_fixtures.py).
func fixture(_ name: String) throws -> (tensors: [String: Safetensors.Entry], metadata: [String: String]) {
    let url = try #require(Bundle.module.url(forResource: name, withExtension: "safetensors", subdirectory: "Fixtures"))
    let (entries, meta) = try Safetensors.read(path: url.path)
    return (Dictionary(uniqueKeysWithValues: entries.map { ($0.name, $0) }), meta)
}

/// Largest |a - e| over the tensors, relative to the largest |e| (at least 1).
func relativeError(_ actual: [Float], _ expected: [Float]) -> Float {
    precondition(actual.count == expected.count, "compared arrays differ in size: \(actual.count) vs \(expected.count)")
    var worst: Float = 0, scale: Float = 1
    for i in 0..<actual.count {
        worst = max(worst, abs(actual[i] - expected[i]))
        scale = max(scale, abs(expected[i]))
    }
    return worst / scale
}

func expectClose(_ actual: [Float], _ expected: [Float], tolerance: Float, _ what: String,
                 sourceLocation: SourceLocation = #_sourceLocation) {
    guard actual.count == expected.count else {
        Issue.record("\(what): \(actual.count) values, expected \(expected.count)", sourceLocation: sourceLocation)
        return
    }
    let err = relativeError(actual, expected)
    #expect(err <= tolerance, "\(what): relative error \(err) > \(tolerance)", sourceLocation: sourceLocation)
}

func randomTensor(batch: Int, _ shape: Shape, _ rng: inout SeededGenerator, scale: Float = 1) -> Tensor {
    let t = Tensor(shape, batch: batch)
    for i in 0..<t.count { t[i] = rng.normal() * scale }
    return t
}

func tensor(_ e: Safetensors.Entry) -> Tensor {
    let dims = e.shape + Array(repeating: 1, count: max(0, 4 - e.shape.count))
    if e.shape.count <= 1 { return Tensor(batch: 1, channels: max(1, e.values.count), values: e.values) }
    return Tensor(batch: dims[0], channels: dims[1], height: dims[2], width: dims.count > 3 ? dims[3...].reduce(1, *) : 1,
                  values: e.values)
}

/// A batch in the channel-blocked layout: `batch` zeroed samples (and `slack` zero floats
/// after them), optionally packed from `[N, C, H, W]` values; `unpacked()` reads it back.
final class BlockedBatch {
    let layout: BlockedLayout, batch: Int
    let data: UnsafeMutablePointer<Float>
    private var plane: Int { layout.channels * layout.height * layout.width }

    init(_ layout: BlockedLayout, batch: Int, packing values: [Float]? = nil, slack: Int = 0) {
        self.layout = layout
        self.batch = batch
        data = .allocate(capacity: batch * layout.count + slack)
        data.initialize(repeating: 0, count: batch * layout.count + slack)
        guard let values else { return }
        values.withUnsafeBufferPointer { v in
            for b in 0..<batch {
                layout.pack(v.baseAddress! + b * plane, into: data + b * layout.count, channels: 0..<layout.channels)
            }
        }
    }

    deinit { data.deallocate() }

    func unpacked() -> [Float] {
        var out = [Float](repeating: 0, count: batch * plane)
        out.withUnsafeMutableBufferPointer { o in
            for b in 0..<batch {
                layout.unpack(data + b * layout.count, into: o.baseAddress! + b * plane, channels: 0..<layout.channels)
            }
        }
        return out
    }
}

/// Checks a channel-blocked conv kernel against `convForwardNaive` at batches 1 and 3:
/// plain, then with a residual and ReLU, the work cut in `split` parts; and that the
/// output's border rows stay zero. `pack(weight)` packs `[Cout, Cin, k, k]` weights for
/// it; `run(batch, x, y, bias, residual, relu, parts)` runs it on blocked buffers.
func expectBlockedConvMatchesNaive(
    _ g: ConvGeometry, input: BlockedLayout, output: BlockedLayout, inputSlack: Int = 0, seed: UInt64, _ name: String,
    split: Int, pack: ([Float]) -> Void,
    run: (Int, UnsafePointer<Float>, UnsafeMutablePointer<Float>, [Float], UnsafePointer<Float>?, Bool, Int) -> Void
) {
    var rng = SeededGenerator(seed: seed)
    let (cin, cout) = (g.inChannels, g.outChannels)
    let weight = (0..<(cout * cin * g.kernelH * g.kernelW)).map { _ in rng.normal() }
    let bias = (0..<cout).map { _ in rng.normal() }
    pack(weight)
    let tolerance = 1e-5 * Float(cin * g.kernelH * g.kernelW).squareRoot()
    for batch in [1, 3] {
        let (inCount, outCount) = (cin * g.inPlane, cout * g.outPlane)
        let x = (0..<(batch * inCount)).map { _ in rng.normal() }
        let r = (0..<(batch * outCount)).map { _ in rng.normal() }
        var ref = [Float](repeating: 0, count: batch * outCount)
        ref.withUnsafeMutableBufferPointer { convForwardNaive(x, weight, bias, $0.baseAddress!, batch: batch, g) }
        let xb = BlockedBatch(input, batch: batch, packing: x, slack: inputSlack), yb = BlockedBatch(output, batch: batch)
        let rb = BlockedBatch(output, batch: batch, packing: r)
        let what = "\(name) \(cin)->\(cout) \(g.inHeight)x\(g.inWidth) k\(g.kernelH) s\(g.stride) p\(g.padding) n\(batch)"
        run(batch, xb.data, yb.data, bias, nil, false, 1)
        expectClose(yb.unpacked(), ref, tolerance: tolerance, what)
        run(batch, xb.data, yb.data, bias, rb.data, true, split)
        expectClose(yb.unpacked(), zip(ref, r).map { max($0 + $1, 0) }, tolerance: tolerance, what + " + residual, ReLU")
        for b in 0..<batch {
            let base = yb.data + b * output.count
            for i in [-1, g.outHeight] {
                #expect(base[output.offset(0, i, 0)] == 0 && base[output.offset(cout - 1, i, g.outWidth - 1)] == 0, "\(what): border rows stay zero")
            }
            #expect(base[output.offset(0, 0, g.outWidth)] == 0 && base[output.offset(cout - 1, g.outHeight - 1, -1)] == 0,
                    "\(what): border columns stay zero")
        }
    }
}
