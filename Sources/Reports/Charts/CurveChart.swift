import Foundation

/// Curves on the unit square (both axes 0...1): ROC and precision-recall curves, and
/// reliability diagrams (predicted against observed, with the diagonal of a perfect
/// calibration). Points are drawn with role "point" and their values, so an SVG can be
/// checked against the data it shows.
public struct CurveChart: Sendable {
    public struct Series: Sendable {
        public var name: String
        public var points: [(x: Double, y: Double)]
        /// Draw each point as a dot too (few points, such as reliability bins).
        public var markers: Bool
        public init(name: String, points: [(x: Double, y: Double)], markers: Bool = false) {
            (self.name, self.points, self.markers) = (name, points, markers)
        }
    }

    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var series: [Series]
    /// The dashed line y = x (chance for ROC, perfect calibration for reliability).
    public var diagonal: Bool
    /// What the axes' 0 and 1 stand for, in the tick labels (nil: 0 and 1): a chart of other
    /// quantities, its points scaled to the unit square by the caller.
    public var xRange: (Double, Double)?
    public var yRange: (Double, Double)?

    public init(title: String, xLabel: String, yLabel: String, series: [Series], diagonal: Bool) {
        (self.title, self.xLabel, self.yLabel, self.series, self.diagonal) = (title, xLabel, yLabel, series, diagonal)
    }

    public func draw(on canvas: Canvas) {
        let left = 80.0, right = Double(canvas.width) - 40, top = 50.0, bottom = Double(canvas.height) - 70
        func x(_ v: Double) -> Double { left + (right - left) * min(1, max(0, v.isFinite ? v : 0)) }
        func y(_ v: Double) -> Double { bottom - (bottom - top) * min(1, max(0, v.isFinite ? v : 0)) }
        canvas.rect(x: 0, y: 0, w: Double(canvas.width), h: Double(canvas.height), fill: .white)
        canvas.text(title, x: Double(canvas.width) / 2, y: 28, size: 16, anchor: .middle, color: .black)
        for t in stride(from: 0.0, through: 1.0001, by: 0.2) {
            canvas.line(left, y(t), right, y(t), .grid)
            canvas.line(x(t), top, x(t), bottom, .grid)
            canvas.text(Self.tick(t, yRange), x: left - 8, y: y(t) + 4, size: 11, anchor: .end, color: .axis)
            canvas.text(Self.tick(t, xRange), x: x(t), y: bottom + 18, size: 11, anchor: .middle, color: .axis)
        }
        canvas.text(xLabel, x: (left + right) / 2, y: bottom + 40, size: 12, anchor: .middle, color: .axis)
        canvas.text(yLabel, x: 12, y: top - 14, size: 12, anchor: .start, color: .axis)
        canvas.line(left, bottom, right, bottom, .axis)
        canvas.line(left, top, left, bottom, .axis)
        if diagonal { canvas.line(x(0), y(0), x(1), y(1), .axis, dashed: true) }
        for (k, s) in series.enumerated() {
            let c = Color.series[k % Color.series.count]
            if s.points.count > 1 { canvas.polyline(s.points.map { (x($0.x), y($0.y)) }, stroke: c, width: 2, dashed: false, role: "curve") }
            if s.markers || s.points.count == 1 {
                for p in s.points {
                    canvas.circle(x: x(p.x), y: y(p.y), r: 4, fill: c, role: "point",
                                  data: ["x": String(format: "%.4f", p.x), "y": String(format: "%.4f", p.y)])
                }
            }
        }
        canvas.legend(series.enumerated().map { ($0.element.name, Color.series[$0.offset % Color.series.count]) }, y: Double(canvas.height) - 12)
    }

    /// The label of tick `t` (0...1) on an axis standing for `range`.
    static func tick(_ t: Double, _ range: (Double, Double)?) -> String {
        guard let (lo, hi) = range else { return String(format: "%.1f", t) }
        let v = lo + (hi - lo) * t
        return abs(hi - lo) >= 10 ? String(format: "%.0f", v) : String(format: "%.2f", v)
    }
}
