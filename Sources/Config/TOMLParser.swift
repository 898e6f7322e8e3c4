import Foundation

/// Parses TOML text into a `TOMLTable` whose nodes carry line numbers.
///
/// Bounded, so a hostile file is an error rather than a stack overflow: arrays and inline
/// tables nest at most `maximumNesting` deep and a dotted key has at most `maximumKeyParts`
/// parts (both recursive below). Strings hold no raw control characters but tab (and the
/// line breaks of multi-line strings), as TOML requires.
public enum TOMLParser {
    public static let maximumNesting = 128
    public static let maximumKeyParts = 32

    public static func parse(_ text: String, file: String = "<config>") throws -> TOMLTable {
        var p = Parser(bytes: Array(text.utf8), file: file)
        return try p.document()
    }
}

private struct Parser {
    let bytes: [UInt8]
    let file: String
    var i = 0
    var line = 1
    /// Arrays and inline tables open around the current position.
    var nesting = 0

    init(bytes: [UInt8], file: String) {
        self.bytes = bytes
        self.file = file
    }

    // MARK: Document and tables

    mutating func document() throws -> TOMLTable {
        var root = TOMLTable(line: 1)
        var current: [String] = []
        while true {
            skipBlankLines()
            guard let c = peek() else { return root }
            if c == UInt8(ascii: "[") {
                let isArray = peek(1) == UInt8(ascii: "[")
                i += isArray ? 2 : 1
                skipSpaces()
                let path = try keyPath()
                skipSpaces()
                try expect(isArray ? "]]" : "]")
                let at = line
                try navigate(&root, ArraySlice(path.dropLast())) { parent in
                    try isArray ? self.appendArrayTable(&parent, path, at) : self.defineTable(&parent, path, at)
                }
                current = path
            } else {
                let keyLine = line
                let path = try keyPath()
                skipSpaces()
                try expect("=")
                skipSpaces()
                let node = try value()
                try navigate(&root, ArraySlice(current)) { table in
                    try self.insert(&table, ArraySlice(path), node, keyLine)
                }
            }
            try endOfLine()
        }
    }

    /// Runs `body` on the table at `path`, creating implied tables; an array of tables
    /// stands for its last element.
    func navigate(_ table: inout TOMLTable, _ path: ArraySlice<String>, _ body: (inout TOMLTable) throws -> Void) throws {
        guard let key = path.first else { return try body(&table) }
        var node = table[key] ?? TOMLNode(.table(TOMLTable(line: line)), line: line)
        switch node.value {
        case .table(var sub):
            try navigate(&sub, path.dropFirst(), body)
            node.value = .table(sub)
        case .array(var items) where items.last.map({ if case .table = $0.value { true } else { false } }) == true:
            guard case .table(var sub) = items[items.count - 1].value else { return }
            try navigate(&sub, path.dropFirst(), body)
            items[items.count - 1].value = .table(sub)
            node.value = .array(items)
        default:
            throw fail("'\(key)' is already a value (line \(node.line)), not a table")
        }
        table[key] = node
    }

    func defineTable(_ parent: inout TOMLTable, _ path: [String], _ at: Int) throws {
        let key = path.last!
        if let existing = parent[key] {
            guard case .table(var t) = existing.value, !t.explicit, !t.sealed else {
                throw fail("[\(path.joined(separator: "."))] is defined twice (first on line \(existing.line))")
            }
            t.explicit = true
            t.line = at
            parent[key] = TOMLNode(.table(t), line: at)
        } else {
            var t = TOMLTable(line: at)
            t.explicit = true
            parent[key] = TOMLNode(.table(t), line: at)
        }
    }

    func appendArrayTable(_ parent: inout TOMLTable, _ path: [String], _ at: Int) throws {
        let key = path.last!
        var t = TOMLTable(line: at)
        t.explicit = true
        let element = TOMLNode(.table(t), line: at)
        guard let existing = parent[key] else {
            parent[key] = TOMLNode(.array([element]), line: at)
            return
        }
        guard case .array(var items) = existing.value, items.allSatisfy({ if case .table = $0.value { true } else { false } }) else {
            throw fail("[[\(path.joined(separator: "."))]] clashes with '\(key)' on line \(existing.line)")
        }
        items.append(element)
        parent[key] = TOMLNode(.array(items), line: existing.line)
    }

    func insert(_ table: inout TOMLTable, _ path: ArraySlice<String>, _ node: TOMLNode, _ at: Int) throws {
        let key = path.first!
        if path.count == 1 {
            if let existing = table[key] { throw fail("'\(key)' is set twice (first on line \(existing.line))") }
            table[key] = node
            return
        }
        var sub: TOMLTable
        if let existing = table[key] {
            guard case .table(let t) = existing.value, !t.explicit || t.sealed else {
                throw fail("'\(key)' is already defined on line \(existing.line)")
            }
            sub = t
        } else {
            sub = TOMLTable(line: at)
            sub.sealed = true
        }
        try insert(&sub, path.dropFirst(), node, at)
        table[key] = TOMLNode(.table(sub), line: table[key]?.line ?? at)
    }

