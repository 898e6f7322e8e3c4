/// Everything the training layer refuses, with what a person needs to fix it.
public enum TrainingError: Error, CustomStringConvertible, Equatable {
    case dataset(path: String, reason: String)
    case checkpoint(path: String, reason: String)
    case invalidConfig(String)

    public var description: String {
        switch self {
        case .dataset(let path, let why): return "dataset \(path): \(why)"
        case .checkpoint(let path, let why): return "checkpoint \(path): \(why)"
        case .invalidConfig(let why): return "invalid training setting: \(why)"
        }
    }
}
