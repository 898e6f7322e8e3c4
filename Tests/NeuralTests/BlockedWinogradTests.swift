import Testing
@testable import Neural

@Suite("Blocked Winograd F(2x2, 3x3)")
struct BlockedWinogradTests {
    @Test("== naive convolution, + residual, then ReLU, on odd sizes, channels, borders and batches", arguments: [
        (16, 16, 7, 9, 1), (32, 32, 28, 28, 1), (16, 48, 5, 3, 1), (20, 16, 6, 5, 1),   // a last input block of 4 channels
        (64, 128, 7, 7, 1), (16, 32, 1, 1, 1), (24, 16, 13, 2, 3), (16, 16, 2, 11, 2),
    ], FloatISA.available)
    func matchesNaive(_ c: (Int, Int, Int, Int, Int), isa: FloatISA) throws {
        let (cin, cout, h, w, border) = c
        let g = ConvGeometry(input: Shape(cin, h, w), outChannels: cout, kernel: 3, stride: 1, padding: 1)
        #expect(BlockedWinogradPlan.applies(to: g, inputBorder: border))
        let plan = BlockedWinogradPlan(g, inputBorder: border)
        let wp = UnsafeMutablePointer<Float>.allocate(capacity: plan.packedWeightCount)
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: plan.scratchCount)
        defer { wp.deallocate(); scratch.deallocate() }
        // the direct blocked conv's tolerance: the transforms add no measurable error here
        expectBlockedConvMatchesNaive(g, input: plan.input, output: plan.output, inputSlack: plan.inputSlack,
                                      seed: UInt64(cin * 7 + h * 3 + w + border), "winograd border \(border) \(isa)", split: 2,
                                      pack: { plan.packWeights($0, into: wp) }) { batch, x, y, bias, residual, relu, split in
            let tiles = plan.tiles(batch: batch)
            #expect(tiles.count == batch * ((h + 1) / 2) * ((w + 1) / 2))
            // tile groups in `split` parts, channel blocks one by one: any partition gives the same output
            for kb in 0..<plan.channelBlocks {
                for s in 0..<split {
                    let lo = tiles.groups * s / split, hi = tiles.groups * (s + 1) / split
                    plan.run(x, wp, bias: bias, relu: relu, y, residual: residual, tiles,
                             groups: lo..<hi, channelBlocks: kb..<(kb + 1), scratch: scratch, isa: isa)
                }
            }
        }
    }

    @Test("refuses what it cannot take: strides, other kernels and paddings, few channels, odd output widths")
    func applies() {
        func g(_ cin: Int, _ cout: Int, k: Int = 3, s: Int = 1, p: Int = 1) -> ConvGeometry {
            ConvGeometry(input: Shape(cin, 8, 8), outChannels: cout, kernel: k, stride: s, padding: p)
        }
        #expect(BlockedWinogradPlan.applies(to: g(16, 16)))
        #expect(!BlockedWinogradPlan.applies(to: g(16, 16, s: 2)))
        #expect(!BlockedWinogradPlan.applies(to: g(16, 16, k: 1, p: 0)))
        #expect(!BlockedWinogradPlan.applies(to: g(16, 16, p: 0)))
        #expect(!BlockedWinogradPlan.applies(to: g(3, 16)))
        #expect(!BlockedWinogradPlan.applies(to: g(16, 24)))
        #expect(!BlockedWinogradPlan.applies(to: g(16, 16), inputBorder: 0))
    }
}
