import Foundation
import Inspection
import Store
import Training

/// The label audit of a line (`linesight audit-labels`): every labeled frame of the
/// database (and every image of an extra ImageFolder tree) scored by a model that never saw
/// it (`LabelAuditor`, out-of-fold); suspects go back to the review queue as "suspect label".
public final class LabelAuditRun {
    public struct Settings {
        /// Also audit (and learn from) this ImageFolder tree.
        public var data: String?
        public var folds = 5
        public var epochs = 12
        public var confidence = 0.9
        /// Report only: flag nothing.
        public var dryRun = false
        public init() {}
    }

    public struct Summary {
        public var champion: ModelRecord
        public var labels: Int
        /// Frames judged with another ROI than the camera's current one, left out.
        public var skippedFraming: Int
        public var findings: [LabelAuditor.Finding]
        /// The suspects, surest first.
        public var suspects: [LabelAuditor.Finding]
        public var skipped: [String]
        /// Suspects sent back to the review queue (0 on a dry run).
        public var flagged: Int
        /// The database frame of each audited image (images of `data` have none).
        public var frameOf: [String: Int64]
    }

    public let config: LineConfig
    public let store: Store
    /// The product whose labels are audited, with its stage-1 champion's architecture ('' the
    /// `[models]` set, which also takes the frames judged before products were named).
    public let product: String
    public var onStart: ((_ labels: Int, _ skippedFraming: Int, _ champion: ModelRecord) -> Void)?
    public var onBatch: ((BatchProgress) -> Void)?
    public var onEpoch: ((EpochReport) -> Void)?
    public var onStep: ((String) -> Void)?

    public init(config: LineConfig, store: Store, product: String = "") {
        (self.config, self.store, self.product) = (config, store, product)
    }

    public func run(_ s: Settings) throws -> Summary {
        guard let champion = try store.champion(stage: 1, product: product) else {
            throw LifecycleError.noChampion(stage: 1, next: "its architecture and input size are what the audit trains; run `linesight train` first")
        }
        let labels = try store.currentLabels().filter { config.belongs($0.product, to: product) }
        // The regions the daemon judged (each frame's ROI), as retraining sees them.
        let exported = NSTemporaryDirectory() + "linesight-audit-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: exported, withIntermediateDirectories: false)  // fails if it exists
        defer { try? FileManager.default.removeItem(atPath: exported) }
        let framed = try LabelExport.writeImageFolder(labels, frames: config.framesDirectory, to: exported, framing: .current(config.currentFraming))
        var (items, frameOf) = Self.items(labels, in: exported)
        if let data = s.data { items += try Self.scan(data) }
        onStart?(labels.count, framed.skippedFraming, champion)
        let auditor = LabelAuditor()
        (auditor.onBatch, auditor.onEpoch, auditor.onStep) = (onBatch, onEpoch, onStep)
        var inputs = LabelAuditor.Inputs(championPath: champion.file, items: items)
        (inputs.folds, inputs.epochs, inputs.confidence) = (s.folds, s.epochs, s.confidence)
        let result: (findings: [LabelAuditor.Finding], skipped: [String])
        do { result = try auditor.run(inputs) } catch let e as TrainingError { throw LifecycleError.training("\(e)") }
        let suspects = result.findings.filter(\.suspect).sorted { abs($0.defectProbability - 0.5) > abs($1.defectProbability - 0.5) }
        var flagged = 0
        if !s.dryRun {
            for f in suspects {
                if let frame = frameOf[f.item.file], try store.flagSuspectLabel(frame: frame, note: f.reason) { flagged += 1 }
            }
        }
        return Summary(champion: champion, labels: labels.count, skippedFraming: framed.skippedFraming, findings: result.findings,
                       suspects: suspects, skipped: result.skipped, flagged: flagged, frameOf: frameOf)
    }

    /// Every audited image with its score, as CSV.
    public static func reportCSV(_ s: Summary) -> String {
        var csv = "file,frame_id,label,defects,fold,p_defect,suspect\n"
        for f in s.findings {
            csv += "\(f.item.file),\(s.frameOf[f.item.file].map(String.init) ?? ""),\(f.item.label),\(f.item.defects.joined(separator: "+")),\(f.fold),"
                + String(format: "%.4f", f.defectProbability) + ",\(f.suspect)\n"
        }
        return csv
    }

    /// The exported frames as labeled images, with the frame of each file.
    private static func items(_ labels: [FrameLabel], in exported: String) -> ([LabeledImage], [String: Int64]) {
        var frameOf: [String: Int64] = [:]
        let items: [LabeledImage] = labels.compactMap { l in
            let label = l.defects.first ?? "good"
            let file = exported + "/\(label)/\(l.frameId).jpg"
            guard FileManager.default.fileExists(atPath: file) else { return nil }
            frameOf[file] = l.frameId
            return LabeledImage(file: file, label: label, defects: l.defects)
        }
        return (items, frameOf)
    }

    private static func scan(_ data: String) throws -> [LabeledImage] {
        let root = URL(fileURLWithPath: data).standardizedFileURL.path
        do {
            return try ImageFolder.scan(root, passClass: "good").map { LabeledImage(file: root + "/" + $0.file, label: $0.label, defects: $0.defects) }
        } catch let e as TrainingError { throw LifecycleError.training("\(e)") }
    }
}
