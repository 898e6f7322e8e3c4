import Foundation
import GRDB
import Imaging
import Store
import TestSupport
import Testing

/// `labels export --format labelstudio|cvat` and `labels import` of what those tools give
/// back, on the review fixture's real JPEGs, through the shipped binary.
@Suite("labels in and out of Label Studio and CVAT")
struct LabelToolsCLITests {
    /// The fixture with frame 0 labelled scratch and frame 1 kept with an ROI (the daemon judged 32x24 of it).
    static func fixture() throws -> ReviewFixture {
        let fx = try ReviewFixture()
        #expect(try CLI.run(["label", "\(fx.frames[0])", "--as", "scratch", "--config", fx.config]).status == 0)
        try fx.store.pool.write { db in
            try db.execute(sql: "UPDATE frames SET roi_x = 8, roi_y = 4, roi_w = 32, roi_h = 24 WHERE id = ?", arguments: [fx.frames[1]])
        }
        return fx
    }

    static func size(_ file: String) throws -> (Int, Int) {
        let data = try Data(contentsOf: URL(fileURLWithPath: file))
        let h = try data.withUnsafeBytes { try JPEGDecoder().header($0) }
        return (h.width, h.height)
    }

    @Test("CVAT: labels and the review queue out as tags, the daemon's region cut out; the tool's tags back in")
    func cvatRoundTrip() throws {
        let fx = try Self.fixture()
        defer { try? FileManager.default.removeItem(atPath: fx.dir) }
        let out = fx.dir + "/cvat"
        let export = try CLI.run(["labels", "export", "--format", "cvat", "--include-flagged", "--out", out, "--config", fx.config])
        #expect(export.status == 0 && export.out.contains("exported 1 labeled frames to \(out) and 3 frames of the review queue to label"), "\(export.out)\(export.err)")
        let xml = try String(contentsOfFile: out + "/annotations.xml", encoding: .utf8)
        #expect(xml.contains("<image id=\"0\" name=\"\(fx.frames[0]).jpg\" width=\"64\" height=\"48\">\n    <tag label=\"scratch\" source=\"manual\"></tag>"), "\(xml)")
        #expect(xml.contains("name=\"\(fx.frames[1]).jpg\" width=\"32\" height=\"24\""), "the ROI's size: \(xml)")
        #expect(xml.components(separatedBy: "<image ").count - 1 == 4 && xml.components(separatedBy: "<tag ").count - 1 == 1)
        for name in ["good", "dent", "scratch"] { #expect(xml.contains("<label><name>\(name)</name><type>tag</type>"), "\(name)") }
        #expect(try Self.size(out + "/images/\(fx.frames[1]).jpg") == (32, 24), "the image is the region the daemon judged")
        #expect(try Self.size(out + "/images/\(fx.frames[2]).jpg") == (64, 48))

        // what a labeller did in CVAT: tags on two queue frames, one left untagged, the labelled one corrected
        let back = """
        <?xml version="1.0" encoding="utf-8"?>
        <annotations><version>1.1</version>
          <image id="0" name="\(fx.frames[0]).jpg" width="64" height="48"><tag label="scratch" source="manual"/><tag label="dent" source="manual"/></image>
          <image id="1" name="\(fx.frames[1]).jpg" width="32" height="24"><tag label="dent" source="manual"></tag></image>
          <image id="2" name="\(fx.frames[2]).jpg" width="64" height="48"><tag label="good" source="manual"></tag></image>
          <image id="3" name="\(fx.frames[3]).jpg" width="64" height="48"></image>
        </annotations>
        """
        try back.write(toFile: fx.dir + "/from-cvat.xml", atomically: true, encoding: .utf8)
        let imported = try CLI.run(["labels", "import", fx.dir + "/from-cvat.xml", "--who", "cvat:ana", "--config", fx.config])
        #expect(imported.status == 0 && imported.out.contains("imported 3 labels") && imported.out.contains("1 left out that nobody labelled there"),
                "\(imported.out)\(imported.err)")
        #expect(try fx.labels().suffix(3) == ["\(fx.frames[0]):scratch+dent:cvat:ana", "\(fx.frames[1]):dent:cvat:ana", "\(fx.frames[2]):good:cvat:ana"])
        // a tag nobody knows imports nothing until it is confirmed as a new kind
        try back.replacingOccurrences(of: "label=\"dent\" source=\"manual\"></tag>", with: "label=\"burr\" source=\"manual\"></tag>")
            .write(toFile: fx.dir + "/new-kind.xml", atomically: true, encoding: .utf8)
        let refused = try CLI.run(["labels", "import", fx.dir + "/new-kind.xml", "--config", fx.config])
        #expect(refused.status != 0 && refused.err.contains("unknown defect kind 'burr'") && refused.err.contains("--new-kind burr"), "\(refused.err)")
        let named = try CLI.run(["labels", "import", fx.dir + "/new-kind.xml", "--new-kind", "burr", "--config", fx.config])
        let kinds = try fx.store.namedDefectKinds().map(\.name)
        #expect(named.status == 0 && kinds == ["burr"], "\(named.err)")
    }

