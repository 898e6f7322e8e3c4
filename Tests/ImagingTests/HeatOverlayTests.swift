import Imaging
import Testing

@Suite("Heat overlay")
struct HeatOverlayTests {
    @Test("a zero map leaves the picture as it was (gray made RGB); a hot cell turns its pixels red to yellow; the box is outlined; NaN counts as 0")
    func blending() {
        let gray = Image(width: 8, height: 4, layout: .gray, pixels: (0..<32).map { UInt8($0 * 7) })
        let cold = heatOverlay(gray, values: [0, 0, .nan, 0], mapWidth: 2, mapHeight: 2)
        #expect(cold.layout == .rgb && cold.width == 8 && cold.height == 4)
        #expect((0..<32).allSatisfy { i in (0..<3).allSatisfy { cold.pixels[i * 3 + $0] == gray.pixels[i] } })
        // the right half hot: its far right column is full strength, the left column untouched
        let hot = heatOverlay(gray, values: [0, 1, 0, 1], mapWidth: 2, mapHeight: 2)
        for y in 0..<4 {
            let left = (y * 8) * 3, right = (y * 8 + 7) * 3, source = Int(gray.pixels[y * 8 + 7])
            #expect(hot.pixels[left] == gray.pixels[y * 8] && hot.pixels[left + 2] == gray.pixels[y * 8])
            // 70 % of yellow (255, 255, 0) over the source
            #expect(abs(Int(hot.pixels[right]) - Int((Double(source) * 0.3 + 255 * 0.7).rounded())) <= 1)
            #expect(abs(Int(hot.pixels[right + 1]) - Int((Double(source) * 0.3 + 255 * 0.7).rounded())) <= 1)
            #expect(abs(Int(hot.pixels[right + 2]) - Int((Double(source) * 0.3).rounded())) <= 1)
        }
        let boxed = heatOverlay(gray, values: [0], mapWidth: 1, mapHeight: 1, box: Rect(x: 2, y: 1, width: 3, height: 2))
        let cyan: [UInt8] = [0, 255, 255]
        for (x, y, edge) in [(2, 1, true), (4, 2, true), (3, 1, true), (1, 1, false), (5, 2, false), (3, 3, false)] {
            let p = Array(boxed.pixels[((y * 8 + x) * 3)..<((y * 8 + x) * 3 + 3)])
            #expect((p == cyan) == edge, "(\(x), \(y)) \(p)")
        }
        // a box reaching past the picture is clipped, not a crash
        _ = heatOverlay(gray, values: [1], mapWidth: 1, mapHeight: 1, box: Rect(x: 6, y: 2, width: 50, height: 50))
    }
}
