import Foundation

/// The charts of `linesight stats --plot`, drawn on any `Canvas`.
public enum Chart: String, CaseIterable, Sendable {
    case pareto, trend, pchart
}

/// A plot area inside the canvas and the value ranges mapped onto it.
struct Frame {
    var left = 80.0, right: Double, top = 50.0, bottom: Double
    var yMax: Double
    var count: Int

    init(_ canvas: Canvas, yMax: Double, count: Int) {
        right = Double(canvas.width) - 95
        bottom = Double(canvas.height) - 70
        self.yMax = yMax > 0 ? yMax : 1
        self.count = max(1, count)
    }

    var slot: Double { (right - left) / Double(count) }
    func x(_ i: Int) -> Double { left + slot * (Double(i) + 0.5) }
    func y(_ v: Double) -> Double { bottom - (bottom - top) * min(v, yMax) / yMax }
}

/// Round tick steps (1, 2, 5 x 10^k) so that about `target` ticks cover 0...max.
func niceTicks(_ max: Double, target: Int = 5) -> [Double] {
    guard max > 0 else { return [0, 1] }
    let raw = max / Double(target)
    let magnitude = pow(10, (log10(raw)).rounded(.down))
    let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw }!
    return stride(from: 0, through: (max / step).rounded(.up) * step + step / 2, by: step).map { $0 }
}

extension Canvas {
    /// Title, y grid with labels, x labels (thinned to fit), axes.
    func axes(_ f: inout Frame, title: String, yLabel: String, xLabels: [String], format: (Double) -> String) {
        let ticks = niceTicks(f.yMax)
        f.yMax = ticks.last!
        text(title, x: Double(width) / 2, y: 28, size: 16, anchor: .middle, color: .black)
        for t in ticks {
            line(f.left, f.y(t), f.right, f.y(t), .grid)
            text(format(t), x: f.left - 8, y: f.y(t) + 4, size: 11, anchor: .end, color: .axis)
        }
        text(yLabel, x: 12, y: f.top - 14, size: 11, anchor: .start, color: .axis)
        let widest = Double(xLabels.map(\.count).max() ?? 1) * 7 + 10
        let every = max(1, Int((widest / f.slot).rounded(.up)))
        for (i, label) in xLabels.enumerated() where i % every == 0 {
            text(label, x: f.x(i), y: f.bottom + 20, size: 11, anchor: .middle, color: .axis)
        }
        line(f.left, f.bottom, f.right, f.bottom, .axis)
        line(f.left, f.top, f.left, f.bottom, .axis)
    }

    func legend(_ items: [(String, Color)], y: Double) {
        var x = 80.0
        for (name, c) in items {
            rect(x: x, y: y - 9, w: 12, h: 10, fill: c)
            text(name, x: x + 17, y: y, size: 11, anchor: .start, color: .black)
            x += 30 + Double(name.count) * 7
        }
    }
}

extension StatsReport {
    /// Draws `chart` from this report on `canvas`. Pareto needs defects; trend and p-chart
    /// need periods (group by hour, day, week or shift).
    public func draw(_ chart: Chart, on canvas: Canvas, defect: String? = nil) throws {
        switch chart {
        case .pareto: try drawPareto(canvas)
        case .trend: try drawTrend(canvas)
        case .pchart: try drawPChart(canvas, defect: defect)
        }
    }

    func requirePeriods() throws {
        guard [.hour, .day, .week, .shift].contains(grouping) else {
            throw ReportsError.nothingToPlot("trend and p-chart need periods: --by hour, day, week or shift")
        }
        guard !rows.isEmpty else { throw ReportsError.nothingToPlot("no verdicts in this range") }
    }

    func drawPareto(_ c: Canvas) throws {
        guard !pareto.isEmpty else { throw ReportsError.nothingToPlot("no defects in this range") }
        var f = Frame(c, yMax: Double(pareto[0].count), count: pareto.count)
        c.axes(&f, title: "Pareto of defects (\(total.parts) parts)", yLabel: "defects", xLabels: pareto.map(\.kind)) { String(Int($0)) }
        for (i, p) in pareto.enumerated() {
            let x = f.x(i), w = f.slot * 0.7
            c.rect(x: x - w / 2, y: f.y(Double(p.count)), w: w, h: f.bottom - f.y(Double(p.count)), fill: Color.series[0],
                   role: "bar", data: ["kind": p.kind, "count": String(p.count)])
            c.text(String(p.count), x: x, y: f.y(Double(p.count)) - 5, size: 11, anchor: .middle, color: .black)
        }
        // The cumulative share on its own axis, 0...100 % on the right.
        func yc(_ share: Double) -> Double { f.bottom - (f.bottom - f.top) * share }
        let points = pareto.enumerated().map { (f.x($0.offset), yc($0.element.cumulative)) }
        c.polyline(points, stroke: Color.series[1], width: 2, dashed: false, role: "cumulative")
        for (i, p) in points.enumerated() {
            c.circle(x: p.0, y: p.1, r: 3.5, fill: Color.series[1], role: "cumulative-point", data: ["share": String(format: "%.4f", pareto[i].cumulative)])
        }
        c.line(f.left, yc(0.8), f.right, yc(0.8), Color.series[1], width: 1, dashed: true, role: "eighty")
        for share in stride(from: 0.0, through: 1.0, by: 0.2) {
            c.text("\(Int(share * 100))%", x: f.right + 8, y: yc(share) + 4, size: 11, anchor: .start, color: Color.series[1])
        }
        c.line(f.right, f.top, f.right, f.bottom, .axis)
        c.legend([("defects", Color.series[0]), ("cumulative share", Color.series[1]), ("80%", Color.series[1])], y: Double(c.height) - 18)
    }

