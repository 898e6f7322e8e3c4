// libFuzzer target: arbitrary bytes through the frame -> model-input path.
// Built by scripts/fuzz.sh together with Sources/Imaging (one module, ASan + libFuzzer).
// Every input must end in a result or an ImagingError: no crash, no exit, no leak.

private let gray = try! Preprocessor(geometry: InputGeometry(width: 32, height: 24, layout: .gray), pixelLimit: 4_000_000)
private let rgb = try! Preprocessor(geometry: InputGeometry(width: 17, height: 13, layout: .rgb,
                                                            roi: Rect(x: 3, y: 2, width: 40, height: 30)),
                                    pixelLimit: 4_000_000)
private var output = [Float](repeating: 0, count: 32 * 24 * 3)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    output.withUnsafeMutableBufferPointer { out in
        // As an MJPEG frame.
        _ = try? gray.process(FrameView(bytes: bytes, format: .mjpeg, width: 0, height: 0), into: out.baseAddress!)
        _ = try? rgb.process(FrameView(bytes: bytes, format: .mjpeg, width: 0, height: 0), into: out.baseAddress!)
        // As raw frames whose geometry comes from the first bytes.
        if size >= 4 {
            let w = Int(bytes[0] % 64) + 1, h = Int(bytes[1] % 48) + 1
            let format = PixelFormat.allCases[Int(bytes[2]) % PixelFormat.allCases.count]
            let body = UnsafeRawBufferPointer(rebasing: bytes[4...])
            _ = try? gray.process(FrameView(bytes: body, format: format, width: w, height: h), into: out.baseAddress!)
            _ = try? rgb.process(FrameView(bytes: body, format: format, width: w, height: h,
                                           bytesPerLine: Int(bytes[3])), into: out.baseAddress!)
        }
    }
    return 0
}
