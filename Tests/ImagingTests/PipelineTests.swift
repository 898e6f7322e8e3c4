import Foundation
import TestSupport
import Testing
@testable import Imaging

@Suite("Resample, encode and preprocess")
struct PipelineTests {
    /// The naive twin: each output pixel as the exact area average of its source box
    /// (or the bilinear formula), in Double, straight from the definition.
    func naiveResize(_ s: Image, roi: Rect, width: Int, height: Int, area: Bool) -> [Double] {
        let sx = Double(roi.width) / Double(width), sy = Double(roi.height) / Double(height)
        var out = [Double](repeating: 0, count: width * height * s.channels)
        func value(_ x: Int, _ y: Int, _ c: Int) -> Double { Double(s[roi.x + x, roi.y + y, c]) }
        for oy in 0..<height {
            for ox in 0..<width {
                for c in 0..<s.channels {
                    var acc = 0.0
                    if area {
                        for y in 0..<roi.height {
                            let wy = max(0, min(Double(y + 1), Double(oy + 1) * sy) - max(Double(y), Double(oy) * sy))
                            if wy == 0 { continue }
                            for x in 0..<roi.width {
                                let wx = max(0, min(Double(x + 1), Double(ox + 1) * sx) - max(Double(x), Double(ox) * sx))
                                acc += wx * wy * value(x, y, c)
                            }
                        }
                        acc /= sx * sy
                    } else {
                        let fx = min(max((Double(ox) + 0.5) * sx - 0.5, 0), Double(roi.width - 1))
                        let fy = min(max((Double(oy) + 0.5) * sy - 0.5, 0), Double(roi.height - 1))
                        let x0 = Int(fx), y0 = Int(fy)
                        let x1 = min(x0 + 1, roi.width - 1), y1 = min(y0 + 1, roi.height - 1)
                        let ax = fx - Double(x0), ay = fy - Double(y0)
                        acc = (1 - ay) * ((1 - ax) * value(x0, y0, c) + ax * value(x1, y0, c))
                            + ay * ((1 - ax) * value(x0, y1, c) + ax * value(x1, y1, c))
                    }
                    out[(oy * width + ox) * s.channels + c] = acc
                }
            }
        }
        return out
    }

    @Test func resamplerMatchesNaiveTwinOnRandomGeometry() throws {
        var rng = SplitMix64(seed: 11)
        let resampler = Resampler()
        for trial in 0..<40 {
            let layout: PixelLayout = trial % 2 == 0 ? .gray : .rgb
            let w = 1 + Int(rng.uint64() % 90), h = 1 + Int(rng.uint64() % 70)
            let src = texture(width: w, height: h, layout: layout, seed: trial)
            let rw = 1 + Int(rng.uint64() % UInt64(w)), rh = 1 + Int(rng.uint64() % UInt64(h))
            let roi = Rect(x: Int(rng.uint64() % UInt64(w - rw + 1)), y: Int(rng.uint64() % UInt64(h - rh + 1)), width: rw, height: rh)
            let ow = 1 + Int(rng.uint64() % 60), oh = 1 + Int(rng.uint64() % 60)
            let area = ow <= rw && oh <= rh && trial % 3 != 0
            let expected = naiveResize(src, roi: roi, width: ow, height: oh, area: area)
            var got = [Float](repeating: 0, count: ow * oh * layout.channels)
            try got.withUnsafeMutableBufferPointer {
                try resampler.resizeNormalized(src, roi: roi, width: ow, height: oh, method: area ? .area : .bilinear,
                                               normalization: .unit(channels: layout.channels), into: $0.baseAddress!)
            }
            // `got` is planar (CHW) in 0...1; `expected` interleaved in 0...255.
            var worst = 0.0
            for c in 0..<layout.channels {
                for i in 0..<(ow * oh) {
                    worst = max(worst, abs(Double(got[c * ow * oh + i]) * 255 - expected[i * layout.channels + c]))
                }
            }
            #expect(worst < 1e-2, "trial \(trial): \(w)x\(h) roi \(roi) -> \(ow)x\(oh) area=\(area): off by \(worst)")
        }
    }