    // MARK: Keys

    mutating func keyPath() throws -> [String] {
        var parts = [try key()]
        skipSpaces()
        while peek() == UInt8(ascii: ".") {
            guard parts.count < TOMLParser.maximumKeyParts else {
                throw fail("a dotted key has at most \(TOMLParser.maximumKeyParts) parts")
            }
            i += 1
            skipSpaces()
            parts.append(try key())
            skipSpaces()
        }
        return parts
    }

    mutating func key() throws -> String {
        switch peek() {
        case UInt8(ascii: "\""): return try basicString()
        case UInt8(ascii: "'"): return try literalString()
        default:
            let start = i
            while let c = peek(), isBareKeyChar(c) { i += 1 }
            guard i > start else { throw fail(peek().map { "expected a key, found '\(Character(UnicodeScalar($0)))'" } ?? "expected a key") }
            return String(decoding: bytes[start..<i], as: UTF8.self)
        }
    }

    func isBareKeyChar(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F || c == 0x2D
    }

    // MARK: Values

    mutating func value() throws -> TOMLNode {
        let at = line
        guard let c = peek() else { throw fail("expected a value") }
        switch c {
        case UInt8(ascii: "\""): return TOMLNode(.string(try basicString()), line: at)
        case UInt8(ascii: "'"): return TOMLNode(.string(try literalString()), line: at)
        case UInt8(ascii: "["), UInt8(ascii: "{"):
            guard nesting < TOMLParser.maximumNesting else {
                throw fail("arrays and inline tables nest at most \(TOMLParser.maximumNesting) deep")
            }
            nesting += 1
            defer { nesting -= 1 }
            return c == UInt8(ascii: "[") ? TOMLNode(.array(try array()), line: at) : TOMLNode(.table(try inlineTable()), line: at)
        default: return TOMLNode(try scalar(), line: at)
        }
    }

    mutating func array() throws -> [TOMLNode] {
        i += 1
        var items: [TOMLNode] = []
        while true {
            skipBlankLines()
            if peek() == UInt8(ascii: "]") { i += 1; return items }
            items.append(try value())
            skipBlankLines()
            if peek() == UInt8(ascii: ",") { i += 1; continue }
            guard peek() == UInt8(ascii: "]") else { throw fail("expected ',' or ']' in an array") }
        }
    }

    mutating func inlineTable() throws -> TOMLTable {
        i += 1
        var table = TOMLTable(line: line)
        table.explicit = true
        table.sealed = true
        skipSpaces()
        if peek() == UInt8(ascii: "}") { i += 1; return table }
        while true {
            skipSpaces()
            let at = line
            let path = try keyPath()
            skipSpaces()
            try expect("=")
            skipSpaces()
            let node = try value()
            try insert(&table, ArraySlice(path), node, at)
            skipSpaces()
            if peek() == UInt8(ascii: ",") { i += 1; continue }
            try expect("}")
            return table
        }
    }

