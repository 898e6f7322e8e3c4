import Foundation
import Imaging
import Store

/// Labeled frames out as the ImageFolder tree `train --data` and `retrain` read:
/// OUT/<first defect or good>/<frame id>.jpg plus OUT/labels.csv with every defect. Each
/// image is the region the daemon judged (the frame's stored ROI, cut out and encoded at
/// quality 95), so a model is trained on what the line inspects; a frame kept without an
/// ROI is copied as it is (byte-exact).
public enum LabelExport {
    /// Which labeled frames go into a training set.
    public enum Framing: Sendable {
        /// Every frame, each cut to its own stored ROI (`labels export`).
        case asJudged
        /// Only frames whose stored ROI is the camera's region now (nil: the whole frame);
        /// the others were framed differently and are skipped and counted (`retrain`,
        /// `train --labels`): one training set never mixes framings.
        case current([String: Rect?])
    }

    public struct Report: Sendable, Equatable {
        public var defective = 0
        public var good = 0
        /// Frames left out because their framing is not the camera's current one.
        public var skippedFraming = 0
        /// The distinct framings written (camera, ROI or "whole frame").
        public var framings: Set<String> = []
    }

    /// Writes `labels` under `out`; `frames` is the kept-frames folder their paths are relative to.
    public static func writeImageFolder(_ labels: [FrameLabel], frames: String, to out: String,
                                        framing: Framing = .asJudged) throws -> Report {
        let fm = FileManager.default
        try fm.createDirectory(atPath: out, withIntermediateDirectories: true)
        var report = Report()
        var csv = CSV.row(["file", "label", "defects"])
        let decoder = try JPEGDecoder(), encoder = try JPEGEncoder()
        for l in labels {
            let roi = l.roi.map { Rect(x: $0.x, y: $0.y, width: $0.width, height: $0.height) }
            if case .current(let regions) = framing, regions[l.camera].map({ $0 == roi }) != true {
                report.skippedFraming += 1
                continue
            }
            for kind in l.defects { try DefectKind.validate(kind) }
            let label = l.defects.first ?? "good"
            let file = "\(label)/\(l.frameId).jpg"
            try fm.createDirectory(atPath: out + "/" + label, withIntermediateDirectories: true)
            _ = try writeJudgedRegion(l.path, roi: l.roi, frames: frames, to: out + "/" + file, decoder: decoder, encoder: encoder)
            csv += CSV.row([file, label, l.defects.joined(separator: "+")])
            report.framings.insert("\(l.camera) " + (roi.map { "\($0.x),\($0.y) \($0.width)x\($0.height)" } ?? "whole frame"))
            if l.defects.isEmpty { report.good += 1 } else { report.defective += 1 }
        }
        try csv.write(toFile: out + "/labels.csv", atomically: true, encoding: .utf8)
        return report
    }

    /// One kept frame (`path`, relative to `frames` unless absolute) written to `target` as
    /// the daemon judged it: its ROI cut out, or the file as it is. Returns the image's size.
    public static func writeJudgedRegion(_ path: String, roi region: FrameRegion?, frames: String, to target: String,
                                         decoder: JPEGDecoder, encoder: JPEGEncoder) throws -> (width: Int, height: Int) {
        let source = path.hasPrefix("/") ? path : frames + "/" + path
        try? FileManager.default.removeItem(atPath: target)
        if let r = region {
            try crop(source, Rect(x: r.x, y: r.y, width: r.width, height: r.height), to: target, decoder: decoder, encoder: encoder)
            return (r.width, r.height)
        }
        try FileManager.default.copyItem(atPath: source, toPath: target)
        guard let data = FileManager.default.contents(atPath: target) else { throw InspectionError.config("cannot read \(target)") }
        let h = try data.withUnsafeBytes { try decoder.header($0) }
        return (h.width, h.height)
    }

    /// The region `roi` of the JPEG at `source`, as a JPEG at `target`.
    static func crop(_ source: String, _ roi: Rect, to target: String, decoder: JPEGDecoder, encoder: JPEGEncoder) throws {
        guard let data = FileManager.default.contents(atPath: source) else {
            throw InspectionError.config("cannot read the kept frame \(source)")
        }
        // a gray frame stays gray: a training reads the colour from the files it is given
        let gray = try data.withUnsafeBytes { try decoder.header($0) }.isGray
        let full = try decoder.decode([UInt8](data), layout: gray ? .gray : .rgb)
        let bytes = try encoder.encode(try full.cropped(to: roi), quality: 95)
        guard FileManager.default.createFile(atPath: target, contents: Data(bytes)) else {
            throw InspectionError.config("cannot write \(target)")
        }
    }
}
