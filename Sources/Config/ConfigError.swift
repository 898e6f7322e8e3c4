/// What is wrong with a config file, with the file, line and key a person needs to fix it.
public enum ConfigError: Error, Equatable, CustomStringConvertible {
    case unreadable(file: String, detail: String)
    case syntax(file: String, line: Int, message: String)
    case unknownKey(file: String, line: Int, key: String, hint: String)
    case badValue(file: String, line: Int, key: String, message: String)
    case missingKey(file: String, line: Int, key: String)

    public var description: String {
        switch self {
        case let .unreadable(file, detail): "\(file): cannot read the config: \(detail)"
        case let .syntax(file, line, message): "\(file):\(line): TOML syntax: \(message)"
        case let .unknownKey(file, line, key, hint): "\(file):\(line): unknown key '\(key)'\(hint.isEmpty ? "" : " (\(hint))")"
        case let .badValue(file, line, key, message): "\(file):\(line): bad value for '\(key)': \(message)"
        case let .missingKey(file, line, key): "\(file):\(line): missing required key '\(key)'"
        }
    }
}
