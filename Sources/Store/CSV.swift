import Foundation

/// RFC 4180 CSV: fields separated by commas, records by CRLF or LF; a field in double quotes
/// may hold commas, line breaks and doubled quotes (""). Pure: no I/O, so it is fuzzed alone
/// (Fuzz/LabelCSVFuzz.swift).
public enum CSV {
    /// A record and the line it starts on (1-based).
    public struct Record: Equatable, Sendable {
        public var line: Int
        public var fields: [String]
    }

    public enum ParseError: Error, Equatable, CustomStringConvertible {
        /// A quoted field still open at the end of the text.
        case unterminatedQuote(line: Int)
        /// Something other than a comma or a line break right after a closing quote.
        case textAfterQuote(line: Int)
        /// A quote inside an unquoted field.
        case quoteInField(line: Int)

        public var description: String {
            switch self {
            case .unterminatedQuote(let l): "line \(l): a quoted field is never closed"
            case .textAfterQuote(let l): "line \(l): text after a closing quote (write a quote inside a quoted field as \"\")"
            case .quoteInField(let l): "line \(l): a quote inside an unquoted field (quote the whole field)"
            }
        }
    }

    /// The records of `text`; blank lines are skipped.
    public static func parse(_ text: String) throws -> [Record] {
        var records: [Record] = []
        var fields: [String] = []
        var field: [UInt8] = []
        var line = 1, recordLine = 1
        var quoted = false, afterQuote = false, fieldStarted = false
        func endField() {
            fields.append(String(decoding: field, as: UTF8.self))
            field = []
            afterQuote = false
            fieldStarted = false
        }
        func endRecord() {
            endField()
            if !(fields.count == 1 && fields[0].isEmpty) { records.append(Record(line: recordLine, fields: fields)) }
            fields = []
        }
        let bytes = Array(text.utf8)
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            if quoted {
                if b == UInt8(ascii: "\"") {
                    if i + 1 < bytes.count, bytes[i + 1] == UInt8(ascii: "\"") { field.append(b); i += 2; continue }
                    quoted = false
                    afterQuote = true
                } else {
                    if b == UInt8(ascii: "\n") { line += 1 }
                    field.append(b)
                }
                i += 1
                continue
            }
            switch b {
            case UInt8(ascii: ","):
                endField()
            case UInt8(ascii: "\r") where i + 1 < bytes.count && bytes[i + 1] == UInt8(ascii: "\n"):
                i += 1
                endRecord()
                line += 1
                recordLine = line
            case UInt8(ascii: "\n"):
                endRecord()
                line += 1
                recordLine = line
            case UInt8(ascii: "\""):
                guard !afterQuote else { throw ParseError.textAfterQuote(line: line) }
                guard !fieldStarted else { throw ParseError.quoteInField(line: line) }
                quoted = true
                fieldStarted = true
            default:
                guard !afterQuote else { throw ParseError.textAfterQuote(line: line) }
                field.append(b)
                fieldStarted = true
            }
            i += 1
        }
        if quoted { throw ParseError.unterminatedQuote(line: recordLine) }
        if !field.isEmpty || !fields.isEmpty || afterQuote { endRecord() }
        return records
    }

    /// One record as a line, each field quoted when it holds a comma, a quote or a line break.
    /// Works on bytes: a quote followed by a combining mark is one Character, and a Character
    /// test once left such a field unquoted (found by the fuzzer).
    public static func row(_ fields: [String]) -> String {
        fields.map { f in
            guard f.utf8.contains(where: { $0 == 0x2C || $0 == 0x22 || $0 == 0x0A || $0 == 0x0D }) else { return f }
            var out: [UInt8] = [0x22]
            for b in f.utf8 {
                out.append(b)
                if b == 0x22 { out.append(b) }
            }
            out.append(0x22)
            return String(decoding: out, as: UTF8.self)
        }.joined(separator: ",") + "\n"
    }
}

/// Defect kind names: they become folder names, CSV and JSON values, and are joined with
/// "+" and "," in the store, so only letters, digits, "_" and "-" are allowed, 1-64 of them.
public enum DefectKind {
    /// Names a model's pass class may have (in any case): never a defect kind.
    public static let passNames: Set<String> = ["good", "ok", "pass"]
    /// What a valid name is, for messages.
    public static let rule = "1-64 letters, digits, '_' or '-'; not good, ok or pass"

    public static func isValid(_ name: String) -> Bool {
        (1...64).contains(name.utf8.count) && name.utf8.allSatisfy {
            (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) || $0 == 0x5F || $0 == 0x2D
        } && !passNames.contains(name.lowercased())
    }

    /// The kind in `known` that `name` differs from only in case (two such kinds cannot live
    /// in one model), or nil.
    public static func caseTwin(of name: String, in known: some Sequence<String>) -> String? {
        known.first { $0 != name && $0.lowercased() == name.lowercased() }
    }

    public static func validate(_ name: String) throws {
        guard isValid(name) else {
            throw StoreError.invalid("defect kind '\(String(name.prefix(40)))' is not a valid name (\(rule))")
        }
    }
}
