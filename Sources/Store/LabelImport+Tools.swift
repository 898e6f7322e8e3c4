import Foundation

/// Label Studio and CVAT files in (`labels import`); `LabelToolExport` in Lifecycle writes
/// what these read.
extension LabelImport {
    /// Which file: by extension (.json Label Studio, .xml CVAT, else CSV).
    public enum Format: String, Sendable, CaseIterable {
        case csv, labelstudio, cvat

        public init(file: String) {
            let lower = file.lowercased()
            self = lower.hasSuffix(".json") ? .labelstudio : lower.hasSuffix(".xml") ? .cvat : .csv
        }
    }

    /// The rows of a labels file in `format`, and why any was refused; `unlabelled` counts
    /// the tasks or images nobody labelled (left out, not refused).
    public static func parse(_ data: Data, format: Format, frames: Set<Int64>, kinds: Set<String>?) -> (rows: [Row], problems: [String], unlabelled: Int) {
        switch format {
        case .csv:
            let r = parse(String(decoding: data, as: UTF8.self), frames: frames, kinds: kinds)
            return (r.rows, r.problems, 0)
        case .labelstudio:
            do {
                let (entries, unlabelled) = try labelStudio(data)
                let r = check(entries, frames: frames, kinds: kinds)
                return (r.rows, r.problems, unlabelled)
            } catch { return ([], shown(["\(error)"]), 0) }
        case .cvat:
            do {
                let (entries, unlabelled) = try cvat(String(decoding: data, as: UTF8.self))
                let r = check(entries, frames: frames, kinds: kinds)
                return (r.rows, r.problems, unlabelled)
            } catch { return ([], shown(["\(error)"]), 0) }
        }
    }

    struct FileProblem: Error, CustomStringConvertible {
        var description: String
    }

    /// A Label Studio JSON export: a list of tasks; each task's frame is `data.frame_id`
    /// (else the number in `data.image`'s file name), its label the choices of its last
    /// annotation that was not cancelled ("good", or defect kinds). Predictions are the
    /// model's, never labels.
    static func labelStudio(_ data: Data) throws -> (entries: [Entry], unlabelled: Int) {
        let json: Any
        do { json = try JSONSerialization.jsonObject(with: data) } catch {
            throw FileProblem(description: "not JSON: a Label Studio export (JSON) is a list of tasks")
        }
        guard let tasks = json as? [Any] else { throw FileProblem(description: "a Label Studio export (JSON) is a list of tasks; this is not a list") }
        var entries: [Entry] = [], unlabelled = 0
        for (n, item) in tasks.enumerated() {
            guard let task = item as? [String: Any], let fields = task["data"] as? [String: Any] else {
                entries.append(Entry(at: "task \(n + 1)", frame: "", defects: []))
                continue
            }
            let at = "task \(n + 1)" + ((task["id"] as? Int).map { " (id \($0))" } ?? "")
            let frame: String
            switch fields["frame_id"] {
            case nil: frame = Self.frame(fromFile: fields["image"] as? String ?? "")
            case let id as String: frame = id
            case let n as NSNumber where String(cString: n.objCType) != "c" && n.doubleValue == n.doubleValue.rounded() && abs(n.doubleValue) < 1e15:
                frame = String(n.int64Value)
            default: frame = "(not an integer)"
            }
            let annotations = (task["annotations"] as? [Any] ?? []).compactMap { $0 as? [String: Any] }.filter { ($0["was_cancelled"] as? Bool) != true }
            guard let last = annotations.last else { unlabelled += 1; continue }
            let results = (last["result"] as? [Any] ?? []).compactMap { $0 as? [String: Any] }
            // the labelling config `labels export` writes names its choices "defects"
            let choices = results.filter { ($0["type"] as? String) == "choices" && ($0["from_name"] as? String ?? "defects") == "defects" }
                .flatMap { (($0["value"] as? [String: Any])?["choices"] as? [Any] ?? []).map { "\($0)" } }
            guard !choices.isEmpty else { unlabelled += 1; continue }
            entries.append(Entry(at: at, frame: frame, defects: choices, fromTool: true))
        }
        return (entries, unlabelled)
    }

    /// A CVAT for images 1.1 XML: each `<image name=...>`'s `<tag label=...>`s ("good", or
    /// defect kinds); its frame is the number in its file name. An image without tags is
    /// unlabelled.
    static func cvat(_ text: String) throws -> (entries: [Entry], unlabelled: Int) {
        let events: [XMLScanner.Event]
        do { events = try XMLScanner.scan(text) } catch { throw FileProblem(description: "not a CVAT XML: \(error)") }
        guard case .start("annotations", _)? = events.first else {
            throw FileProblem(description: "not a CVAT for images XML: its root element must be <annotations>")
        }
        var entries: [Entry] = [], unlabelled = 0
        var current: (at: String, frame: String, tags: [String])?
        for e in events {
            switch e {
            case .start("image", let a):
                let name = a["name"] ?? ""
                current = ("image \(a["id"] ?? "?") (\(String(name.prefix(80))))", frame(fromFile: name), [])
            case .start("tag", let a):
                current?.tags.append(a["label"] ?? "")
            case .end("image"):
                if let c = current {
                    if c.tags.isEmpty { unlabelled += 1 } else { entries.append(Entry(at: c.at, frame: c.frame, defects: c.tags, fromTool: true)) }
                }
                current = nil
            default: break
            }
        }
        return (entries, unlabelled)
    }
}
