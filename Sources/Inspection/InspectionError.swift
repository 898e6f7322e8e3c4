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
    /// A frame that is not stored (never kept, or removed by retention).
    case frameNotStored(id: Int64)
    /// A kept frame without the map it was judged with (`[flagging] keep_maps` was off, or it did not fail).
    case noKeptMap(id: Int64)
    /// A defect kind the stage-2 model does not know (or no stage 2 to ask).
    case unknownKind(String, known: [String])

    public var description: String {
        switch self {
        case let .model(path, reason): "\(path): cannot be used: \(reason)"
        case let .config(why): "inspection settings: \(why)"
        case let .nonFiniteScore(stage, model): "model error: stage \(stage) (\(model)) gave a NaN or infinite score"
        case let .trigger(why): why
        case .stopping: "the inspection is stopping; no new parts are taken"
        case let .frameNotStored(id): "frame \(id) is not stored (never kept, or removed by retention)"
        case let .noKeptMap(id): "frame \(id) was kept without its map ([flagging] keep_maps was off, or the frame did not fail); leave out map=kept for the live models' map"
        case let .unknownKind(kind, known):
            known.isEmpty ? "kind '\(kind)': the line has no stage-2 model to name kinds"
                : "kind '\(kind)' is not one the stage-2 model knows (\(known.joined(separator: ", ")))"
        }
    }
}
