import Capture
import Foundation
import Imaging
import LinesightCore
import Store

/// Writes the frames worth keeping as JPEG under one folder:
/// `<root>/<camera>/<yyyy-mm-dd>/<HH>/<sequence>-<ms in hour>.jpg` (UTC). MJPEG frames are written as
/// they came (no re-encoding, byte-exact); raw frames are encoded at `quality`.
public final class FrameSaver: @unchecked Sendable {
    public let root: String
    public let quality: Int
    private let encoder: JPEGEncoder
    private var image = Image()
    private let lock = NSLock()

    public init(root: String, quality: Int = 90) throws {
        self.root = root
        self.quality = quality
        encoder = try JPEGEncoder()
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    /// The record to store with the verdict; the path in it is relative to `root`. The whole
    /// frame is kept, with `roi`, the region the daemon judged, in the record: export, retraining
    /// and review crop by it (MJPEG frames stay byte-exact, and a changed ROI stays visible).
    public func save(_ frame: Frame, camera: String, keptBecause: FrameRecord.KeptBecause, roi: Rect? = nil) throws -> FrameRecord {
        try lock.withLock { try saveLocked(frame, camera: camera, keptBecause: keptBecause, roi: roi) }
    }

    private func saveLocked(_ frame: Frame, camera: String, keptBecause: FrameRecord.KeptBecause, roi: Rect?) throws -> FrameRecord {
        let bytes: [UInt8]
        if frame.format == .mjpeg {
            bytes = frame.bytes
        } else {
            let layout: PixelLayout = frame.format == .grey ? .gray : .rgb
            try frame.withView { view in
                try convert(view, roi: Rect(x: 0, y: 0, width: frame.width, height: frame.height), to: layout, into: &image)
            }
            bytes = try encoder.encode(image, quality: quality)
        }
        let relative = Self.relativePath(camera: camera, time: frame.timestamp, sequence: frame.sequence)
        let full = root + "/" + relative
        try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        guard FileManager.default.createFile(atPath: full, contents: Data(bytes)) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: full])
        }
        return FrameRecord(path: relative, sha256: Hashing.sha256(bytes), bytes: Int64(bytes.count),
                           width: frame.width, height: frame.height, keptBecause: keptBecause,
                           roi: roi.map { FrameRegion(x: $0.x, y: $0.y, width: $0.width, height: $0.height) })
    }

    static func relativePath(camera: String, time: Double, sequence: UInt64) -> String {
        var t = time_t(time.rounded(.down))
        var parts = tm()
        gmtime_r(&t, &parts)
        let day = String(format: "%04d-%02d-%02d", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday)
        let millisInHour = Int((time * 1000).rounded(.down)) % 3_600_000
        return "\(camera)/\(day)/\(String(format: "%02d", parts.tm_hour))/\(String(format: "%010llu-%07d", sequence, millisInHour)).jpg"
    }
}
