import Foundation
import Imaging
import Store
import TestSupport
import Testing
@testable import Inspection

@Suite("Label export")
struct LabelExportTests {
    /// A training set keeps one framing: frames judged with another ROI than the camera's
    /// current one are left out and counted, never silently mixed in.
    @Test func aTrainingSetNeverMixesFramings() throws {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var image = Image(width: 40, height: 30, layout: .rgb)
        for i in 0..<image.pixels.count { image.pixels[i] = UInt8(i % 251) }
        try Data(try JPEGEncoder().encode(image, quality: 95)).write(to: URL(fileURLWithPath: dir + "/f.jpg"))
        func label(_ id: Int64, _ camera: String, _ roi: FrameRegion?, _ defects: [String]) -> FrameLabel {
            FrameLabel(labelId: id, frameId: id, defects: defects, who: "t", labeledAt: 0, source: "review", path: "f.jpg", camera: camera, roi: roi)
        }
        let now = FrameRegion(x: 4, y: 2, width: 20, height: 16), before = FrameRegion(x: 0, y: 0, width: 40, height: 30)
        let labels = [label(1, "top", now, ["scratch"]), label(2, "top", before, []), label(3, "top", nil, []), label(4, "side", nil, ["dent"])]
        let current: [String: Rect?] = ["top": Rect(x: 4, y: 2, width: 20, height: 16), "side": nil]
        let r = try LabelExport.writeImageFolder(labels, frames: dir, to: dir + "/out", framing: .current(current))
        #expect(r.defective == 2 && r.good == 0 && r.skippedFraming == 2 && r.framings.count == 2)
        let cut = try JPEGDecoder().decode([UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/out/scratch/1.jpg"))), layout: .rgb)
        #expect(cut.width == 20 && cut.height == 16)
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/out/dent/4.jpg")) == Data(contentsOf: URL(fileURLWithPath: dir + "/f.jpg")),
                "a frame without an ROI is copied byte-exact")
        let all = try LabelExport.writeImageFolder(labels, frames: dir, to: dir + "/all", framing: .asJudged)
        #expect(all.skippedFraming == 0 && all.defective + all.good == 4 && all.framings.count == 4)
        var hostile = labels[0]
        hostile.defects = ["../../escape"]
        #expect(throws: StoreError.self) { try LabelExport.writeImageFolder([hostile], frames: dir, to: dir + "/bad") }
        #expect(!FileManager.default.fileExists(atPath: dir + "/escape"))
    }
}
