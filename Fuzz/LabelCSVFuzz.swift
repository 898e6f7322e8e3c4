// libFuzzer target: arbitrary bytes as an RFC 4180 CSV and as a label-import file.
// Built by scripts/fuzz.sh from Sources/Store/CSV.swift and LabelImport.swift alone (pure
// Swift, no SQLite). Every input must end in records or a CSV.ParseError, rows or problems:
// no crash, and what is parsed must write back to the same records.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    if let records = try? CSV.parse(text) {
        // Round trip: the writer quotes what needs it, so parsing its output gives the fields back
        // (blank records are skipped by the reader, so compare the non-blank ones).
        let written = records.map { CSV.row($0.fields) }.joined()
        guard let again = try? CSV.parse(written), again.map(\.fields) == records.map(\.fields) else {
            fatalError("CSV round trip changed the records")
        }
    }
    let (rows, problems) = LabelImport.parse(text, frames: [1, 2, 3, 42], kinds: ["scratch", "dent"])
    for r in rows {
        precondition([1, 2, 3, 42].contains(r.frame) && r.defects.allSatisfy { ["scratch", "dent"].contains($0) })
    }
    _ = problems
    return 0
}