    @Test("Label Studio: tasks with labels as annotations and the model's calls as predictions; annotations back in")
    func labelStudioRoundTrip() throws {
        let fx = try Self.fixture()
        defer { try? FileManager.default.removeItem(atPath: fx.dir) }
        let out = fx.dir + "/ls"
        let export = try CLI.run(["labels", "export", "--format", "labelstudio", "--include-flagged", "--out", out, "--config", fx.config])
        #expect(export.status == 0, "\(export.err)")
        let tasks = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/tasks.json"))) as? [[String: Any]])
        #expect(tasks.count == 4)
        func frameId(_ t: [String: Any]) -> Int64 { ((t["data"] as? [String: Any])?["frame_id"] as? Int).map(Int64.init) ?? -1 }
        func choices(_ t: [String: Any], _ key: String) -> [String]? {
            guard let list = t[key] as? [[String: Any]], let result = (list.first?["result"] as? [[String: Any]])?.first else { return nil }
            return (result["value"] as? [String: Any])?["choices"] as? [String]
        }
        let byFrame = Dictionary(uniqueKeysWithValues: tasks.map { (frameId($0), $0) })
        #expect(choices(try #require(byFrame[fx.frames[0]]), "annotations") == ["scratch"], "the label is an annotation")
        let queued = try #require(byFrame[fx.frames[2]])   // the model said scratch
        #expect(choices(queued, "annotations") == nil && choices(queued, "predictions") == ["scratch"], "the model's call is a prediction, not a label")
        #expect(choices(try #require(byFrame[fx.frames[3]]), "predictions") == ["good"], "an audit sample the model passed")
        #expect((byFrame[fx.frames[1]]?["data"] as? [String: Any])?["roi"] as? String == "8 4 32 24")
        #expect((byFrame[fx.frames[2]]?["data"] as? [String: Any])?["image"] as? String == "/data/local-files/?d=images/\(fx.frames[2]).jpg")
        #expect(try Self.size(out + "/images/\(fx.frames[1]).jpg") == (32, 24))
        let config = try String(contentsOfFile: out + "/labeling-config.xml", encoding: .utf8)
        #expect(config.contains("<Choice value=\"good\"/>") && config.contains("<Choice value=\"dent\"/>") && config.contains("choice=\"multiple\""))

        // what Label Studio exports after a labeller accepted one prediction, corrected one, cancelled one
        var edited = tasks
        for (i, t) in edited.enumerated() {
            func annotation(_ c: [String], cancelled: Bool = false) -> [String: Any] {
                ["was_cancelled": cancelled, "result": [["type": "choices", "from_name": "defects", "to_name": "image", "value": ["choices": c]]]]
            }
            switch frameId(t) {
            case fx.frames[3]: edited[i]["annotations"] = [annotation(["dent"])]
            case fx.frames[2]: edited[i]["annotations"] = [annotation(["scratch"])]
            case fx.frames[1]: edited[i]["annotations"] = [annotation(["good"], cancelled: true)]
            default: break
            }
        }
        try JSONSerialization.data(withJSONObject: edited).write(to: URL(fileURLWithPath: fx.dir + "/project-1.json"))
        let imported = try CLI.run(["labels", "import", fx.dir + "/project-1.json", "--who", "label-studio", "--config", fx.config])
        #expect(imported.status == 0 && imported.out.contains("imported 2 labels") && imported.out.contains("1 the frames already had, left as they were")
                && imported.out.contains("1 left out"), "\(imported.out)\(imported.err)")
        let first = try fx.labels().filter { $0.hasPrefix("\(fx.frames[0]):") }
        #expect(first.count == 1 && !first[0].hasSuffix(":label-studio"), "an unchanged label is not given again, and keeps who gave it: \(first)")
        let labels = try fx.labels()
        #expect(labels.contains("\(fx.frames[3]):dent:label-studio") && labels.contains("\(fx.frames[2]):scratch:label-studio"))
        #expect(!labels.contains { $0.hasPrefix("\(fx.frames[1]):") }, "a cancelled annotation is no label")
        // a file that is not a Label Studio export imports nothing and says why
        try "{\"tasks\": []}".write(toFile: fx.dir + "/wrong.json", atomically: true, encoding: .utf8)
        let wrong = try CLI.run(["labels", "import", fx.dir + "/wrong.json", "--config", fx.config])
        #expect(wrong.status != 0 && wrong.err.contains("list of tasks"), "\(wrong.err)")
        let mixed = try CLI.run(["labels", "export", "--format", "csv", "--include-flagged", "--out", fx.dir + "/x.csv", "--config", fx.config])
        #expect(mixed.status != 0 && mixed.err.contains("--include-flagged is for --format labelstudio or cvat"))
    }
}
