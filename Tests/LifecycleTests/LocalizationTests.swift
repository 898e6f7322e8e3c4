import Foundation
import Imaging
@testable import Inspection
@testable import Lifecycle
import Neural
import TestSupport
import Testing
import Training

@Suite("evaluate --models: where the class maps point, against the labels' boxes")
struct LocalizationTests {
    @Test("a hit when the strongest cell touches a labelled box, a miss elsewhere; a map with no cell toward the kind is blank")
    func hitsAndMisses() throws {
        let dir = NSTemporaryDirectory() + "linesight-localize-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for sub in ["models", "data/good", "data/scratch"] {
            try FileManager.default.createDirectory(atPath: dir + "/" + sub, withIntermediateDirectories: true)
        }
        try brightnessModel(dir + "/models/stage1.safetensors", input: Shape(1, 32, 32))
        try stage2(dir + "/models/stage2.safetensors", [("scratch", 0.9), ("stain", 0.1)])   // zero weights: no map
        let encoder = try JPEGEncoder()
        var csv = "file,label,defects,subtle,boxes\n"
        // a bright 4x4 spot at (x, y); the label's box where the spot is, or (for the last two) across the image
        let spots = [(2, 3), (20, 5), (9, 24), (26, 26), (14, 14), (5, 17), (24, 12), (3, 27)]
        for (i, (x, y)) in spots.enumerated() {
            var image = Image(width: 32, height: 32, layout: .gray, pixels: [UInt8](repeating: 60, count: 32 * 32))
            for yy in y..<(y + 4) { for xx in x..<(x + 4) { image.pixels[yy * 32 + xx] = 230 } }
            let file = "scratch/\(i).jpg"
            try Data(try encoder.encode(image, quality: 95)).write(to: URL(fileURLWithPath: dir + "/data/" + file))
            let box = i < 6 ? "\(x) \(y) 4 4" : "\((x + 14) % 26) \((y + 14) % 26) 4 4"
            csv += "\(file),scratch,scratch,0,\(i == 0 ? box + "+0 0 2 2" : box)\n"
        }
        for i in 0..<3 {
            let image = Image(width: 32, height: 32, layout: .gray, pixels: [UInt8](repeating: 60, count: 32 * 32))
            try Data(try encoder.encode(image, quality: 95)).write(to: URL(fileURLWithPath: dir + "/data/good/g\(i).jpg"))
            csv += "good/g\(i).jpg,good,,,\n"
        }
        try csv.write(toFile: dir + "/data/labels.csv", atomically: true, encoding: .utf8)

        let e = try StagedEvaluation.run(models: dir + "/models", data: dir + "/data")
        let loc = try #require(e.localization)
        #expect(loc.detected == 8 && loc.cells == [32, 32])
        #expect(loc.stage1.checked == 8 && loc.stage1.hits == 6 && loc.stage1.blank == 0, "\(loc.stage1)")
        #expect(abs(loc.stage1.share - 0.75) < 1e-9)
        #expect(loc.perKind["scratch"]?.checked == 8 && loc.perKind["scratch"]?.hits == 0 && loc.perKind["scratch"]?.blank == 8)
        #expect(loc.perKind["stain"] == nil, "no image of that kind")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(e.json().utf8)) as? [String: Any])
        #expect((json["localization"] as? [String: Any])?["detected"] as? Int == 8)

        // the same folder without boxes: no localization figures
        try csv.replacingOccurrences(of: ",boxes\n", with: "\n").split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).prefix(4).joined(separator: ",") }
            .joined(separator: "\n").write(toFile: dir + "/data/labels.csv", atomically: true, encoding: .utf8)
        #expect(try StagedEvaluation.run(models: dir + "/models", data: dir + "/data").localization == nil)
        // a malformed box is refused with its line
        try "file,label,defects,subtle,boxes\nscratch/0.jpg,scratch,scratch,0,1 2 3\n".write(toFile: dir + "/data/labels.csv", atomically: true, encoding: .utf8)
        #expect(throws: TrainingError.dataset(path: dir + "/data/labels.csv", reason: "line 2: a box is 'x y width height' in whole pixels, got '1 2 3'")) {
            try StagedEvaluation.run(models: dir + "/models", data: dir + "/data")
        }
        try "file,label,defects,subtle,boxes\nscratch/0.jpg,scratch,scratch,0,1 2 x 3 4\n".write(toFile: dir + "/data/labels.csv", atomically: true, encoding: .utf8)
        #expect(throws: TrainingError.dataset(path: dir + "/data/labels.csv", reason: "line 2: a box is 'x y width height' in whole pixels, got '1 2 x 3 4'")) {
            try StagedEvaluation.run(models: dir + "/models", data: dir + "/data")
        }
    }
}

@Suite("Defect location: peak and box from a class map")
struct DefectLocationTests {
    @Test("the box spans the cells at half the peak or more that connect to it, in frame pixels; an all-zero map has no peak")
    func boxAroundPeak() {
        // 4x3 cells over a 40x30 region at (100, 50): cells of 10x10 pixels
        let values: [Float] = [0, 0.6, 1.0, 0,
                               0, 0.2, 0.5, 0,
                               0.9, 0, 0, 0]
        let loc = DefectLocation(what: "defect", map: ClassMap(width: 4, height: 3, values: values), region: Rect(x: 100, y: 50, width: 40, height: 30))
        #expect(loc.peak! == (125, 55))
        #expect(loc.peakArea == Rect(x: 120, y: 50, width: 10, height: 10))
        // cells (1,0), (2,0), (2,1) connect to the peak; (0,2) at 0.9 does not
        #expect(loc.box == Rect(x: 110, y: 50, width: 20, height: 20))
        let blank = DefectLocation(what: "defect", map: ClassMap(width: 2, height: 2, values: [0, 0, 0, 0]), region: Rect(x: 0, y: 0, width: 8, height: 8))
        #expect(blank.peak == nil && blank.box == nil && blank.peakArea == nil)
    }
}
