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

    /// Training reads the colour from the files it is given: a gray camera's crops stay gray
    /// (one input channel, not three equal ones), a colour camera's stay colour.
    @Test func cropsKeepTheFramesColour() throws {
        let dir = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var gray = Image(width: 40, height: 30, layout: .gray), rgb = Image(width: 40, height: 30, layout: .rgb)
        for i in 0..<gray.pixels.count { gray.pixels[i] = UInt8((i % 40) * 5 + (i / 40) * 2) }  // a smooth ramp: JPEG keeps it
        for i in 0..<rgb.pixels.count { rgb.pixels[i] = UInt8(i % 241) }
        try Data(try JPEGEncoder().encode(gray, quality: 95)).write(to: URL(fileURLWithPath: dir + "/g.jpg"))
        try Data(try JPEGEncoder().encode(rgb, quality: 95)).write(to: URL(fileURLWithPath: dir + "/c.jpg"))
        let roi = FrameRegion(x: 4, y: 2, width: 20, height: 16)
        let labels = [FrameLabel(labelId: 1, frameId: 1, defects: [], who: "t", labeledAt: 0, source: "review", path: "g.jpg", camera: "a", roi: roi),
                      FrameLabel(labelId: 2, frameId: 2, defects: [], who: "t", labeledAt: 0, source: "review", path: "c.jpg", camera: "a", roi: roi)]
        _ = try LabelExport.writeImageFolder(labels, frames: dir, to: dir + "/out")
        let decoder = try JPEGDecoder()
        func header(_ file: String) throws -> JPEGHeader { try Data(contentsOf: URL(fileURLWithPath: dir + "/out/good/" + file)).withUnsafeBytes { try decoder.header($0) } }
        let g = try header("1.jpg"), c = try header("2.jpg")
        #expect(g.isGray && g.width == 20 && g.height == 16)
        #expect(!c.isGray && c.width == 20 && c.height == 16)
        let cut = try decoder.decode([UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/out/good/1.jpg"))), layout: .gray)
        #expect(abs(Int(cut.pixels[0]) - Int(gray.pixels[2 * 40 + 4])) <= 3, "the ROI's corner, not the frame's")
    }
}
