import Foundation
import Imaging
import Testing
@testable import linesight

@Suite("Frames drawn in the terminal")
struct FrameRendererTests {
    func gradient(_ w: Int, _ h: Int) -> Image {
        var image = Image(width: w, height: h, layout: .rgb)
        for y in 0..<h { for x in 0..<w { image.pixels[(y * w + x) * 3] = UInt8(x * 255 / (w - 1)); image.pixels[(y * w + x) * 3 + 2] = UInt8(y * 255 / (h - 1)) } }
        return image
    }

    @Test func halfBlocksFitTheBoxAndKeepTheAspect() throws {
        let lines = try FrameRenderer.halfBlocks(gradient(64, 48), cols: 40, rows: 10)
        #expect(lines.count == 10)
        let cells = lines[0].components(separatedBy: "▀").count - 1
        #expect(cells == 26, "20 pixel rows for 10 cells, 4:3 -> 26 columns")
        func colours(_ line: String) -> [[Int]] {
            line.components(separatedBy: "\u{1B}[38;2;").dropFirst().map { $0.prefix { $0 != "m" }.split(separator: ";").map { Int($0)! } }
        }
        let top = colours(lines[0]), bottom = colours(lines[9])
        #expect(top.first![0] < 10 && top.last![0] > 245, "red grows left to right")
        #expect(top.first![2] < 10 && bottom.first![2] > 220, "blue grows top to bottom")
    }

    @Test func sixelHasOneBandPerSixRowsAndTheCubePalette() throws {
        let s = try FrameRenderer.sixel(gradient(64, 48), maxWidth: 32, maxHeight: 100)
        #expect(s.hasPrefix("\u{1B}Pq\"1;1;32;24") && s.hasSuffix("\u{1B}\\"))
        #expect(s.components(separatedBy: ";2;").count - 1 == 216)
        #expect(s.filter { $0 == "-" }.count == 4, "24 rows = 4 bands of 6")
        // Every colour run in a band covers the whole width.
        let body = s[s.range(of: "#215;2;100;100;100")!.upperBound...]
        for band in body.split(separator: "-").dropLast() {
            for run in band.split(separator: "$") {
                let data = run.drop { $0 == "#" || $0.isNumber }
                #expect(data.count == 32)
            }
        }
    }

    @Test func kittySendsAPNGInChunks() throws {
        let s = try FrameRenderer.kitty(gradient(300, 200), cols: 40, rows: 12)
        let chunks = s.components(separatedBy: "\u{1B}\\").filter { !$0.isEmpty }
        #expect(chunks[0].hasPrefix("\u{1B}_Ga=T,f=100,c=40,r=12,q=2,m="))
        #expect(chunks.last!.hasPrefix("\u{1B}_Gm=0;") || chunks.count == 1)
        let payload = chunks.map { String($0[$0.index(after: $0.firstIndex(of: ";")!)...]) }
        #expect(payload.allSatisfy { $0.count <= 4096 })
        let png = try #require(Data(base64Encoded: payload.joined()))
        #expect(png.prefix(8) == Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]))
    }
}
