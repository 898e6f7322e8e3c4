/// An RGB colour.
public struct Color: Equatable, Sendable {
    public var r: UInt8, g: UInt8, b: UInt8
    public init(_ r: UInt8, _ g: UInt8, _ b: UInt8) { (self.r, self.g, self.b) = (r, g, b) }
    public var hex: String { "#" + [r, g, b].map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined() }

    public static let black = Color(0, 0, 0)
    public static let white = Color(255, 255, 255)
    public static let grid = Color(225, 225, 225)
    public static let axis = Color(90, 90, 90)
    public static let red = Color(214, 39, 40)
    /// Series colours, distinct in print and for the common colour-vision deficiencies.
    public static let series = [Color(31, 119, 180), Color(255, 127, 14), Color(44, 160, 44), Color(148, 103, 189),
                                Color(140, 86, 75), Color(227, 119, 194), Color(127, 127, 127)]
}

public enum TextAnchor: String, Sendable { case start, middle, end }

/// What a chart draws on. One chart, two surfaces: SVG (vector, for reports) and a
/// pixel raster written as PNG. `role` names what a shape stands for ("bar", "point"),
/// so an SVG can be checked against the data it shows.
public protocol Canvas {
    var width: Int { get }
    var height: Int { get }
    func rect(x: Double, y: Double, w: Double, h: Double, fill: Color, role: String?, data: [String: String])
    func polyline(_ points: [(Double, Double)], stroke: Color, width: Double, dashed: Bool, role: String?)
    func circle(x: Double, y: Double, r: Double, fill: Color, role: String?, data: [String: String])
    func text(_ s: String, x: Double, y: Double, size: Double, anchor: TextAnchor, color: Color)
}

extension Canvas {
    func rect(x: Double, y: Double, w: Double, h: Double, fill: Color) { rect(x: x, y: y, w: w, h: h, fill: fill, role: nil, data: [:]) }
    func line(_ x0: Double, _ y0: Double, _ x1: Double, _ y1: Double, _ c: Color, width: Double = 1, dashed: Bool = false, role: String? = nil) {
        polyline([(x0, y0), (x1, y1)], stroke: c, width: width, dashed: dashed, role: role)
    }
    func text(_ s: String, x: Double, y: Double, size: Double = 12, anchor: TextAnchor = .start) {
        text(s, x: x, y: y, size: size, anchor: anchor, color: .black)
    }
}
