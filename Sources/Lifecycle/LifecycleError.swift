/// The model lifecycle's one error enum: what a person needs to act on when training,
/// retraining, label import/export or the label audit cannot do its job.
public enum LifecycleError: Error, CustomStringConvertible, Equatable {
    /// The registry has no live model of `stage`; `next` says what to run first.
    case noChampion(stage: Int, next: String)
    /// There is nothing to learn from (no labels, or none since the champion).
    case noLabels(String)
    /// An input file cannot be read.
    case unreadable(path: String)
    /// A label import refused rows; nothing was imported.
    case rejectedRows(file: String, problems: [String])
    /// Frames or defect kinds that do not exist; nothing was labeled.
    case unknown(String)
    /// The stage-2 model that defines the defect kinds cannot be read.
    case defectKinds(path: String, reason: String)
    /// Training or the audit refused its data.
    case training(String)
    /// An evaluation was pointed at something it cannot judge (no models, no such split).
    case invalidInput(String)

    public var description: String {
        switch self {
        case .noChampion(let stage, let next): "no stage-\(stage) champion in the registry; \(next)"
        case .noLabels(let why): why
        case .unreadable(let path): "cannot read \(path)"
        case .rejectedRows(_, let problems): "\(problems.count) rejected row\(problems.count == 1 ? "" : "s"); nothing was imported"
        case .unknown(let what): what
        case .defectKinds(let path, let reason): "cannot check defect kinds against the stage-2 model \(path): \(reason)"
        case .training(let why): why
        case .invalidInput(let why): why
        }
    }
}
