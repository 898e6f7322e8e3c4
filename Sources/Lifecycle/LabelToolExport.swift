import Foundation
import Imaging
import Inspection
import Store

/// Labels out to the labelling tools people use: Label Studio (a task list with the labels
/// as annotations and the model's calls as predictions, plus its labelling config) and CVAT
/// (a CVAT for images 1.1 XML with one tag per kind). Images are written as the daemon
/// judged them (the ROI cut out), named by frame id, so `labels import` finds each frame
/// again in what the tool exports.
public enum LabelToolExport {
    public enum Tool: Sendable { case labelStudio, cvat }

    /// One frame to write: labelled (`defects`, empty = good) or still to label (nil), with the model's call.
    public struct Item: Sendable {
        public var frameId: Int64
        public var path: String
        public var camera: String
        public var roi: FrameRegion?
        public var defects: [String]?
        public var prediction: [String]?
        public var model: String?

        public init(_ l: FrameLabel) {
            (frameId, path, camera, roi, defects) = (l.frameId, l.path, l.camera, l.roi, l.defects)
        }

        public init(_ f: FlaggedFrame) {
            (frameId, path, camera, roi, model) = (f.frameId, f.path, f.camera, f.roi, f.stage1Model)
            // the model's call: a pass is good, a fail its kinds (a fail that names none predicts nothing)
            let kinds = f.defects.split(separator: ",").map(String.init)
            prediction = f.decision == .pass ? [] : f.decision == .fail && !kinds.isEmpty ? kinds : nil
        }
    }

    /// Writes `items` under `out` (images/, replaced, and the tool's file); `kinds` are the
    /// choices offered besides "good". A frame whose file is gone (retention) is left out and
    /// counted. Returns how many were labelled, to label, and missing.
    @discardableResult
    public static func write(_ tool: Tool, _ items: [Item], kinds: [String], frames: String, to out: String) throws -> (labelled: Int, toLabel: Int, missing: Int) {
        let fm = FileManager.default
        try fm.createDirectory(atPath: out + "/images", withIntermediateDirectories: true)
        // no frame image of an earlier export lingers (only ours: <frame id>.jpg)
        for f in (try? fm.contentsOfDirectory(atPath: out + "/images")) ?? [] where f.hasSuffix(".jpg") && Int64(f.dropLast(4)) != nil {
            try? fm.removeItem(atPath: out + "/images/" + f)
        }
        let decoder = try JPEGDecoder(), encoder = try JPEGEncoder()
        var sizes: [(width: Int, height: Int)] = [], written: [Item] = []
        for item in items {
            for kind in item.defects ?? [] { try DefectKind.validate(kind) }
            let source = item.path.hasPrefix("/") ? item.path : frames + "/" + item.path
            guard fm.fileExists(atPath: source) else { continue }
            sizes.append(try LabelExport.writeJudgedRegion(item.path, roi: item.roi, frames: frames, to: out + "/images/\(item.frameId).jpg",
                                                           decoder: decoder, encoder: encoder))
            written.append(item)
        }
        let missing = items.count - written.count
        let items = written
        switch tool {
        case .labelStudio:
            try labelStudioTasks(items).write(to: URL(fileURLWithPath: out + "/tasks.json"))
            try labelStudioConfig(kinds).write(toFile: out + "/labeling-config.xml", atomically: true, encoding: .utf8)
        case .cvat:
            try cvatXML(items, sizes, kinds: kinds).write(toFile: out + "/annotations.xml", atomically: true, encoding: .utf8)
        }
        let labelled = items.filter { $0.defects != nil }.count
        return (labelled, items.count - labelled, missing)
    }

    static func choices(_ defects: [String]) -> [String] { defects.isEmpty ? ["good"] : defects }

    static func labelStudioTasks(_ items: [Item]) throws -> Data {
        func result(_ choices: [String]) -> [[String: Any]] {
            [["from_name": "defects", "to_name": "image", "type": "choices", "value": ["choices": choices]]]
        }
        let tasks: [[String: Any]] = items.map { item in
            var data: [String: Any] = ["image": "/data/local-files/?d=images/\(item.frameId).jpg", "frame_id": item.frameId, "camera": item.camera]
            if let r = item.roi { data["roi"] = "\(r.x) \(r.y) \(r.width) \(r.height)" }
            var task: [String: Any] = ["data": data]
            if let d = item.defects { task["annotations"] = [["result": result(choices(d))]] }
            if let p = item.prediction { task["predictions"] = [["model_version": item.model ?? "linesight", "result": result(choices(p))]] }
            return task
        }
        return try JSONSerialization.data(withJSONObject: tasks, options: [.prettyPrinted, .sortedKeys])
    }

    static func labelStudioConfig(_ kinds: [String]) -> String {
        """
        <View>
          <Image name="image" value="$image"/>
          <Choices name="defects" toName="image" choice="multiple" showInline="true">
        \((["good"] + kinds).map { "    <Choice value=\"\(escape($0))\"/>" }.joined(separator: "\n"))
          </Choices>
        </View>

        """
    }

    static func cvatXML(_ items: [Item], _ sizes: [(width: Int, height: Int)], kinds: [String]) -> String {
        var x = """
        <?xml version="1.0" encoding="utf-8"?>
        <annotations>
          <version>1.1</version>
          <meta>
            <task>
              <name>linesight labels</name>
              <size>\(items.count)</size>
              <mode>annotation</mode>
              <labels>

        """
        for k in ["good"] + kinds { x += "        <label><name>\(escape(k))</name><type>tag</type><attributes></attributes></label>\n" }
        x += "      </labels>\n    </task>\n  </meta>\n"
        for (n, (item, size)) in zip(items, sizes).enumerated() {
            x += "  <image id=\"\(n)\" name=\"\(item.frameId).jpg\" width=\"\(size.width)\" height=\"\(size.height)\">\n"
            for tag in item.defects.map(choices) ?? [] { x += "    <tag label=\"\(escape(tag))\" source=\"manual\"></tag>\n" }
            x += "  </image>\n"
        }
        return x + "</annotations>\n"
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
