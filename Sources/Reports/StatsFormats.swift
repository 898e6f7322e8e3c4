import Foundation

/// `--format` of `linesight stats`.
public enum StatsFormat: String, CaseIterable, Sendable { case table, csv, json }

extension StatsReport {
    public func render(_ format: StatsFormat) -> String {
        switch format {
        case .table: table()
        case .csv: csv()
        case .json: json()
        }
    }

    static func percent(_ x: Double?) -> String { x.map { String(format: "%.2f%%", $0 * 100) } ?? "-" }
    static func ratio(_ x: Double?) -> String { x.map { String(format: "%.6f", $0) } ?? "" }

    /// A fixed-width table: one line per group, the total, then the Pareto of defects.
    public func table() -> String {
        let shown = Array(kinds.prefix(6))
        var header = [grouping == .total ? "" : grouping.rawValue, "parts", "pass", "fail", "no-verdict", "flagged", "yield", "first-pass"]
        header += shown.map { "\($0) %" }
        func cells(_ r: StatsRow) -> [String] {
            [r.key, "\(r.parts)", "\(r.passes)", "\(r.fails)", "\(r.noVerdicts)", "\(r.flagged)",
             Self.percent(r.yield), Self.percent(r.firstPassYield)] + shown.map { Self.percent(r.rate($0)) }
        }
        var lines = (grouping == .total ? [] : rows).map(cells)
        lines.append(cells(total))
        var widths = header.map(\.count)
        for l in lines { for (i, c) in l.enumerated() { widths[i] = max(widths[i], c.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, c in
                i == 0 ? c.padding(toLength: widths[i], withPad: " ", startingAt: 0)
                    : String(repeating: " ", count: widths[i] - c.count) + c
            }.joined(separator: "  ")
        }
        var out = [line(header), String(repeating: "-", count: widths.reduce(0, +) + 2 * (widths.count - 1))]
        out += lines.dropLast().map(line)
        if grouping != .total { out.append(String(repeating: "-", count: out[1].count)) }
        out.append(line(lines.last!))
        if kinds.count > shown.count { out.append("(\(kinds.count - shown.count) more defect kinds in --format csv or json)") }
        out.append("")
        if pareto.isEmpty {
            out.append("no defects in this range")
        } else {
            out.append("Pareto of defects")
            let kw = max(6, pareto.map(\.kind.count).max()!)
            out.append("defect".padding(toLength: kw, withPad: " ", startingAt: 0) + "     count    share  cumulative")
            for p in pareto {
                out.append(p.kind.padding(toLength: kw, withPad: " ", startingAt: 0)
                           + String(format: "  %8d  %6.2f%%  %9.2f%%", p.count, p.share * 100, p.cumulative * 100))
            }
        }
        return out.joined(separator: "\n") + "\n"
    }

    /// One row per group and a last row "total"; per-kind counts and rates as columns.
    public func csv() -> String {
        var header = [grouping.rawValue, "parts", "passes", "fails", "no_verdicts", "flagged", "recovered", "yield", "first_pass_yield"]
        for k in kinds { header += ["\(k)_count", "\(k)_rate"] }
        var out = [header.map(Self.csvField).joined(separator: ",")]
        for r in (grouping == .total ? [] : rows) + [total] {
            var cells = [r.key, "\(r.parts)", "\(r.passes)", "\(r.fails)", "\(r.noVerdicts)", "\(r.flagged)", "\(r.recovered)",
                         Self.ratio(r.yield), Self.ratio(r.firstPassYield)]
            for k in kinds { cells += ["\(r.defects[k] ?? 0)", Self.ratio(r.rate(k))] }
            out.append(cells.map(Self.csvField).joined(separator: ","))
        }
        return out.joined(separator: "\n") + "\n"
    }

    static func csvField(_ s: String) -> String {
        s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }

    /// Stable JSON (sorted keys): the range, the groups, the total and the Pareto.
    public func json() -> String {
        func row(_ r: StatsRow) -> [String: Any] {
            ["key": r.key, "parts": r.parts, "passes": r.passes, "fails": r.fails, "no_verdicts": r.noVerdicts,
             "flagged": r.flagged, "recovered": r.recovered, "yield": r.yield ?? NSNull(),
             "first_pass_yield": r.firstPassYield ?? NSNull(), "defects": r.defects,
             "defect_rates": Dictionary(uniqueKeysWithValues: kinds.map { ($0, r.rate($0) ?? 0) })]
        }
        let doc: [String: Any] = [
            "by": grouping.rawValue, "since": since ?? NSNull(), "until": until ?? NSNull(),
            "groups": rows.map(row), "total": row(total),
            "pareto": pareto.map { ["kind": $0.kind, "count": $0.count, "share": $0.share, "cumulative": $0.cumulative] },
        ]
        let data = try! JSONSerialization.data(withJSONObject: doc, options: [.prettyPrinted, .sortedKeys])
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}
