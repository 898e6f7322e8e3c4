/// `image` with a heat map laid over it, for a person to see where a model looked:
/// `values` (row-major, `mapWidth x mapHeight`, 0...1) stretched bilinearly over the whole
/// image and blended in from clear (0) through red to yellow (1), and `box` (in the image's
/// pixels) outlined in cyan. Non-finite values count as 0. The result is RGB.
public func heatOverlay(_ image: Image, values: [Float], mapWidth: Int, mapHeight: Int, box: Rect? = nil) -> Image {
    precondition(mapWidth > 0 && mapHeight > 0 && values.count == mapWidth * mapHeight, "map size does not match its values")
    let (w, h) = (image.width, image.height)
    var out = Image(width: w, height: h, layout: .rgb)
    let c = image.channels
    // the map's value at the image pixel's centre, cell centres at (i + 0.5) * w / mapWidth
    func sample(_ x: Int, _ y: Int) -> Float {
        let fx = max(0, min(Float(mapWidth - 1), (Float(x) + 0.5) * Float(mapWidth) / Float(w) - 0.5))
        let fy = max(0, min(Float(mapHeight - 1), (Float(y) + 0.5) * Float(mapHeight) / Float(h) - 0.5))
        let (x0, y0) = (Int(fx), Int(fy)), (x1, y1) = (min(Int(fx) + 1, mapWidth - 1), min(Int(fy) + 1, mapHeight - 1))
        let (ax, ay) = (fx - Float(x0), fy - Float(y0))
        func v(_ i: Int, _ j: Int) -> Float { let t = values[j * mapWidth + i]; return t.isFinite ? max(0, min(1, t)) : 0 }
        let top = v(x0, y0) * (1 - ax) + v(x1, y0) * ax, bottom = v(x0, y1) * (1 - ax) + v(x1, y1) * ax
        return top * (1 - ay) + bottom * ay
    }
    for y in 0..<h {
        for x in 0..<w {
            let p = (y * w + x) * c, q = (y * w + x) * 3
            let t = sample(x, y), alpha = 0.7 * t
            // red rising to full by the half, then green rising: red, orange, yellow
            let heat: (Float, Float, Float) = (255 * min(1, 0.4 + 1.2 * t), 255 * max(0, 2 * t - 1), 0)
            for k in 0..<3 {
                let src = Float(image.pixels[p + (c == 3 ? k : 0)])
                let colour = k == 0 ? heat.0 : k == 1 ? heat.1 : heat.2
                out.pixels[q + k] = UInt8(max(0, min(255, (src * (1 - alpha) + colour * alpha).rounded())))
            }
        }
    }
    if let box, box.width > 0, box.height > 0 {
        let x0 = max(0, box.x), y0 = max(0, box.y), x1 = min(w - 1, box.x + box.width - 1), y1 = min(h - 1, box.y + box.height - 1)
        func paint(_ x: Int, _ y: Int) { let q = (y * w + x) * 3; out.pixels[q] = 0; out.pixels[q + 1] = 255; out.pixels[q + 2] = 255 }
        if x0 <= x1 && y0 <= y1 {
            for x in x0...x1 { paint(x, y0); paint(x, y1) }
            for y in y0...y1 { paint(x0, y); paint(x1, y) }
        }
    }
    return out
}
