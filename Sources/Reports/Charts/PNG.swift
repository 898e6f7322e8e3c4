import CZlib
import Foundation

/// Writes 8-bit RGB pixels as a PNG file (IHDR, one zlib IDAT, IEND; filter 0 on each row).
enum PNG {
    static func encode(rgb: [UInt8], width: Int, height: Int) -> Data {
        var raw = [UInt8]()
        raw.reserveCapacity((width * 3 + 1) * height)
        for y in 0..<height {
            raw.append(0)
            raw.append(contentsOf: rgb[(y * width * 3)..<((y + 1) * width * 3)])
        }
        var bound = compressBound(uLong(raw.count))
        var packed = [UInt8](repeating: 0, count: Int(bound))
        let status = packed.withUnsafeMutableBufferPointer { out in
            raw.withUnsafeBufferPointer { compress2(out.baseAddress, &bound, $0.baseAddress, uLong(raw.count), 9) }
        }
        precondition(status == Z_OK, "zlib compress2 failed: \(status)")
        packed.removeSubrange(Int(bound)...)

        var png = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        var header = Data()
        header.append(bigEndian: UInt32(width))
        header.append(bigEndian: UInt32(height))
        header.append(contentsOf: [8, 2, 0, 0, 0])  // 8 bits, RGB, deflate, filter 0, no interlace
        chunk("IHDR", header, into: &png)
        chunk("IDAT", Data(packed), into: &png)
        chunk("IEND", Data(), into: &png)
        return png
    }

    static func chunk(_ type: String, _ body: Data, into png: inout Data) {
        png.append(bigEndian: UInt32(body.count))
        let typed = Data(type.utf8) + body
        png.append(typed)
        let crc = typed.withUnsafeBytes { crc32(0, $0.bindMemory(to: Bytef.self).baseAddress, uInt(typed.count)) }
        png.append(bigEndian: UInt32(crc))
    }
}

extension Data {
    mutating func append(bigEndian v: UInt32) { Swift.withUnsafeBytes(of: v.bigEndian) { append(contentsOf: $0) } }
}

/// 8-bit RGB pixels, row by row, as the bytes of a PNG file.
public func encodePNG(rgb: [UInt8], width: Int, height: Int) -> Data { PNG.encode(rgb: rgb, width: width, height: height) }
