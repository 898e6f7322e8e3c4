/// Everything the engine refuses, with what a person needs to fix it.
public enum NeuralError: Error, CustomStringConvertible, Equatable {
    case invalidSpec(String)
    case modelFile(path: String, reason: String)
    /// A metadata field of a model file that cannot be used as it is (`field` as in the JSON:
    /// "temperature", "thresholds.fail", "classes[2]", "normalization.std[0]", "spec").
    case invalidMetadata(path: String, field: String, reason: String)
    case missingTensor(path: String, name: String)
    case shapeMismatch(path: String, name: String, expected: [Int], found: [Int])
    case unexpectedTensor(path: String, name: String)
    case kernelCheckFailed(core: String, detail: String)
    case io(path: String, reason: String)

    public var description: String {
        switch self {
        case .invalidSpec(let why): return "invalid network spec: \(why)"
        case .modelFile(let path, let why): return "\(path): not a usable model file: \(why)"
        case .invalidMetadata(let path, let field, let why): return "\(path): not a usable model file: metadata '\(field)' \(why)"
        case .missingTensor(let path, let name): return "\(path): tensor '\(name)' is missing"
        case .shapeMismatch(let path, let name, let expected, let found):
            return "\(path): tensor '\(name)' has shape \(found), the architecture needs \(expected)"
        case .unexpectedTensor(let path, let name):
            return "\(path): tensor '\(name)' does not belong to the architecture in the file"
        case .kernelCheckFailed(let core, let detail):
            return "OpenBLAS core \(core) computed wrong results: \(detail)"
        case .io(let path, let why): return "\(path): \(why)"
        }
    }
}