    @Test func encodeDecodeRoundTripKeepsThePicture() throws {
        let image = try JPEGDecoder().decode(try fixtureBytes("sample_rgb.jpg"), layout: .rgb)
        let encoder = try JPEGEncoder()
        for (layout, quality) in [(PixelLayout.rgb, 95), (.rgb, 60), (.gray, 90)] {
            let source = layout == .rgb ? image : try JPEGDecoder().decode(try fixtureBytes("sample_rgb.jpg"), layout: .gray)
            let bytes = try encoder.encode(source, quality: quality)
            #expect(bytes.prefix(2) == [0xFF, 0xD8] && bytes.suffix(2) == [0xFF, 0xD9])
            let back = try JPEGDecoder().decode(bytes, layout: layout)
            var squared = 0.0
            for (a, b) in zip(back.pixels, source.pixels) {
                let d = Double(Int(a) - Int(b))
                squared += d * d
            }
            let mse = squared / Double(source.pixels.count)
            let psnr = 10 * log10(255 * 255 / max(mse, 1e-9))
            #expect(psnr > (quality >= 90 ? 36 : 25), "\(layout) q\(quality): PSNR \(psnr)")
        }
        #expect(throws: ImagingError.self) { try encoder.encode(image, quality: 0) }
        #expect(throws: ImagingError.self) { try encoder.encode(Image(), quality: 80) }
    }

    @Test func preprocessorDecodesAtTheSmallestCoveringScale() throws {
        let jpeg = try fixtureBytes("sample_rgb.jpg")  // 97 x 61
        let decoder = try JPEGDecoder()
        let quarter24 = decoder.scale(atLeast: 24.0 / 97)
        #expect(quarter24.num * 4 == quarter24.denom)
        let near = decoder.scale(atLeast: 0.9)
        #expect(Double(near.num) / Double(near.denom) >= 0.9 && near.num <= near.denom)
        let none = decoder.scale(atLeast: 3)
        #expect(none.num == 1 && none.denom == 1)

        let norm = PixelNormalization(mean: [0.5, 0.4, 0.3], std: [0.2, 0.25, 0.3])
        let geometry = InputGeometry(width: 24, height: 15, layout: .rgb, method: .area, normalization: norm)
        let pre = try Preprocessor(geometry: geometry)
        let got = try jpeg.withUnsafeBytes { try pre.process(FrameView(bytes: $0, format: .mjpeg, width: 0, height: 0)) }

        // Same thing by hand: decode at 1/4, area-resize to 24x15, normalize.
        var quarter = Image()
        try jpeg.withUnsafeBytes { _ = try decoder.decode($0, layout: .rgb, scale: (1, 4), into: &quarter) }
        let small = try Resampler().resize(quarter, width: 24, height: 15, method: .area)
        var worst: Float = 0
        for c in 0..<3 {
            for i in 0..<(24 * 15) {
                let expected = (Float(small.pixels[i * 3 + c]) / 255 - norm.mean[c]) / norm.std[c]
                worst = max(worst, abs(got[c * 24 * 15 + i] - expected))
            }
        }
        #expect(worst <= 0.51 / 255 / 0.2 + 1e-5, "off by \(worst)")
    }

    @Test func preprocessorCropsRawFramesToTheROI() throws {
        let bytes = try fixtureBytes("frame_64x48.yuyv")
        let roi = Rect(x: 8, y: 6, width: 32, height: 32)
        let pre = try Preprocessor(geometry: InputGeometry(width: 16, height: 16, layout: .gray, roi: roi))
        let got = try bytes.withUnsafeBytes { try pre.process(FrameView(bytes: $0, format: .yuyv, width: 64, height: 48)) }
        // Gray from YUYV is the Y channel; a 2x area reduction averages 2x2 Y blocks.
        for (oy, ox) in [(0, 0), (5, 9), (15, 15)] {
            var sum = 0
            for dy in 0..<2 { for dx in 0..<2 { sum += Int(bytes[(roi.y + 2 * oy + dy) * 128 + 2 * (roi.x + 2 * ox + dx)]) } }
            #expect(abs(got[oy * 16 + ox] * 255 - Float(sum) / 4) < 1e-3)
        }
        #expect(throws: ImagingError.self) {
            try bytes.withUnsafeBytes { try pre.process(FrameView(bytes: $0, format: .yuyv, width: 32, height: 32)) }
        }
    }
}
