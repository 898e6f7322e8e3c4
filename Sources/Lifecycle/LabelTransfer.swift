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

    /// The kinds a label may name: the stage-2 model's (on a line without stage 2, the kinds
    /// labelled so far) and those reviewers named since.
    public func labelableKinds() throws -> Set<String> {
        let base = try knownDefectKinds() ?? Set(try store.knownDefectKinds())
        return base.union(try store.namedDefectKinds().map(\.name))
    }

    /// `newKinds` checked as names of new kinds beside `known`: well formed, and not a
    /// known kind in another case (one model cannot hold both).
    func checkNew(_ newKinds: [String], known: Set<String>) throws {
        if let bad = newKinds.first(where: { !DefectKind.isValid($0) }) {
            throw LifecycleError.unknown("defect kind '\(bad)' is not a valid name (\(DefectKind.rule))")
        }
        for k in newKinds {
            if let twin = DefectKind.caseTwin(of: k, in: known.union(newKinds)) {
                throw LifecycleError.unknown("new kind \(k) differs from the kind \(twin) only in case; use \(twin)")
            }
        }
    }

    /// Labels `frames` with `defects` (empty: good). All or nothing: a badly named or
    /// unknown kind, or a frame that does not exist, labels nothing. A kind neither stage 2
    /// nor a reviewer knows must be confirmed once in `newKinds`; it is recorded with the
    /// labels. Returns the kinds that were new (named for the first time).
    @discardableResult
    public func label(frames: [Int64], defects: [String], who: String, newKinds: [String] = []) throws -> [String] {
        if let bad = defects.first(where: { !DefectKind.isValid($0) }) {
            throw LifecycleError.unknown("defect kind '\(bad)' is not a valid name (\(DefectKind.rule))")
        }
        if let stray = newKinds.first(where: { !defects.contains($0) }) {
            throw LifecycleError.unknown("--new-kind \(stray) is not among the kinds given with --as (\(defects.joined(separator: ",")))")
        }
        let known = try labelableKinds()
        try checkNew(newKinds, known: known)
        let unknown = defects.filter { !known.contains($0) && !newKinds.contains($0) }
        guard unknown.isEmpty else {
            let hint = DefectKind.caseTwin(of: unknown[0], in: known).map { "did you mean \($0)? " } ?? ""
            throw LifecycleError.unknown("unknown defect kinds \(unknown.joined(separator: ", ")); known: \(known.sorted().joined(separator: ", ")). "
                + "\(hint)If it is a new kind of defect, confirm it once with --new-kind \(unknown[0]) (until stage 2 learns it, such parts fail)")
        }
        do { try store.label(frames: frames, defects: defects, who: who, newKinds: newKinds) } catch StoreError.notFound(let what) {
            throw LifecycleError.unknown("\(what) does not exist; nothing was labeled")
        }
        return newKinds.filter { !known.contains($0) }
    }

    /// Imports a labels file: a CSV (frame_id, defects), a Label Studio JSON export or a CVAT
    /// XML (`format`, or by extension). Every row is checked first: one bad row imports
    /// nothing. Returns how many labels were imported and how many tasks or images in the
    /// file nobody had labelled.
    public func importLabels(_ file: String, format: LabelImport.Format? = nil, who: String, newKinds: [String] = []) throws -> (imported: Int, unlabelled: Int, unchanged: Int) {
        let size = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? 0
        guard size <= Self.largestImport else {
            throw LifecycleError.unknown("\(file) is \(size >> 20) MB; a labels file may be at most \(Self.largestImport >> 20) MB")
        }
        guard let data = FileManager.default.contents(atPath: file) else { throw LifecycleError.unreadable(path: file) }
        let known = try labelableKinds()
        try checkNew(newKinds, known: known)
        let parsed = LabelImport.parse(data, format: format ?? LabelImport.Format(file: file), frames: try store.frameIds(),
                                       kinds: known.union(newKinds))
        guard parsed.problems.isEmpty else { throw LifecycleError.rejectedRows(file: file, problems: parsed.problems) }
        let used = Set(parsed.rows.flatMap(\.defects))
        if let stray = newKinds.first(where: { !used.contains($0) }) {
            throw LifecycleError.unknown("--new-kind \(stray) labels no row of \(file); nothing was imported")
        }
        // a label the frame already has is not given again (who gave it, and when, stay)
        let current = Dictionary(try store.currentLabels().map { ($0.frameId, Set($0.defects)) }, uniquingKeysWith: { a, _ in a })
        let changed = parsed.rows.filter { current[$0.frame] != Set($0.defects) }
        // a label confirmed as it was still closes the frame's flags (a suspect label cleared)
        try store.label(changed.map { ($0.frame, $0.defects) }, who: who, source: "import", newKinds: newKinds.filter { k in changed.contains { $0.defects.contains(k) } },
                        confirmed: parsed.rows.filter { current[$0.frame] == Set($0.defects) }.map(\.frame))
        return (changed.count, parsed.unlabelled, parsed.rows.count - changed.count)
    }

    /// The largest labels file `importLabels` reads.
    public static let largestImport = 256 << 20

    /// Imports a CSV of labels (frame_id, defects); see `importLabels`.
    @discardableResult
    public func importCSV(_ file: String, who: String, newKinds: [String] = []) throws -> Int {
        try importLabels(file, format: .csv, who: who, newKinds: newKinds).imported
    }

    public enum ExportFormat: String, CaseIterable, Sendable { case imagefolder, csv, json, labelstudio, cvat }

    /// What an export wrote.
    public struct Exported {
        public var labels: [FrameLabel]
        /// For an ImageFolder tree: its framings (a training set should not mix them).
        public var folder: LabelExport.Report?
        /// For Label Studio and CVAT: the open review queue's frames written to label, and the
        /// frames left out because their files are gone.
        public var toLabel = 0
        public var missing = 0
        /// For Label Studio and CVAT: the labelled frames written.
        public var labelled: Int?
    }

    /// Writes the current labels (given at or after `since`) to `out`. For Label Studio and
    /// CVAT, `includeFlagged` adds the open review queue's unlabelled frames, to label there
    /// (with the model's call as a Label Studio prediction).
    public func export(_ format: ExportFormat, to out: String, since: Double?, includeFlagged: Bool = false) throws -> Exported {
        let labels = try store.currentLabels(since: since)
        switch format {
        case .json:
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            try enc.encode(labels).write(to: URL(fileURLWithPath: out))
        case .csv:
            try Self.csv(labels).write(toFile: out, atomically: true, encoding: .utf8)
        case .imagefolder:
            return Exported(labels: labels, folder: try LabelExport.writeImageFolder(labels, frames: config.framesDirectory, to: out))
        case .labelstudio, .cvat:
            let labelled = Set(try store.currentLabels().map(\.frameId))
            var seen = Set<Int64>()
            let queue = includeFlagged ? try store.openFlags(limit: 100_000).filter { !labelled.contains($0.frameId) && seen.insert($0.frameId).inserted } : []
            let items = labels.map(LabelToolExport.Item.init) + queue.map(LabelToolExport.Item.init)
            let kinds = try labelableKinds().union(labels.flatMap(\.defects)).union(queue.flatMap { $0.defects.split(separator: ",").map(String.init) }).sorted()
            let r = try LabelToolExport.write(format == .cvat ? .cvat : .labelStudio, items, kinds: kinds, frames: config.framesDirectory, to: out)
            return Exported(labels: labels, toLabel: r.toLabel, missing: r.missing, labelled: r.labelled)
        }
        return Exported(labels: labels)
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
