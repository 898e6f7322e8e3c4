import Foundation
import Neural

/// What a staged run produced and measured.
public struct StagedResult {
    public var stage1: TrainedStage
    /// Nil when the data holds no defect kinds.
    public var stage2: TrainedStage?
    public var thresholds: PickedThresholds
    /// Stage-1 softmax temperature and the validation calibration error before/after it.
    public var temperature: Double
    public var calibrationError: (before: Double, after: Double)
    /// The fitted temperature would have made the validation ECE worse, so T = 1 was kept.
    public var calibrationFellBack = false
    /// Stage-1 figures on the validation and test splits at the picked thresholds.
    public var validation: StageOneReport
    public var test: StageOneReport
    /// Stage 2 on the test split (per-kind precision/recall at 0.5).
    public var stage2Test: MultiLabelEvaluation?
    /// Stage 2 on the test split at the per-kind thresholds picked on validation.
    public var stage2Tuned: MultiLabelScores?
    /// The whole line on the test split: stage 1, then stage 2 for the unsure parts.
    public var lineTest: LineDecisionReport?
    /// With stage 2: the line's operating point picked on validation (`LineOperatingPoint`);
    /// `thresholds` and `kindThresholds` are its.
    public var operatingPoint: LineOperatingPoint.Choice?
    public var counts: (train: Int, validation: Int, test: Int)
    /// How the images were split ("the tree's own train/, val/, test/" or "7:2:1 by file hash").
    public var splitSource: String
    /// The model input used (the option's, the init model's or fitted to the images).
    public var inputSize: InputSize
    /// The test split's images: the frozen golden set a later retraining is judged on.
    public var testItems: [LabeledImage]
    /// Calibrated stage-1 P(defect) of each test image, in `testItems` order.
    public var testDefectProbabilities: [Double]
    /// Stage 2's score per kind of each test image, in `testItems` order (empty without stage 2).
    public var testKindScores: [[Float]] = []
    /// Stage 2's per-kind thresholds, in the order of its classes.
    public var kindThresholds: [Double] = []
    /// The kinds of the stage 2 that scored the test parts: the trained one's, or those of
    /// the line's shared stage 2 (`StagedOptions.StageTwoSource.live`); empty without one.
    public var stageTwoKinds: [String] = []
    public var skipped: [String]
    /// With `--unlabeled`: the pseudo-labels stage 1's student learnt from.
    public var selfTraining: SelfTraining.Summary?
    public var imbalance: String
}
