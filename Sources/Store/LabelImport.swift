import Foundation

/// An import CSV of labels (frame_id and defects columns, RFC 4180; defects '+'-joined,
/// empty or "good" for a good part), checked row by row against the frames and defect
/// kinds that exist. Pure: the caller imports all rows, or none when any is refused.
public enum LabelImport {
    public struct Row: Equatable, Sendable {
        public var frame: Int64
        public var defects: [String]
    }

    /// The rows and, for every refused row, why (with its line). `kinds`: the stage-2 model's
    /// defect kinds, when there is one; names are checked for safety either way.
    public static func parse(_ text: String, frames: Set<Int64>, kinds: Set<String>?) -> (rows: [Row], problems: [String]) {
        let records: [CSV.Record]
        do { records = try CSV.parse(text) } catch { return ([], ["\(error)"]) }
        guard let header = records.first?.fields.map({ $0.trimmingCharacters(in: .whitespaces) }),
              let fi = header.firstIndex(of: "frame_id"), let di = header.firstIndex(of: "defects") else {
            return ([], ["line 1: the header must name the columns frame_id and defects"])
        }
        var rows: [Row] = [], problems: [String] = [], seen: Set<Int64> = []
        for r in records.dropFirst() {
            let cols = r.fields.map { $0.trimmingCharacters(in: .whitespaces) }
            let at = "line \(r.line)"
            guard cols.count > max(fi, di) else { problems.append("\(at): expected \(header.count) columns, found \(cols.count)"); continue }
            guard let id = Int64(cols[fi]) else { problems.append("\(at): frame_id '\(String(cols[fi].prefix(40)))' is not a number"); continue }
            guard frames.contains(id) else { problems.append("\(at): frame \(id) does not exist"); continue }
            guard seen.insert(id).inserted else { problems.append("\(at): frame \(id) appears twice"); continue }
            let defects = cols[di].split(separator: "+").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty && $0 != "good" }
            if let bad = defects.first(where: { !DefectKind.isValid($0) }) {
                problems.append("\(at): defect kind '\(String(bad.prefix(40)))' is not a valid name (1-64 letters, digits, '_' or '-')")
                continue
            }
            if let kinds, let bad = defects.first(where: { !kinds.contains($0) }) {
                problems.append("\(at): unknown defect kind '\(bad)' (known: \(kinds.sorted().joined(separator: ", ")); a new kind is confirmed with --new-kind \(bad))")
                continue
            }
            rows.append(Row(frame: id, defects: defects))
        }
        return (rows, problems)
    }
}
