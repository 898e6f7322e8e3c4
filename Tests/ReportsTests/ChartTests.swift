import CZlib
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
@testable import Reports

@Suite("Charts")
struct ChartTests {
    func report(_ by: Grouping = .day) -> StatsReport { StatsReport(rollups: seededRollups(), by: by, schedule: .standard(timeZone: utc)) }

    /// The rects (or circles) of an SVG with a class, as attribute dictionaries.
    func shapes(_ svg: String, _ tag: String, role: String) -> [[String: String]] {
        let re = try! NSRegularExpression(pattern: "<\(tag) ([^>]*)/>")
        let attr = try! NSRegularExpression(pattern: #"([\w-]+)="([^"]*)""#)
        return re.matches(in: svg, range: NSRange(svg.startIndex..., in: svg)).compactMap { m in
            let body = String(svg[Range(m.range(at: 1), in: svg)!])
            var d: [String: String] = [:]
            for a in attr.matches(in: body, range: NSRange(body.startIndex..., in: body)) {
                d[String(body[Range(a.range(at: 1), in: body)!])] = String(body[Range(a.range(at: 2), in: body)!])
            }
            return d["class"] == role ? d : nil
        }
    }

    @Test func paretoBarsMatchTheCounts() throws {
        let r = report()
        let svg = SVGCanvas(width: 800, height: 480)
        try r.draw(.pareto, on: svg)
        let doc = svg.document
        #expect(XMLParser(data: Data(doc.utf8)).parse(), "the SVG is well-formed XML")
        let bars = shapes(doc, "rect", role: "bar")
        #expect(bars.map { $0["data-kind"]! } == r.pareto.map(\.kind))
        let heights = bars.map { Double($0["height"]!)! }
        #expect(heights == heights.sorted(by: >), "Pareto bars descend")
        for (bar, p) in zip(heights, r.pareto) {
            #expect(abs(bar / heights[0] - Double(p.count) / Double(r.pareto[0].count)) < 0.002)
        }
        let cumulative = shapes(doc, "circle", role: "cumulative-point").map { Double($0["data-share"]!)! }
        #expect(abs(cumulative.last! - 1) < 1e-9)
    }

    @Test func pChartMarksTheBadAfternoon() throws {
        let r = StatsReport(rollups: seededRollups().filter { $0.camera == "cam2" }, by: .hour, schedule: .standard(timeZone: utc))
        let svg = SVGCanvas(width: 1000, height: 480)
        try r.draw(.pchart, on: svg)
        let out = shapes(svg.document, "circle", role: "point out-of-control")
        let inControl = shapes(svg.document, "circle", role: "point")
        #expect(out.count + inControl.count == r.rows.count)
        let chart = r.pChart()
        let flagged = chart.points.filter(\.outOfControl).map(\.label)
        #expect(flagged.contains("2026-11-05 12:00") && flagged.contains("2026-11-05 16:00"))
        #expect(out.count == flagged.count)
        #expect(throws: ReportsError.self) { try report(.camera).draw(.pchart, on: SVGCanvas(width: 800, height: 480)) }
    }

    @Test func trendHasOnePointPerPeriodAndSeries() throws {
        let r = report()
        let svg = SVGCanvas(width: 800, height: 480)
        try r.draw(.trend, on: svg)
        let points = shapes(svg.document, "circle", role: "point")
        #expect(points.count == r.rows.count * 4, "all fails and three kinds")
        let fails = points.filter { $0["data-series"] == "all fails" }.map { Double($0["data-rate"]!)! }
        #expect(zip(fails, r.rows).allSatisfy { abs($0 - $1.failRate!) < 1e-6 })
    }

    @Test func thePNGIsAValidImageOfTheChart() throws {
        let r = report()
        let canvas = RasterCanvas(width: 640, height: 400)
        try r.draw(.pareto, on: canvas)
        let png = [UInt8](canvas.png)
        #expect(png.prefix(8) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        func be32(_ i: Int) -> Int { Int(png[i]) << 24 | Int(png[i + 1]) << 16 | Int(png[i + 2]) << 8 | Int(png[i + 3]) }
        #expect(be32(16) == 640 && be32(20) == 400)
        // Inflate IDAT and compare with the canvas pixels.
        var at = 8, idat: [UInt8] = []
        while at < png.count {
            let len = be32(at), type = String(decoding: png[(at + 4)..<(at + 8)], as: UTF8.self)
            if type == "IDAT" { idat += png[(at + 8)..<(at + 8 + len)] }
            at += 12 + len
        }
        var raw = [UInt8](repeating: 0, count: (640 * 3 + 1) * 400)
        var n = uLong(raw.count)
        #expect(uncompress(&raw, &n, idat, uLong(idat.count)) == Z_OK)
        #expect(Int(n) == raw.count)
        let row = 300, x = 100
        let i = row * (640 * 3 + 1) + 1 + x * 3
        #expect(Color(raw[i], raw[i + 1], raw[i + 2]) == canvas.pixel(x, row))
        // The first bar is solid series colour near the bottom of the plot.
        var f = Frame(canvas, yMax: Double(r.pareto[0].count), count: r.pareto.count)
        _ = niceTicks(f.yMax)
        f.yMax = niceTicks(f.yMax).last!
        #expect(canvas.pixel(Int(f.x(0)), Int(f.bottom) - 3) == Color.series[0])
        let nonWhite = stride(from: 0, to: canvas.pixels.count, by: 3).filter { canvas.pixels[$0] != 255 }.count
        #expect(nonWhite > 5000, "something was drawn")
    }
}
