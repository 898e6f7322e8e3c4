/// A TOML document as a tree whose every value remembers the line it came from, so a
/// config error can name the file, the line and the key.
///
/// Supported: tables, dotted and quoted keys, arrays of tables, basic and literal strings
/// (single- and multi-line), integers (decimal, hex, octal, binary, underscores), floats
/// (inf, nan), booleans, arrays, inline tables. Dates and times are refused with a clear
/// error (no Linesight setting takes one).
public indirect enum TOMLValue: Equatable, Sendable {
    case string(String)
    case integer(Int64)
    case float(Double)
    case bool(Bool)
    case array([TOMLNode])
    case table(TOMLTable)

    /// A word for error messages: "a string", "an integer", ...
    public var kind: String {
        switch self {
        case .string: "a string"
        case .integer: "an integer"
        case .float: "a number"
        case .bool: "true or false"
        case .array: "an array"
        case .table: "a table"
        }
    }
}

/// A value and the line (1-based) where it was written.
public struct TOMLNode: Equatable, Sendable {
    public var value: TOMLValue
    public var line: Int
    public init(_ value: TOMLValue, line: Int) {
        self.value = value
        self.line = line
    }
}

/// Keys in the order they were written, each with its node.
public struct TOMLTable: Equatable, Sendable {
    public private(set) var keys: [String] = []
    public private(set) var nodes: [String: TOMLNode] = [:]
    /// Line of the `[header]` (or of the first key for the root and inline tables).
    public var line: Int
    /// Defined by a `[header]` or a key (true), or only implied by `[a.b]` (false).
    var explicit = false
    /// An inline table or a table written by dotted keys: closed to later headers.
    var sealed = false

    public init(line: Int) { self.line = line }

    public subscript(key: String) -> TOMLNode? {
        get { nodes[key] }
        set {
            if nodes[key] == nil { keys.append(key) }
            nodes[key] = newValue
        }
    }
}
