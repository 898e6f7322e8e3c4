import Foundation
import Imaging
import Testing
@testable import Capture

/// Formats the pipeline does not read as they come, from a camera (the fake device at the
/// ioctl boundary) through libv4lconvert to RGB24: each is a known picture encoded the way a
/// camera sends it, and the frames must show that picture.
@Suite("V4L2 formats through libv4lconvert")
struct V4L2ConvertTests {
    static let (w, h) = (64, 48)
    /// Four flat quadrants, so a demosaic or chroma subsampling is exact away from the edges.
    static let quadrants: [(r: Int, g: Int, b: Int)] = [(200, 30, 40), (20, 180, 60), (30, 40, 210), (230, 220, 200)]

    static func color(_ x: Int, _ y: Int) -> (r: Int, g: Int, b: Int) { quadrants[(y >= h / 2 ? 2 : 0) + (x >= w / 2 ? 1 : 0)] }

    static func clamp(_ v: Double) -> UInt8 { UInt8(max(0, min(255, v.rounded()))) }

    /// Full-range BT.601 (JPEG's), as cameras send YUV and libv4lconvert reads it.
    static func yuv(_ c: (r: Int, g: Int, b: Int)) -> (y: UInt8, u: UInt8, v: UInt8) {
        let (r, g, b) = (Double(c.r), Double(c.g), Double(c.b))
        return (clamp(0.299 * r + 0.587 * g + 0.114 * b), clamp(128 - 0.168736 * r - 0.331264 * g + 0.5 * b),
                clamp(128 + 0.5 * r - 0.418688 * g - 0.081312 * b))
    }

    /// The picture as `format` carries it.
    static func encode(_ format: CameraFormat) -> [UInt8] {
        var out: [UInt8] = []
        switch format {
        case .bgr24:
            for y in 0..<h { for x in 0..<w { let c = color(x, y); out += [UInt8(c.b), UInt8(c.g), UInt8(c.r)] } }
        case .uyvy, .yvyu:
            for y in 0..<h {
                for x in stride(from: 0, to: w, by: 2) {
                    let a = yuv(color(x, y)), b = yuv(color(x + 1, y))
                    out += format == .uyvy ? [a.u, a.y, a.v, b.y] : [a.y, a.v, b.y, a.u]
                }
            }
        case .rgb565:
            for y in 0..<h {
                for x in 0..<w {
                    let c = color(x, y), v = (c.r >> 3) << 11 | (c.g >> 2) << 5 | (c.b >> 3)
                    out += [UInt8(v & 0xFF), UInt8(v >> 8)]
                }
            }
        case .yuv420:
            for y in 0..<h { for x in 0..<w { out.append(yuv(color(x, y)).y) } }
            for y in stride(from: 0, to: h, by: 2) { for x in stride(from: 0, to: w, by: 2) { out.append(yuv(color(x, y)).u) } }
            for y in stride(from: 0, to: h, by: 2) { for x in stride(from: 0, to: w, by: 2) { out.append(yuv(color(x, y)).v) } }
        case .y16:
            for y in 0..<h { for x in 0..<w { let v = gray(x, y) * 257; out += [UInt8(v & 0xFF), UInt8(v >> 8)] } }
        case .bayerBGGR, .bayerGBRG, .bayerGRBG, .bayerRGGB:
            let order = Array(format == .bayerBGGR ? "BGGR" : format == .bayerGBRG ? "GBRG" : format == .bayerGRBG ? "GRBG" : "RGGB")
            for y in 0..<h {
                for x in 0..<w {
                    let c = color(x, y)
                    switch order[(y % 2) * 2 + x % 2] {
                    case "R": out.append(UInt8(c.r))
                    case "G": out.append(UInt8(c.g))
                    default: out.append(UInt8(c.b))
                    }
                }
            }
        default: preconditionFailure("\(format) is read as it comes")
        }
        return out
    }

    /// The mono picture of Y16: four gray levels.
    static func gray(_ x: Int, _ y: Int) -> Int { [40, 100, 170, 240][(y >= h / 2 ? 2 : 0) + (x >= w / 2 ? 1 : 0)] }

    /// Tolerances: exact for BGR24, the low bits RGB565 drops, one level for Y16's high byte,
    /// two for the Bayer demosaic; for YUV, libv4lconvert scales chroma by about 255/224 (as
    /// for studio-range chroma) where the picture was encoded full range: up to 21 levels on
    /// these saturated colours, far below what a swapped U and V or a misplaced Y would do.
    @Test("each format arrives as RGB24 showing the picture the camera sent", arguments: [
        (CameraFormat.bgr24, 0), (.uyvy, 24), (.yvyu, 24), (.rgb565, 7), (.yuv420, 24), (.y16, 1),
        (.bayerBGGR, 2), (.bayerGBRG, 2), (.bayerGRBG, 2), (.bayerRGGB, 2),
    ])
    func converts(_ format: CameraFormat, _ tolerance: Int) throws {
        #expect(format.native == nil)
        let fake = FakeCamera(formats: [format], raw: Self.encode(format))
        let camera = try V4L2Camera(fakeConfig(fake) { $0.formats = [.mjpeg, .yuyv, format] })
        let frames = try collect(camera, count: 3)
        camera.close()
        #expect(frames.count == 3 && camera.counters.corrupt == 0)
        #expect(camera.stream?.cameraFormat == format && camera.stream?.format == .rgb24 && camera.stream?.converted == true)
        let f = try #require(frames.last)
        #expect(f.format == .rgb24 && f.width == Self.w && f.height == Self.h && f.bytesPerLine == Self.w * 3 && f.bytes.count == Self.w * Self.h * 3)
        // every pixel two or more away from a quadrant's edge
        var worst = 0
        for y in 2..<(Self.h - 2) where abs(y - Self.h / 2) > 2 {
            for x in 2..<(Self.w - 2) where abs(x - Self.w / 2) > 2 {
                let want: (r: Int, g: Int, b: Int) = format == .y16 ? (Self.gray(x, y), Self.gray(x, y), Self.gray(x, y)) : Self.color(x, y)
                let i = y * f.bytesPerLine + x * 3
                worst = max(worst, abs(Int(f.bytes[i]) - want.r), abs(Int(f.bytes[i + 1]) - want.g), abs(Int(f.bytes[i + 2]) - want.b))
            }
        }
        #expect(worst <= tolerance, "\(format): off by up to \(worst)")
    }

    @Test("a format the pipeline reads stays raw: no conversion, no copy beyond the frame's")
    func nativeStaysRaw() throws {
        let fake = FakeCamera(formats: [.bgr24, .yuyv])
        let camera = try V4L2Camera(fakeConfig(fake) { $0.formats = [.yuyv, .bgr24] })
        let frames = try collect(camera, count: 2)
        camera.close()
        #expect(frames.count == 2 && camera.stream?.cameraFormat == .yuyv && camera.stream?.converted == false && frames[0].format == .yuyv)
    }

    @Test("format names as configs give them")
    func names() {
        #expect(CameraFormat(name: "Y16") == .y16 && CameraFormat(name: "y16 ") == .y16 && CameraFormat(name: "ba81") == .bayerBGGR)
        #expect(CameraFormat(name: "Y1") == nil && CameraFormat(name: "MJPEG") == nil && CameraFormat(name: "") == nil)
        #expect(CameraFormat.y16.description == "Y16" && CameraFormat(fourcc: CameraFormat.y16.fourcc) == .y16)
        #expect(CameraFormat.allCases.filter { $0.native != nil }.count == PixelFormat.allCases.count)
    }
}
