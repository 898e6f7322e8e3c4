/// What the inspection layer refuses, with what a person needs to fix it.
public enum InspectionError: Error, CustomStringConvertible, Equatable {
    /// A model file that cannot serve as the given stage.
    case model(path: String, reason: String)
    /// Settings that cannot work together.
    case config(String)
    /// A model's output was NaN or infinite for this frame: no verdict (the line fails it).
    case nonFiniteScore(stage: Int, model: String)
    /// A trigger that cannot be taken (unknown station, a bad serial).
    case trigger(String)
    /// The inspection is stopping: no new work is taken.
    case stopping

    public var description: String {
        switch self {
        case let .model(path, reason): "\(path): cannot be used: \(reason)"
        case let .config(why): "inspection settings: \(why)"
        case let .nonFiniteScore(stage, model): "model error: stage \(stage) (\(model)) gave a NaN or infinite score"
        case let .trigger(why): why
        case .stopping: "the inspection is stopping; no new parts are taken"
        }
    }
}
