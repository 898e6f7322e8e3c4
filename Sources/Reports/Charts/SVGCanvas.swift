import Foundation

/// Draws into an SVG document (`document` when done).
public final class SVGCanvas: Canvas {
    public let width: Int
    public let height: Int
    private var body: [String] = []

    public init(width: Int, height: Int) {
        self.width = width
        self.height = height
    }

    static func n(_ x: Double) -> String { String(format: "%.2f", x) }
    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
    static func attributes(_ role: String?, _ data: [String: String]) -> String {
        (role.map { " class=\"\(escape($0))\"" } ?? "") + data.sorted { $0.key < $1.key }.map { " data-\($0.key)=\"\(escape($0.value))\"" }.joined()
    }

    public func rect(x: Double, y: Double, w: Double, h: Double, fill: Color, role: String?, data: [String: String]) {
        body.append("<rect x=\"\(Self.n(x))\" y=\"\(Self.n(y))\" width=\"\(Self.n(w))\" height=\"\(Self.n(h))\" fill=\"\(fill.hex)\"\(Self.attributes(role, data))/>")
    }

    public func polyline(_ points: [(Double, Double)], stroke: Color, width: Double, dashed: Bool, role: String?) {
        let pts = points.map { "\(Self.n($0.0)),\(Self.n($0.1))" }.joined(separator: " ")
        body.append("<polyline points=\"\(pts)\" fill=\"none\" stroke=\"\(stroke.hex)\" stroke-width=\"\(Self.n(width))\""
                    + (dashed ? " stroke-dasharray=\"6 4\"" : "") + "\(Self.attributes(role, [:]))/>")
    }

    public func circle(x: Double, y: Double, r: Double, fill: Color, role: String?, data: [String: String]) {
        body.append("<circle cx=\"\(Self.n(x))\" cy=\"\(Self.n(y))\" r=\"\(Self.n(r))\" fill=\"\(fill.hex)\"\(Self.attributes(role, data))/>")
    }

    public func text(_ s: String, x: Double, y: Double, size: Double, anchor: TextAnchor, color: Color) {
        body.append("<text x=\"\(Self.n(x))\" y=\"\(Self.n(y))\" font-size=\"\(Self.n(size))\" text-anchor=\"\(anchor.rawValue)\" fill=\"\(color.hex)\">\(Self.escape(s))</text>")
    }

    public var document: String {
        """
        <?xml version="1.0" encoding="UTF-8"?>
        <svg xmlns="http://www.w3.org/2000/svg" width="\(width)" height="\(height)" viewBox="0 0 \(width) \(height)" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">
        <rect x="0" y="0" width="\(width)" height="\(height)" fill="#ffffff"/>
        \(body.joined(separator: "\n"))
        </svg>

        """
    }
}
