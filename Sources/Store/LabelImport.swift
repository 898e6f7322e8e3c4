import Foundation

/// Labels made elsewhere, checked row by row against the frames and defect kinds that
/// exist: a CSV (frame_id and defects columns, RFC 4180; defects '+'-joined, empty or
/// "good" for a good part), a Label Studio JSON export (`LabelImport+Tools.swift`) or a
/// CVAT for images XML. Pure: the caller imports all rows, or none when any is refused.
public enum LabelImport {
    public struct Row: Equatable, Sendable {
        public var frame: Int64
        public var defects: [String]
    }

    /// One label as a file states it, before it is checked: where it is (for messages), the
    /// frame as written and the defects (empty or ["good"]: a good part).
    struct Entry {
        var at: String
        var frame: String
        var defects: [String]
        /// From Label Studio or CVAT, where an empty name is a broken tag, not a good part.
        var fromTool = false
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
        var entries: [Entry] = [], problems: [String] = []
        for r in records.dropFirst() {
            let cols = r.fields.map { $0.trimmingCharacters(in: .whitespaces) }
            let at = "line \(r.line)"
            guard cols.count > max(fi, di) else { problems.append("\(at): expected \(header.count) columns, found \(cols.count)"); continue }
            entries.append(Entry(at: at, frame: cols[fi], defects: cols[di].split(separator: "+").map { $0.trimmingCharacters(in: .whitespaces) }))
        }
        let checked = check(entries, frames: frames, kinds: kinds)
        return (checked.rows, problems + checked.problems)
    }

    /// Every entry checked: a frame that exists, named once, kinds well formed and known.
    static func check(_ entries: [Entry], frames: Set<Int64>, kinds: Set<String>?) -> (rows: [Row], problems: [String]) {
        var rows: [Row] = [], problems: [String] = [], seen: Set<Int64> = []
        for e in entries {
            let at = e.at
            guard let id = Int64(e.frame) else { problems.append("\(at): frame_id '\(String(e.frame.prefix(40)))' is not a number"); continue }
            guard frames.contains(id) else { problems.append("\(at): frame \(id) does not exist"); continue }
            guard seen.insert(id).inserted else { problems.append("\(at): frame \(id) appears twice"); continue }
            guard e.fromTool == false || !e.defects.contains(where: \.isEmpty) else {
                problems.append("\(at): an empty label (a tag or choice without a name)")
                continue
            }
            let named = e.defects.filter { !$0.isEmpty }
            let defects = named.filter { $0.lowercased() != "good" }
            guard defects.isEmpty || defects.count == named.count else {
                problems.append("\(at): frame \(id) is labelled both good and \(defects.joined(separator: "+"))")
                continue
            }
            if let bad = defects.first(where: { !DefectKind.isValid($0) }) {
                problems.append("\(at): defect kind '\(String(bad.prefix(40)))' is not a valid name (\(DefectKind.rule))")
                continue
            }
            if let kinds, let bad = defects.first(where: { !kinds.contains($0) }) {
                problems.append("\(at): unknown defect kind '\(bad)' (known: \(kinds.sorted().joined(separator: ", ")); a new kind is confirmed with --new-kind \(bad))")
                continue
            }
            var unique: [String] = []
            for d in defects where !unique.contains(d) { unique.append(d) }
            rows.append(Row(frame: id, defects: unique))
        }
        return (rows, shown(problems))
    }

    /// At most 100 problems, each at most 300 characters with control characters replaced:
    /// a hostile file's text reaches a terminal.
    static func shown(_ problems: [String]) -> [String] {
        let clean = problems.prefix(100).map { p in
            String(String.UnicodeScalarView(p.unicodeScalars.prefix(300).map { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) ? "?" : $0 }))
        }
        return problems.count > 100 ? clean + ["... and \(problems.count - 100) more"] : clean
    }

    /// The frame id a file name carries: `images/1042.jpg` -> "1042" (as exports name them).
    static func frame(fromFile name: String) -> String {
        let base = name.split(separator: "/").last.map(String.init) ?? name
        return base.split(separator: ".").first.map(String.init) ?? base
    }
}
