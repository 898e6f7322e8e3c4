import Foundation
import Inspection
import Neural
import Store

/// Labels in and out of a line's database (`linesight label`, `labels import`, `labels
/// export`): kinds checked against the stage-2 model, CSV imports all or nothing, exports
/// as an ImageFolder tree (what `train --data` and `retrain --data` read), CSV or JSON.
public struct LabelTransfer {
    public let config: LineConfig
    public let store: Store

    public init(config: LineConfig, store: Store) {
        (self.config, self.store) = (config, store)
    }

    /// The stage-2 model's defect kinds, when the config names one; a file that cannot be
    /// read is an error (once, a broken file silently switched the kind check off).
    public func knownDefectKinds() throws -> Set<String>? {
        guard let s2 = config.models.stage2 else { return nil }
        do { return Set(try ModelFile.load(path: s2).metadata.classes) } catch {
            throw LifecycleError.defectKinds(path: s2, reason: "\(error)")
        }
    }

    /// The kinds a label may name: the stage-2 model's and those reviewers named since
    /// (`newKinds`); nil when the line has no stage 2 (any well-formed name).
    public func labelableKinds() throws -> Set<String>? {
        guard let model = try knownDefectKinds() else { return nil }
        return model.union(try store.namedDefectKinds().map(\.name))
    }

    /// Labels `frames` with `defects` (empty: good). All or nothing: a badly named or
    /// unknown kind, or a frame that does not exist, labels nothing. A kind neither stage 2
    /// nor a reviewer knows must be confirmed once in `newKinds`; it is recorded with the labels.
    public func label(frames: [Int64], defects: [String], who: String, newKinds: [String] = []) throws {
        if let bad = (defects + newKinds).first(where: { !DefectKind.isValid($0) }) {
            throw LifecycleError.unknown("defect kind '\(bad)' is not a valid name (1-64 letters, digits, '_' or '-')")
        }
        if let stray = newKinds.first(where: { !defects.contains($0) }) {
            throw LifecycleError.unknown("--new-kind \(stray) is not among the kinds given with --as (\(defects.joined(separator: ",")))")
        }
        if let known = try labelableKinds() {
            let unknown = defects.filter { !known.contains($0) && !newKinds.contains($0) }
            guard unknown.isEmpty else {
                throw LifecycleError.unknown("unknown defect kinds \(unknown.joined(separator: ", ")); known: \(known.sorted().joined(separator: ", ")). "
                    + "If it is a new kind of defect, confirm it once with --new-kind \(unknown[0]) (until stage 2 learns it, such parts fail)")
            }
        }
        do { try store.label(frames: frames, defects: defects, who: who, newKinds: newKinds) } catch StoreError.notFound(let what) {
            throw LifecycleError.unknown("\(what) does not exist; nothing was labeled")
        }
    }

    /// Imports a CSV of labels (frame_id, defects): every row checked first, one bad row
    /// imports nothing. Returns how many labels were imported.
    public func importCSV(_ file: String, who: String, newKinds: [String] = []) throws -> Int {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { throw LifecycleError.unreadable(path: file) }
        if let bad = newKinds.first(where: { !DefectKind.isValid($0) }) {
            throw LifecycleError.unknown("defect kind '\(bad)' is not a valid name (1-64 letters, digits, '_' or '-')")
        }
        let (rows, problems) = LabelImport.parse(text, frames: try store.frameIds(), kinds: try labelableKinds().map { $0.union(newKinds) })
        guard problems.isEmpty else { throw LifecycleError.rejectedRows(file: file, problems: problems) }
        let used = Set(rows.flatMap(\.defects))
        if let stray = newKinds.first(where: { !used.contains($0) }) {
            throw LifecycleError.unknown("--new-kind \(stray) labels no row of \(file); nothing was imported")
        }
        try store.label(rows.map { ($0.frame, $0.defects) }, who: who, source: "import", newKinds: newKinds)
        return rows.count
    }

    public enum ExportFormat: String, CaseIterable, Sendable { case imagefolder, csv, json }

    /// Writes the current labels (given at or after `since`) to `out`; returns them and,
    /// for an ImageFolder tree, what was written (its framings: a training set should not mix them).
    public func export(_ format: ExportFormat, to out: String, since: Double?) throws -> (labels: [FrameLabel], folder: LabelExport.Report?) {
        let labels = try store.currentLabels(since: since)
        switch format {
        case .json:
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            try enc.encode(labels).write(to: URL(fileURLWithPath: out))
        case .csv:
            try Self.csv(labels).write(toFile: out, atomically: true, encoding: .utf8)
        case .imagefolder:
            return (labels, try LabelExport.writeImageFolder(labels, frames: config.framesDirectory, to: out))
        }
        return (labels, nil)
    }

    static func csv(_ labels: [FrameLabel]) -> String {
        var csv = CSV.row(["frame_id", "file", "label", "defects", "who", "labeled_at", "camera", "roi"])
        for l in labels {
            csv += CSV.row(["\(l.frameId)", l.path, l.defects.first ?? "good", l.defects.joined(separator: "+"), l.who, utc(l.labeledAt),
                            l.camera, l.roi.map { "\($0.x) \($0.y) \($0.width) \($0.height)" } ?? ""])
        }
        return csv
    }
}