    func drawTrend(_ c: Canvas) throws {
        try requirePeriods()
        let shown = Array(kinds.prefix(5))
        let series: [(String, [Double])] = [("all fails", rows.map { $0.failRate ?? 0 })]
            + shown.map { k in (k, rows.map { $0.rate(k) ?? 0 }) }
        let top = series.flatMap(\.1).max() ?? 0
        var f = Frame(c, yMax: top * 100, count: rows.count)
        c.axes(&f, title: "Defect rate by \(grouping.rawValue)", yLabel: "% of parts", xLabels: rows.map(\.key)) { String(format: "%g%%", $0) }
        for (i, (name, values)) in series.enumerated() {
            let colour = Color.series[i % Color.series.count]
            let points = values.enumerated().map { (f.x($0.offset), f.y($0.element * 100)) }
            if points.count > 1 { c.polyline(points, stroke: colour, width: i == 0 ? 2.5 : 1.5, dashed: false, role: "series") }
            for (j, p) in points.enumerated() {
                c.circle(x: p.0, y: p.1, r: 2.5, fill: colour, role: "point", data: ["series": name, "rate": String(format: "%.6f", values[j])])
            }
        }
        c.legend(series.enumerated().map { ($0.element.0, Color.series[$0.offset % Color.series.count]) }, y: Double(c.height) - 18)
    }

    /// The p-chart of this report's periods: nonconforming = fails (or one defect kind).
    public func pChart(defect: String? = nil) -> PChart {
        PChart(rows.map { r in (label: r.key, n: r.parts, nonconforming: defect.map { r.defects[$0] ?? 0 } ?? r.fails) })
    }

    func drawPChart(_ c: Canvas, defect: String?) throws {
        try requirePeriods()
        let chart = pChart(defect: defect)
        guard !chart.points.isEmpty else { throw ReportsError.nothingToPlot("no parts in this range") }
        let top = max(chart.points.map(\.ucl).max()!, chart.points.map(\.p).max()!)
        var f = Frame(c, yMax: top * 100 * 1.1, count: chart.points.count)
        let what = defect.map { "'\($0)'" } ?? "fails"
        c.axes(&f, title: "p-chart of \(what) by \(grouping.rawValue) (3-sigma limits)", yLabel: "% nonconforming",
               xLabels: chart.points.map(\.label)) { String(format: "%g%%", $0) }
        // Limits per subgroup (they move with n): drawn as steps.
        func steps(_ v: (PChart.Point) -> Double) -> [(Double, Double)] {
            chart.points.enumerated().flatMap { i, p in [(f.x(i) - f.slot / 2, f.y(v(p) * 100)), (f.x(i) + f.slot / 2, f.y(v(p) * 100))] }
        }
        c.polyline(steps(\.ucl), stroke: .red, width: 1.5, dashed: true, role: "ucl")
        c.polyline(steps(\.lcl), stroke: .red, width: 1.5, dashed: true, role: "lcl")
        c.line(f.left, f.y(chart.center * 100), f.right, f.y(chart.center * 100), Color.series[2], width: 1.5, role: "center")
        let points = chart.points.enumerated().map { (f.x($0.offset), f.y($0.element.p * 100)) }
        if points.count > 1 { c.polyline(points, stroke: Color.series[0], width: 1.5, dashed: false, role: "series") }
        for (i, p) in chart.points.enumerated() {
            let r = min(p.outOfControl ? 5 : 3, max(p.outOfControl ? 2 : 1, f.slot / 2))
            c.circle(x: points[i].0, y: points[i].1, r: r, fill: p.outOfControl ? .red : Color.series[0],
                     role: p.outOfControl ? "point out-of-control" : "point",
                     data: ["p": String(format: "%.6f", p.p), "rules": p.rules.map(String.init).joined(separator: ",")])
        }
        c.text(String(format: "p-bar %.3f%%", chart.center * 100), x: f.right + 6, y: f.y(chart.center * 100) + 4, size: 11, anchor: .start, color: Color.series[2])
        let out = chart.points.filter(\.outOfControl).count
        c.legend([("p", Color.series[0]), ("centre", Color.series[2]), ("UCL/LCL", .red),
                  ("\(out) out of control (Western Electric rules)", .red)], y: Double(c.height) - 18)
    }
}
