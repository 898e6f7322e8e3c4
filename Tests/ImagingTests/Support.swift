import Foundation
import Testing
@testable import Imaging

/// Bytes of a committed fixture (written by scripts/make_imaging_fixtures.py).
func fixtureBytes(_ file: String) throws -> [UInt8] {
    let name = (file as NSString).deletingPathExtension, ext = (file as NSString).pathExtension
    let url = try #require(Bundle.module.url(forResource: name, withExtension: ext, subdirectory: "Fixtures"))
    return [UInt8](try Data(contentsOf: url))
}

struct Manifest: Decodable {
    struct Item: Decodable { var width: Int; var height: Int; var channels: Int; var roi: [Int]? }
    var items: [String: Item]
}

/// An OpenCV reference image from the fixtures.
func reference(_ name: String) throws -> (image: Image, item: Manifest.Item) {
    let manifest = try JSONDecoder().decode(Manifest.self, from: Data(try fixtureBytes("manifest.json")))
    let item = try #require(manifest.items[name])
    let image = Image(width: item.width, height: item.height, layout: item.channels == 1 ? .gray : .rgb,
                      pixels: try fixtureBytes(name + ".raw"))
    return (image, item)
}

/// Largest absolute pixel difference (images must have the same geometry).
func maxDifference(_ a: Image, _ b: Image) -> Int {
    #expect(a.width == b.width && a.height == b.height && a.layout == b.layout)
    guard a.pixels.count == b.pixels.count else { return .max }
    return zip(a.pixels, b.pixels).map { abs(Int($0) - Int($1)) }.max() ?? 0
}

/// A deterministic test image with texture in every channel.
func texture(width: Int, height: Int, layout: PixelLayout, seed: Int = 1) -> Image {
    var image = Image(width: width, height: height, layout: layout)
    for y in 0..<height {
        for x in 0..<width {
            for c in 0..<layout.channels {
                image[x, y, c] = UInt8(truncatingIfNeeded: (x * 37 + y * 91 + c * 53 + seed * 17 + (x * y) % 29) & 0xFF)
            }
        }
    }
    return image
}
