/// What can go wrong connecting Linesight to the line: a setting that cannot work (found
/// at start, the daemon refuses to run), or an output that cannot be opened.
public enum LineIOError: Error, Equatable, CustomStringConvertible {
    /// A setting of an input or output cannot work.
    case invalidConfig(String)
    /// An output (named) cannot be set up.
    case output(String, String)

    public var description: String {
        switch self {
        case .invalidConfig(let why): "invalid line I/O configuration: \(why)"
        case .output(let name, let why): "\(name) output: \(why)"
        }
    }
}
