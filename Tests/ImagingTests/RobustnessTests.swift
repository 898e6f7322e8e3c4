import TestSupport
import Testing
@testable import Imaging

/// Bad bytes are typed errors: never a crash, an exit or a half-gray image.
@Suite("JPEG robustness")
struct RobustnessTests {
    let jpeg: [UInt8]
    let decoder: JPEGDecoder

    init() throws {
        jpeg = try fixtureBytes("sample_rgb.jpg")
        decoder = try JPEGDecoder()
    }

    /// Offset of the SOF0 marker's height field.
    func sofSizeOffset() throws -> Int {
        let i = try #require((0..<(jpeg.count - 1)).first { jpeg[$0] == 0xFF && jpeg[$0 + 1] == 0xC0 })
        return i + 5
    }

    @Test func emptyInputIsRefused() {
        #expect(throws: ImagingError.empty) { try decoder.decode([], layout: .rgb) }
    }

    @Test func everyTruncationIsAnError() {
        var decodedAnyway: [Int] = []
        for length in 1..<jpeg.count {
            if (try? decoder.decode(Array(jpeg[0..<length]), layout: .gray)) != nil { decodedAnyway.append(length) }
        }
        #expect(decodedAnyway.isEmpty, "prefixes that decoded without error: \(decodedAnyway.prefix(10))")
    }

    @Test func hugeDimensionsAreRefusedBeforeAllocating() throws {
        var bad = jpeg
        let at = try sofSizeOffset()
        bad[at] = 0xEA; bad[at + 1] = 0x60; bad[at + 2] = 0xEA; bad[at + 3] = 0x60  // 60000 x 60000
        #expect(throws: ImagingError.tooLarge(width: 60000, height: 60000, limit: 50_000_000)) {
            try decoder.decode(bad, layout: .rgb)
        }
    }

    @Test func zeroDimensionsAreRefused() throws {
        var bad = jpeg
        let at = try sofSizeOffset()
        bad[at + 2] = 0; bad[at + 3] = 0
        #expect(throws: ImagingError.self) { try decoder.decode(bad, layout: .rgb) }
    }

    @Test func notAJPEGIsRefused() {
        let text = Array("this is not an image, it is a log line".utf8)
        #expect(throws: ImagingError.self) { try decoder.decode(text, layout: .rgb) }
    }

    /// Random byte damage must never crash; whatever decodes has the header's size.
    @Test func damagedBytesNeverCrash() {
        var rng = SplitMix64(seed: 7)
        var errors = 0
        for _ in 0..<400 {
            var bad = jpeg
            for _ in 0..<(1 + Int(rng.uint64() % 8)) {
                bad[2 + Int(rng.uint64() % UInt64(bad.count - 2))] = UInt8(truncatingIfNeeded: rng.uint64())
            }
            do {
                let image = try decoder.decode(bad, layout: .rgb)
                #expect(image.pixels.count == image.width * image.height * 3)
            } catch is ImagingError {
                errors += 1
            } catch {
                Issue.record("unexpected error type \(error)")
            }
        }
        #expect(errors > 0, "damage should be detected at least sometimes")
    }

    @Test func shortAndMisdescribedRawFramesAreRefused() {
        let bytes = [UInt8](repeating: 0, count: 100)
        var out = Image()
        bytes.withUnsafeBytes { raw in
            #expect(throws: ImagingError.shortFrame(format: .yuyv, expected: 128 * 4, got: 100)) {
                try convert(FrameView(bytes: raw, format: .yuyv, width: 64, height: 4), roi: Rect(x: 0, y: 0, width: 64, height: 4), to: .gray, into: &out)
            }
            #expect(throws: ImagingError.self) {
                try convert(FrameView(bytes: raw, format: .grey, width: 10, height: 10, bytesPerLine: 5),
                            roi: Rect(x: 0, y: 0, width: 10, height: 10), to: .gray, into: &out)
            }
            #expect(throws: ImagingError.self) {
                try convert(FrameView(bytes: raw, format: .grey, width: 10, height: 10),
                            roi: Rect(x: 5, y: 5, width: 6, height: 2), to: .gray, into: &out)
            }
        }
    }
}

