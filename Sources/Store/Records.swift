import Foundation
import GRDB
import LinesightCore

// The domain types live in LinesightCore; the store keeps them as their raw values.
extension Decision: DatabaseValueConvertible {}
extension FlagReason: DatabaseValueConvertible {}

public struct CameraRecord: Codable, Sendable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "cameras"
    public var id: String
    public var source: String
    public var createdAt: Double

    enum CodingKeys: String, CodingKey { case id, source, createdAt = "created_at" }
}

/// One verdict row: every judged (or unjudgeable) frame gets exactly one.
public struct VerdictRecord: Codable, Sendable, Equatable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "verdicts"
    public var id: Int64?
    public var cameraId: String
    public var capturedAt: Double
    public var frameSequence: Int64
    public var stage1Score: Double?
    /// JSON object: defect kind -> stage-2 probability (nil when stage 2 did not run).
    public var stage2Scores: String?
    public var decision: Decision
    /// Comma-separated defect kinds of a fail ("" for a pass).
    public var defects: String
    public var stage1Model: String?
    public var stage2Model: String?
    public var stage1Ms: Double?
    public var stage2Ms: Double?
    public var totalMs: Double
    /// Comma-separated flag reasons.
    public var flags: String
    public var error: String?
    /// The part this frame was taken for (a station's trigger); nil for a free-running camera.
    public var partId: Int64?
    /// The product the line was making (`[[products]]`; its models judged the frame). Nil
    /// before v10.
    public var product: String?

    public init(cameraId: String, capturedAt: Double, frameSequence: Int64, stage1Score: Double?,
                stage2Scores: String? = nil, decision: Decision, defects: [String] = [], stage1Model: String? = nil,
                stage2Model: String? = nil, stage1Ms: Double? = nil, stage2Ms: Double? = nil, totalMs: Double,
                flags: [FlagReason] = [], error: String? = nil) {
        self.cameraId = cameraId
        self.capturedAt = capturedAt
        self.frameSequence = frameSequence
        self.stage1Score = stage1Score
        self.stage2Scores = stage2Scores
        self.decision = decision
        self.defects = defects.joined(separator: ",")
        self.stage1Model = stage1Model
        self.stage2Model = stage2Model
        self.stage1Ms = stage1Ms
        self.stage2Ms = stage2Ms
        self.totalMs = totalMs
        self.flags = flags.map(\.rawValue).joined(separator: ",")
        self.error = error
    }

    /// What is recorded when SQLite refuses this row: a no-verdict for the same frame that
    /// names the refusal, with only values the schema always takes.
    public func refusedStandIn(reason: String) -> VerdictRecord {
        var v = VerdictRecord(cameraId: cameraId, capturedAt: capturedAt.isFinite ? capturedAt : 0, frameSequence: max(0, frameSequence),
                              stage1Score: nil, decision: .noVerdict, stage1Model: stage1Model,
                              totalMs: totalMs.isFinite && totalMs >= 0 ? totalMs : 0,
                              error: "store refused the verdict row: " + String(reason.prefix(500)))
        v.partId = partId
        v.product = product.flatMap { LineID.isValid($0) ? $0 : nil }
        return v
    }

    public var defectList: [String] { defects.isEmpty ? [] : defects.split(separator: ",").map(String.init) }
    public var flagList: [FlagReason] { flags.split(separator: ",").compactMap { FlagReason(rawValue: String($0)) } }

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }

    enum CodingKeys: String, CodingKey {
        case id, decision, defects, flags, error
        case cameraId = "camera_id", capturedAt = "captured_at", frameSequence = "frame_sequence"
        case stage1Score = "stage1_score", stage2Scores = "stage2_scores"
        case stage1Model = "stage1_model", stage2Model = "stage2_model"
        case stage1Ms = "stage1_ms", stage2Ms = "stage2_ms", totalMs = "total_ms", partId = "part_id", product
    }
}

/// One part: a station's trigger, judged from the frames of its views. It fails when any
/// view fails; with no verdict for a view by the deadline it is a no-verdict (rejected).
public struct PartRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "parts"
    public var id: Int64
    public var station: String
    public var triggeredAt: Double
    /// What the trigger carried: serial, barcode, lot or order number.
    public var serial: String?
    public var decision: Decision
    /// Comma-separated "view:kind" of a fail.
    public var defects: String
    public var views: Int
    public var frames: Int
    /// Trigger to verdict, milliseconds.
    public var decidedMs: Double
    public var error: String?

    public init(id: Int64, station: String, triggeredAt: Double, serial: String?, decision: Decision, defects: [String],
                views: Int, frames: Int, decidedMs: Double, error: String?) {
        self.id = id
        self.station = station
        self.triggeredAt = triggeredAt
        self.serial = serial
        self.decision = decision
        self.defects = defects.joined(separator: ",")
        self.views = views
        self.frames = frames
        self.decidedMs = decidedMs
        self.error = error
    }

    public var defectList: [String] { defects.isEmpty ? [] : defects.split(separator: ",").map(String.init) }

    enum CodingKeys: String, CodingKey {
        case id, station, serial, decision, defects, views, frames, error
        case triggeredAt = "triggered_at", decidedMs = "decided_ms"
    }
}

