import Testing
@testable import Imaging

/// Decode, resize and conversion against OpenCV on committed sample images.
/// Tolerance: 1 grey level for decode and resize (OpenCV's fixed-point rounding vs
/// our float filters), 2 for YUV (its 20-bit coefficients vs our 8-bit ones).
@Suite("Imaging golden (OpenCV)")
struct GoldenTests {
    let jpeg: [UInt8]
    let decoder: JPEGDecoder

    init() throws {
        jpeg = try fixtureBytes("sample_rgb.jpg")
        decoder = try JPEGDecoder()
    }

    @Test func decodeMatchesOpenCV() throws {
        let rgb = try decoder.decode(jpeg, layout: .rgb)
        #expect(maxDifference(rgb, try reference("decode_rgb").image) <= 1)
        let gray = try decoder.decode(jpeg, layout: .gray)
        #expect(maxDifference(gray, try reference("decode_gray").image) <= 1)
    }

    @Test func scaledDecodeMatchesOpenCVReducedDecode() throws {
        var half = Image()
        try jpeg.withUnsafeBytes { _ = try decoder.decode($0, layout: .rgb, scale: (1, 2), into: &half) }
        #expect(half.width == 49 && half.height == 31)
        #expect(maxDifference(half, try reference("decode_rgb_half").image) <= 1)
    }

    @Test(arguments: ["area_40x25", "area_32x32", "area_roi_20x12", "bilinear_150x90", "bilinear_50x30"])
    func resizeMatchesOpenCV(name: String) throws {
        let source = try reference("decode_rgb").image
        let (expected, item) = try reference(name)
        let roi = item.roi.map { Rect(x: $0[0], y: $0[1], width: $0[2], height: $0[3]) }
        let method: ResizeMethod = name.hasPrefix("area") ? .area : .bilinear
        let out = try Resampler().resize(source, roi: roi, width: item.width, height: item.height, method: method)
        #expect(maxDifference(out, expected) <= 1, "\(name)")
    }

    @Test(arguments: [("frame_64x48.yuyv", PixelFormat.yuyv, "yuyv_rgb"), ("frame_64x48.nv12", .nv12, "nv12_rgb")])
    func yuvMatchesOpenCV(file: String, format: PixelFormat, name: String) throws {
        let bytes = try fixtureBytes(file)
        var out = Image()
        try bytes.withUnsafeBytes {
            try convert(FrameView(bytes: $0, format: format, width: 64, height: 48),
                        roi: Rect(x: 0, y: 0, width: 64, height: 48), to: .rgb, into: &out)
        }
        #expect(maxDifference(out, try reference(name).image) <= 2)
    }

    @Test func rgbToGrayMatchesOpenCV() throws {
        let bytes = try fixtureBytes("frame_64x48.rgb24")
        var out = Image()
        try bytes.withUnsafeBytes {
            try convert(FrameView(bytes: $0, format: .rgb24, width: 64, height: 48),
                        roi: Rect(x: 0, y: 0, width: 64, height: 48), to: .gray, into: &out)
        }
        #expect(maxDifference(out, try reference("rgb24_gray").image) <= 1)
    }
}
