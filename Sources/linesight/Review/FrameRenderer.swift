import Foundation
import Imaging
import Reports

/// How frames are drawn in the terminal.
enum Graphics: String, CaseIterable {
    /// Truecolor upper-half blocks: two pixels per cell, works in every modern terminal and over SSH.
    case halfblock
    /// DEC sixel images (xterm -ti vt340, mlterm, foot, WezTerm, recent Windows Terminal).
    case sixel
    /// The kitty graphics protocol (kitty, WezTerm, Ghostty).
    case kitty
}

/// Turns a decoded frame into what the terminal draws in a box of cells.
enum FrameRenderer {
    /// The largest size with the frame's aspect that fits `w` x `h` pixels.
    static func fit(_ image: Image, _ w: Int, _ h: Int) -> (Int, Int) {
        let s = min(Double(w) / Double(image.width), Double(h) / Double(image.height))
        return (max(1, Int(Double(image.width) * s)), max(1, Int(Double(image.height) * s)))
    }

    static func rgb(_ image: Image) -> Image {
        guard image.layout == .gray else { return image }
        var out = Image(width: image.width, height: image.height, layout: .rgb)
        for i in 0..<(image.width * image.height) {
            let v = image.pixels[i]
            out.pixels[3 * i] = v
            out.pixels[3 * i + 1] = v
            out.pixels[3 * i + 2] = v
        }
        return out
    }

    /// One string per cell row, each `cols` wide or less: the upper half of a cell is one
    /// pixel (foreground), the lower half the next row's (background).
    static func halfBlocks(_ image: Image, cols: Int, rows: Int) throws -> [String] {
        let (w, h) = fit(image, cols, rows * 2)
        let small = rgb(try Resampler().resize(image, width: w, height: h + h % 2))
        var lines: [String] = []
        for y in stride(from: 0, to: small.height, by: 2) {
            var line = ""
            for x in 0..<w {
                let t = (y * w + x) * 3, b = ((y + 1) * w + x) * 3
                let p = small.pixels
                line += "\u{1B}[38;2;\(p[t]);\(p[t + 1]);\(p[t + 2])m\u{1B}[48;2;\(p[b]);\(p[b + 1]);\(p[b + 2])m▀"
            }
            lines.append(line + "\u{1B}[0m")
        }
        return lines
    }

    /// A sixel image of at most `w` x `h` pixels, in a 6x6x6 colour cube.
    static func sixel(_ image: Image, maxWidth: Int, maxHeight: Int) throws -> String {
        let (w, h) = fit(image, maxWidth, maxHeight)
        let small = rgb(try Resampler().resize(image, width: w, height: h))
        func level(_ v: UInt8) -> Int { (Int(v) * 5 + 127) / 255 }
        var index = [Int](repeating: 0, count: w * h)
        for i in 0..<(w * h) {
            index[i] = level(small.pixels[3 * i]) * 36 + level(small.pixels[3 * i + 1]) * 6 + level(small.pixels[3 * i + 2])
        }
        var s = "\u{1B}Pq\"1;1;\(w);\(h)"
        for c in 0..<216 { s += "#\(c);2;\(c / 36 * 20);\(c / 6 % 6 * 20);\(c % 6 * 20)" }
        for band in stride(from: 0, to: h, by: 6) {
            var used = Set<Int>()
            for y in band..<min(h, band + 6) { for x in 0..<w { used.insert(index[y * w + x]) } }
            for c in used.sorted() {
                s += "#\(c)"
                for x in 0..<w {
                    var bits = 0
                    for dy in 0..<6 where band + dy < h && index[(band + dy) * w + x] == c { bits |= 1 << dy }
                    s.append(Character(Unicode.Scalar(UInt8(63 + bits))))
                }
                s += "$"
            }
            s += "-"
        }
        return s + "\u{1B}\\"
    }

    /// The kitty graphics protocol: the frame as PNG, scaled by the terminal into `cols` x `rows` cells.
    static func kitty(_ image: Image, cols: Int, rows: Int) throws -> String {
        let (w, h) = fit(image, min(image.width, 1024), min(image.height, 1024))
        let small = rgb(try Resampler().resize(image, width: w, height: h))
        let payload = encodePNG(rgb: small.pixels, width: w, height: h).base64EncodedString()
        var s = ""
        var at = payload.startIndex
        var first = true
        while at < payload.endIndex {
            let end = payload.index(at, offsetBy: 4096, limitedBy: payload.endIndex) ?? payload.endIndex
            let more = end < payload.endIndex ? 1 : 0
            s += first ? "\u{1B}_Ga=T,f=100,c=\(cols),r=\(rows),q=2,m=\(more);" : "\u{1B}_Gm=\(more);"
            s += payload[at..<end] + "\u{1B}\\"
            first = false
            at = end
        }
        return s
    }
}