/// A saved JPEG of a verdict's frame.
public struct FrameRecord: Codable, Sendable, Equatable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "frames"
    public enum KeptBecause: String, Codable, Sendable, DatabaseValueConvertible { case flagged, failed, audit }
    public var id: Int64?
    public var verdictId: Int64
    /// Relative to the frames directory.
    public var path: String
    public var sha256: String
    public var bytes: Int64
    public var width: Int
    public var height: Int
    public var keptBecause: KeptBecause
    /// Set when retention deleted the file (the row stays for its labels' sake).
    public var deletedAt: Double?
    /// The region of the frame the daemon judged (nil: the whole frame).
    public var roiX: Int?, roiY: Int?, roiWidth: Int?, roiHeight: Int?
    /// Where stage 1 saw the defect when it judged the frame (`[flagging] keep_maps`, failed
    /// frames): JSON `{"width", "height", "values"}` over the judged region; nil otherwise.
    public var defectMap: String?
    /// The longest map the store keeps (migration v6 refuses longer).
    public static let maxDefectMapBytes = 200_000
    /// Stage 1's embedding of the frame (`EmbeddingCodec`, float16), for flagged and audit
    /// frames: the review queue's order spreads over them. Nil otherwise, and before v9.
    public var embedding: Data?
    /// The version of the stage-1 model whose embedding it is (embeddings of different
    /// models are not comparable).
    public var embeddingModel: String?
    /// The longest embedding the store keeps (migration v9 refuses longer).
    public static let maxEmbeddingBytes = 32768

    public init(verdictId: Int64 = 0, path: String, sha256: String, bytes: Int64, width: Int, height: Int,
                keptBecause: KeptBecause, roi: FrameRegion? = nil, defectMap: String? = nil) {
        self.verdictId = verdictId
        self.path = path
        self.sha256 = sha256
        self.bytes = bytes
        self.width = width
        self.height = height
        self.keptBecause = keptBecause
        self.roi = roi
        self.defectMap = defectMap
    }

    public var roi: FrameRegion? {
        get {
            guard let roiX, let roiY, let roiWidth, let roiHeight else { return nil }
            return FrameRegion(x: roiX, y: roiY, width: roiWidth, height: roiHeight)
        }
        set { (roiX, roiY, roiWidth, roiHeight) = (newValue?.x, newValue?.y, newValue?.width, newValue?.height) }
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }

    enum CodingKeys: String, CodingKey {
        case id, path, sha256, bytes, width, height
        case verdictId = "verdict_id", keptBecause = "kept_because", deletedAt = "deleted_at"
        case roiX = "roi_x", roiY = "roi_y", roiWidth = "roi_w", roiHeight = "roi_h"
        case defectMap = "defect_map", embedding, embeddingModel = "embedding_model"
    }
}

public struct FlagRecord: Codable, Sendable, Equatable, FetchableRecord, MutablePersistableRecord {
    public static let databaseTableName = "flags"
    public var id: Int64?
    public var verdictId: Int64
    public var reason: FlagReason
    public var status: String
    public var createdAt: Double
    /// Why, in words, where the reason alone does not say (a drift reading).
    public var note: String?

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }

    enum CodingKeys: String, CodingKey {
        case id, reason, status, note
        case verdictId = "verdict_id", createdAt = "created_at"
    }
}

/// A verdict with what goes with it, committed together or not at all.
public struct VerdictBundle: Sendable {
    public var verdict: VerdictRecord
    public var frame: FrameRecord?
    /// A note for the flag of a reason (what a drift flag saw).
    public var flagNotes: [FlagReason: String] = [:]

    public init(verdict: VerdictRecord, frame: FrameRecord? = nil) {
        self.verdict = verdict
        self.frame = frame
    }
}

/// A rectangle of a frame in camera pixels: the region of interest the daemon judged.
public struct FrameRegion: Codable, Hashable, Sendable, CustomStringConvertible {
    public var x: Int, y: Int, width: Int, height: Int

    public init(x: Int, y: Int, width: Int, height: Int) {
        self.x = x
        self.y = y
        self.width = width
        self.height = height
    }

    public var description: String { "\(x),\(y) \(width)x\(height)" }
}
