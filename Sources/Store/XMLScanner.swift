import Foundation

/// The elements of an XML document as a flat list of start and end tags with their
/// attributes: enough for CVAT's annotation files, strict about everything else. No DTDs or
/// custom entities (nothing a file says can expand), text content is skipped.
enum XMLScanner {
    enum Event: Equatable {
        case start(String, [String: String])
        case end(String)
    }

    struct Failure: Error, CustomStringConvertible {
        var line: Int
        var reason: String
        var description: String { "line \(line): \(reason)" }
    }

    static func scan(_ text: String) throws -> [Event] {
        let b = Array(text.utf8)
        var i = 0, line = 1, events: [Event] = [], open: [String] = []
        func fail(_ why: String) -> Failure { Failure(line: line, reason: why) }
        func advance(to end: [UInt8]) throws {
            while i < b.count {
                if b[i] == 0x0A { line += 1 }
                if b[i...].starts(with: end) { i += end.count; return }
                i += 1
            }
            throw fail("unterminated markup")
        }
        while i < b.count {
            guard b[i] == UInt8(ascii: "<") else {
                if b[i] == 0x0A { line += 1 }
                i += 1
                continue
            }
            let rest = b[i...]
            if rest.starts(with: Array("<?".utf8)) { try advance(to: Array("?>".utf8)); continue }
            if rest.starts(with: Array("<!--".utf8)) { try advance(to: Array("-->".utf8)); continue }
            if rest.starts(with: Array("<![CDATA[".utf8)) { try advance(to: Array("]]>".utf8)); continue }
            if rest.starts(with: Array("<!".utf8)) { throw fail("document type declarations are not accepted") }
            i += 1
            let closing = i < b.count && b[i] == UInt8(ascii: "/")
            if closing { i += 1 }
            let name = name(b, &i)
            guard !name.isEmpty else { throw fail("a tag without a name") }
            if closing {
                skipSpace(b, &i, &line)
                guard i < b.count, b[i] == UInt8(ascii: ">") else { throw fail("malformed end tag </\(name)") }
                i += 1
                guard open.popLast() == name else { throw fail("</\(name)> closes nothing open") }
                events.append(.end(name))
                continue
            }
            var attributes: [String: String] = [:]
            while true {
                skipSpace(b, &i, &line)
                guard i < b.count else { throw fail("unterminated tag <\(name)") }
                if b[i] == UInt8(ascii: ">") { i += 1; open.append(name); events.append(.start(name, attributes)); break }
                if b[i] == UInt8(ascii: "/"), i + 1 < b.count, b[i + 1] == UInt8(ascii: ">") {
                    i += 2
                    events += [.start(name, attributes), .end(name)]
                    break
                }
                let key = self.name(b, &i)
                guard !key.isEmpty else { throw fail("malformed attribute in <\(name)") }
                skipSpace(b, &i, &line)
                guard i < b.count, b[i] == UInt8(ascii: "=") else { throw fail("attribute \(key) has no value") }
                i += 1
                skipSpace(b, &i, &line)
                guard i < b.count, b[i] == UInt8(ascii: "\"") || b[i] == UInt8(ascii: "'") else { throw fail("attribute \(key)'s value is not quoted") }
                let quote = b[i]
                i += 1
                let start = i
                while i < b.count, b[i] != quote { if b[i] == 0x0A { line += 1 }; i += 1 }
                guard i < b.count else { throw fail("attribute \(key)'s value is not closed") }
                guard attributes[key] == nil else { throw fail("attribute \(key) given twice in <\(name)") }
                attributes[key] = try unescape(String(decoding: b[start..<i], as: UTF8.self), line)
                i += 1
            }
        }
        guard open.isEmpty else { throw fail("<\(open.last!)> is never closed") }
        return events
    }

    private static func name(_ b: [UInt8], _ i: inout Int) -> String {
        let start = i
        while i < b.count, b[i] > 0x20, !"<>/=\"'".utf8.contains(b[i]) { i += 1 }
        return String(decoding: b[start..<i], as: UTF8.self)
    }

    private static func skipSpace(_ b: [UInt8], _ i: inout Int, _ line: inout Int) {
        while i < b.count, b[i] == 0x20 || b[i] == 0x09 || b[i] == 0x0A || b[i] == 0x0D { if b[i] == 0x0A { line += 1 }; i += 1 }
    }

    /// The five predefined entities and character references; anything else is refused.
    static func unescape(_ s: String, _ line: Int) throws -> String {
        guard s.contains("&") else { return s }
        var out = "", rest = Substring(s)
        while let amp = rest.firstIndex(of: "&") {
            out += rest[..<amp]
            guard let semi = rest[amp...].firstIndex(of: ";") else { throw Failure(line: line, reason: "an unterminated entity") }
            let entity = rest[rest.index(after: amp)..<semi]
            switch entity {
            case "amp": out += "&"
            case "lt": out += "<"
            case "gt": out += ">"
            case "quot": out += "\""
            case "apos": out += "'"
            default:
                let code = entity.hasPrefix("#x") ? UInt32(entity.dropFirst(2), radix: 16) : entity.hasPrefix("#") ? UInt32(entity.dropFirst()) : nil
                guard let code, let scalar = Unicode.Scalar(code) else { throw Failure(line: line, reason: "unknown entity &\(entity.prefix(20));") }
                out.unicodeScalars.append(scalar)
            }
            rest = rest[rest.index(after: semi)...]
        }
        return out + rest
    }
}
