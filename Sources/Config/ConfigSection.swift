import Foundation

/// Typed reads from one table of a config file. Every key a program asks for is
/// remembered; `finish()` then rejects any key nobody asked for, naming its line and
/// the nearest known key, so a typo never silently falls back to a default.
public final class ConfigSection {
    public let file: String
    /// Where this table sits, for messages: "" for the root, "cameras[1]", "http".
    public let path: String
    public let line: Int
    private let table: TOMLTable
    private var asked: [String] = []
    private var children: [ConfigSection] = []

    public init(_ table: TOMLTable, file: String, path: String = "") {
        self.table = table
        self.file = file
        self.path = path
        self.line = table.line
    }

    /// Parses `text` (the contents of `file`).
    public convenience init(parsing text: String, file: String) throws {
        self.init(try TOMLParser.parse(text, file: file), file: file)
    }

    /// Reads and parses the file at `path`.
    public static func load(path: String) throws -> ConfigSection {
        guard let data = FileManager.default.contents(atPath: path) else {
            let exists = FileManager.default.fileExists(atPath: path)
            throw ConfigError.unreadable(file: path, detail: exists ? "permission denied" : "no such file")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigError.unreadable(file: path, detail: "not UTF-8 text")
        }
        return try ConfigSection(parsing: text, file: path)
    }

    public func has(_ key: String) -> Bool { table[key] != nil }

    /// The keys written in this table, in file order (for free-form tables such as camera controls).
    public var keys: [String] { table.keys }

    public func qualified(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// An error about `key` (for checks that involve several keys).
    public func bad(_ key: String, _ message: String) -> ConfigError {
        .badValue(file: file, line: table[key]?.line ?? line, key: qualified(key), message: message)
    }

    // MARK: Scalars

    public func string(_ key: String, default value: String) throws -> String { try optionalString(key) ?? value }

    public func optionalString(_ key: String) throws -> String? {
        try take(key, "a string") { if case .string(let s) = $0 { s } else { nil } }
    }

    public func bool(_ key: String, default value: Bool) throws -> Bool {
        try take(key, "true or false") { if case .bool(let b) = $0 { b } else { nil } } ?? value
    }

    public func int(_ key: String, default value: Int, in range: ClosedRange<Int>? = nil) throws -> Int {
        try optionalInt(key, in: range) ?? value
    }

    public func optionalInt(_ key: String, in range: ClosedRange<Int>? = nil) throws -> Int? {
        let v = try take(key, "an integer") { if case .integer(let n) = $0 { Int(exactly: n) } else { nil } }
        if let v, let range, !range.contains(v) { throw bad(key, "\(v) is outside \(range.lowerBound)...\(range.upperBound)") }
        return v
    }

    public func double(_ key: String, default value: Double, in range: ClosedRange<Double>? = nil) throws -> Double {
        try optionalDouble(key, in: range) ?? value
    }

    public func optionalDouble(_ key: String, in range: ClosedRange<Double>? = nil) throws -> Double? {
        let v = try take(key, "a number") { Self.number($0) }
        if let v, let range, !(range.contains(v)) { throw bad(key, "\(v) is outside \(range.lowerBound)...\(range.upperBound)") }
        return v
    }

    /// One of an enum's raw values; the error lists them all.
    public func choice<E: RawRepresentable & CaseIterable>(_ key: String, default value: E) throws -> E where E.RawValue == String {
        guard let s = try optionalString(key) else { return value }
        guard let e = E(rawValue: s) else {
            throw bad(key, "'\(s)' is not one of: \(E.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return e
    }

    // MARK: Arrays

    public func strings(_ key: String, default value: [String]) throws -> [String] {
        try array(key, "an array of strings") { if case .string(let s) = $0 { s } else { nil } } ?? value
    }

    public func doubles(_ key: String, default value: [Double]) throws -> [Double] {
        try array(key, "an array of numbers") { Self.number($0) } ?? value
    }

    public func ints(_ key: String, default value: [Int]) throws -> [Int] {
        try array(key, "an array of integers") { if case .integer(let n) = $0 { Int(exactly: n) } else { nil } } ?? value
    }

    // MARK: Tables

    /// The sub-table `key` (an empty one when absent, so its defaults apply).
    public func section(_ key: String) throws -> ConfigSection {
        let sub = try take(key, "a table") { if case .table(let t) = $0 { t } else { nil } } ?? TOMLTable(line: line)
        return adopt(ConfigSection(sub, file: file, path: qualified(key)))
    }

    /// An array of tables (`[[key]]`), or none.
    public func sections(_ key: String) throws -> [ConfigSection] {
        let tables: [TOMLTable] = try array(key, "an array of tables ([[\(qualified(key))]])") { (v: TOMLValue) -> TOMLTable? in
            if case .table(let t) = v { t } else { nil }
        } ?? []
        return tables.enumerated().map { adopt(ConfigSection($1, file: file, path: "\(qualified(key))[\($0)]")) }
    }

    /// Every key under this table (and the tables read from it) that nobody asked for is an error.
    public func finish() throws {
        for key in table.keys where !asked.contains(key) {
            let near = asked.min { Self.distance($0, key) < Self.distance($1, key) }
            var hint = ""
            if let near, Self.distance(near, key) <= 2 { hint = "did you mean '\(near)'?" }
            else if !asked.isEmpty { hint = "known here: \(asked.joined(separator: ", "))" }
            throw ConfigError.unknownKey(file: file, line: table[key]!.line, key: qualified(key), hint: hint)
        }
        for child in children { try child.finish() }
    }

    // MARK: Plumbing

    private func adopt(_ child: ConfigSection) -> ConfigSection {
        children.append(child)
        return child
    }

    private func take<T>(_ key: String, _ expected: String, _ convert: (TOMLValue) -> T?) throws -> T? {
        if !asked.contains(key) { asked.append(key) }
        guard let node = table[key] else { return nil }
        guard let v = convert(node.value) else {
            throw ConfigError.badValue(file: file, line: node.line, key: qualified(key), message: "expected \(expected), found \(node.value.kind)")
        }
        return v
    }

    private func array<T>(_ key: String, _ expected: String, _ convert: (TOMLValue) -> T?) throws -> [T]? {
        guard let items = try take(key, expected, { if case .array(let a) = $0 { a } else { nil } }) else { return nil }
        return try items.map { item in
            guard let v = convert(item.value) else {
                throw ConfigError.badValue(file: file, line: item.line, key: qualified(key), message: "expected \(expected), found \(item.value.kind) in it")
            }
            return v
        }
    }

    private static func number(_ v: TOMLValue) -> Double? {
        switch v {
        case .integer(let n): Double(n)
        case .float(let d): d
        default: nil
        }
    }

    /// Levenshtein distance, for "did you mean".
    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var row = Array(0...b.count)
        for i in 1...max(1, a.count) where !a.isEmpty {
            var prev = row[0]
            row[0] = i
            for j in 1...max(1, b.count) where !b.isEmpty {
                let cur = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] == b[j - 1] ? 0 : 1))
                prev = cur
            }
        }
        return a.isEmpty ? b.count : row[b.count]
    }
}
