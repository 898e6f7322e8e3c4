import CV4L2
import Foundation
import Imaging

/// libv4lconvert on one open camera: turns each frame of a format the pipeline does not read
/// (`CameraFormat.native == nil`) into packed RGB24. Created when the stream is negotiated,
/// with the device's descriptor (libv4lconvert asks the device what it offers); one per
/// connection, used from the capture thread alone.
final class V4L2Converter {
    private let data: OpaquePointer
    private var source = v4l2_format()
    private var target = v4l2_format()
    let width: Int
    let height: Int

    init(fd: Int32, path: String, format: CameraFormat, width: Int, height: Int, bytesPerLine: Int) throws {
        guard let d = cv4l2_convert_create(fd) else {
            throw CaptureError.unsupported(device: path, reason: "libv4lconvert cannot work with it (format \(format))")
        }
        data = d
        self.width = width
        self.height = height
        source = captureFormat(fourcc: format.fourcc, width: width, height: height, bytesPerLine: bytesPerLine,
                               sizeImage: format.frameBytes(width: width, height: height, bytesPerLine: bytesPerLine) ?? 0)
        target = captureFormat(fourcc: PixelFormat.rgb24.fourcc, width: width, height: height, bytesPerLine: width * 3,
                               sizeImage: width * 3 * height)
    }

    deinit { v4lconvert_destroy(data) }

    /// One frame as packed RGB24 (`width * 3` bytes a row), or nil when libv4lconvert
    /// refuses it (a short or damaged buffer), with its reason.
    func convert(_ bytes: UnsafeRawBufferPointer) -> (rgb: [UInt8]?, error: String?) {
        let size = width * height * 3
        var out = [UInt8](repeating: 0, count: size)
        let n = out.withUnsafeMutableBufferPointer { o in
            v4lconvert_convert(data, &source, &target, UnsafeMutablePointer(mutating: bytes.bindMemory(to: UInt8.self).baseAddress),
                               Int32(bytes.count), o.baseAddress, Int32(size))
        }
        guard n == size else { return (nil, String(cString: v4lconvert_get_error_message(data))) }
        return (out, nil)
    }
}