    mutating func scalar() throws -> TOMLValue {
        let start = i
        while let c = peek(), isBareKeyChar(c) || c == UInt8(ascii: ".") || c == UInt8(ascii: "+") || c == UInt8(ascii: ":") { i += 1 }
        let token = String(decoding: bytes[start..<i], as: UTF8.self)
        if token == "true" { return .bool(true) }
        if token == "false" { return .bool(false) }
        guard !token.isEmpty else { throw fail("expected a value, found '\(peek().map { String(UnicodeScalar($0)) } ?? "end of file")'") }
        if token.contains(":") || token.range(of: #"^\d{4}-\d{2}"#, options: .regularExpression) != nil {
            throw fail("dates and times are not supported here; write '\(token)' as a string")
        }
        let digits = token.replacingOccurrences(of: "_", with: "")
        for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] where digits.hasPrefix(prefix) {
            guard let v = Int64(digits.dropFirst(2), radix: radix) else { throw fail("'\(token)' is not a number") }
            return .integer(v)
        }
        if let v = Int64(digits) { return .integer(v) }
        switch digits {
        case "inf", "+inf": return .float(.infinity)
        case "-inf": return .float(-.infinity)
        case "nan", "+nan", "-nan": return .float(.nan)
        default: break
        }
        if digits.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }), let v = Double(digits) { return .float(v) }
        throw fail("'\(token)' is not a value (strings need quotes)")
    }

    // MARK: Strings

    mutating func basicString() throws -> String {
        let multi = starts(with: "\"\"\"")
        i += multi ? 3 : 1
        if multi { skipFirstNewline() }
        var out: [UInt8] = []
        while true {
            guard let c = peek() else { throw fail("unterminated string") }
            if multi ? starts(with: "\"\"\"") : c == UInt8(ascii: "\"") {
                i += multi ? 3 : 1
                return String(decoding: out, as: UTF8.self)
            }
            if c == UInt8(ascii: "\n") {
                guard multi else { throw fail("a string ends at the line's end; close it with '\"'") }
                line += 1
            }
            try allowedInString(c, multi: multi)
            i += 1
            guard c == UInt8(ascii: "\\") else { out.append(c); continue }
            try escape(into: &out, multi: multi)
        }
    }

    mutating func escape(into out: inout [UInt8], multi: Bool) throws {
        guard let e = peek() else { throw fail("unterminated string") }
        i += 1
        switch e {
        case UInt8(ascii: "n"): out.append(0x0A)
        case UInt8(ascii: "t"): out.append(0x09)
        case UInt8(ascii: "r"): out.append(0x0D)
        case UInt8(ascii: "b"): out.append(0x08)
        case UInt8(ascii: "f"): out.append(0x0C)
        case UInt8(ascii: "\""), UInt8(ascii: "\\"): out.append(e)
        case UInt8(ascii: "u"), UInt8(ascii: "U"):
            let n = e == UInt8(ascii: "u") ? 4 : 8
            guard i + n <= bytes.count, let code = UInt32(String(decoding: bytes[i..<(i + n)], as: UTF8.self), radix: 16),
                  let scalar = UnicodeScalar(code) else { throw fail("bad unicode escape") }
            i += n
            out.append(contentsOf: Array(String(Character(scalar)).utf8))
        case UInt8(ascii: "\n") where multi, UInt8(ascii: " ") where multi:
            if e == UInt8(ascii: "\n") { line += 1 }
            while let c = peek(), c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D {
                if c == 0x0A { line += 1 }
                i += 1
            }
        default: throw fail("unknown escape '\\\(Character(UnicodeScalar(e)))'")
        }
    }

    mutating func literalString() throws -> String {
        let multi = starts(with: "'''")
        i += multi ? 3 : 1
        if multi { skipFirstNewline() }
        let start = i
        while true {
            guard let c = peek() else { throw fail("unterminated string") }
            if multi ? starts(with: "'''") : c == UInt8(ascii: "'") {
                let s = String(decoding: bytes[start..<i], as: UTF8.self)
                i += multi ? 3 : 1
                return s
            }
            if c == UInt8(ascii: "\n") {
                guard multi else { throw fail("a string ends at the line's end; close it with \"'\"") }
                line += 1
            }
            try allowedInString(c, multi: multi)
            i += 1
        }
    }

    /// Refuses a raw control character (write it as an escape): all but tab, and in a
    /// multi-line string the line feed and the carriage return of a CRLF.
    func allowedInString(_ c: UInt8, multi: Bool) throws {
        guard c < 0x20 || c == 0x7F else { return }
        if c == 0x09 || (multi && (c == 0x0A || (c == 0x0D && peek(1) == 0x0A))) { return }
        throw fail(String(format: "control character 0x%02X in a string; write it as an escape", c))
    }

    mutating func skipFirstNewline() {
        if starts(with: "\r\n") { i += 2; line += 1 } else if peek() == 0x0A { i += 1; line += 1 }
    }

    // MARK: Whitespace

    func peek(_ ahead: Int = 0) -> UInt8? { i + ahead < bytes.count ? bytes[i + ahead] : nil }

    func starts(with s: String) -> Bool {
        let u = Array(s.utf8)
        return i + u.count <= bytes.count && Array(bytes[i..<(i + u.count)]) == u
    }

    mutating func skipSpaces() {
        while let c = peek(), c == 0x20 || c == 0x09 { i += 1 }
    }

    mutating func skipComment() {
        guard peek() == UInt8(ascii: "#") else { return }
        while let c = peek(), c != 0x0A { i += 1 }
    }

    mutating func skipBlankLines() {
        while true {
            skipSpaces()
            skipComment()
            if peek() == 0x0D { i += 1 }
            guard peek() == 0x0A else { return }
            i += 1
            line += 1
        }
    }

    mutating func endOfLine() throws {
        skipSpaces()
        skipComment()
        if peek() == 0x0D { i += 1 }
        guard let c = peek() else { return }
        guard c == 0x0A else { throw fail("unexpected '\(Character(UnicodeScalar(c)))' after the value; one key per line") }
        i += 1
        line += 1
    }

    mutating func expect(_ s: String) throws {
        guard starts(with: s) else { throw fail("expected '\(s)'") }
        i += s.utf8.count
    }

    func fail(_ message: String) -> ConfigError { .syntax(file: file, line: line, message: message) }
}
