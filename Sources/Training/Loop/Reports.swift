/// Where a run is, reported after every batch (for progress bars).
public struct BatchProgress: Sendable {
    public var epoch: Int, epochs: Int
    public var batch: Int, batches: Int
    /// Running means over the epoch so far.
    public var loss: Double, accuracy: Double
    public var imagesPerSecond: Double
    /// Estimated seconds left in the whole run.
    public var etaSeconds: Double
    public var learningRate: Float
}

/// One finished epoch.
public struct EpochReport: Codable, Equatable, Sendable {
    public var epoch: Int
    public var trainLoss: Double, trainAccuracy: Double
    public var validationLoss: Double?, validationAccuracy: Double?, validationMacroF1: Double?
    public var seconds: Double, imagesPerSecond: Double
    public var learningRate: Float
}

/// How a run ended.
public struct TrainingSummary: Sendable {
    public var history: [EpochReport]
    public var bestEpoch: Int?
    public var bestValidationAccuracy: Double?
    public var stoppedEarly: Bool
    /// Ended by `shouldStop` before the last epoch; the checkpoint resumes it.
    public var interrupted: Bool
    public var resumedFromEpoch: Int
}
