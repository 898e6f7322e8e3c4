/// What the inspection layer refuses, with what a person needs to fix it.
public enum InspectionError: Error, CustomStringConvertible, Equatable {
    /// A model file that cannot serve as the given stage.
    case model(path: String, reason: String)
    /// Settings that cannot work together.
    case config(String)

    public var description: String {
        switch self {
        case let .model(path, reason): "\(path): cannot be used: \(reason)"
        case let .config(why): "inspection settings: \(why)"
        }
    }
}
