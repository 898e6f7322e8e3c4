import Foundation
import Imaging
import LinesightCore
import Testing
@testable import Capture

@Suite("Replay and synthetic sources")
struct SourceTests {
    func smallConfig(_ edit: (inout SyntheticConfig) -> Void = { _ in }) -> SyntheticConfig {
        var c = SyntheticConfig()
        c.width = 96
        c.height = 72
        edit(&c)
        return c
    }

    @Test func replayFolderPlaysInOrderSkipsCorruptFilesAndLoops() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let encoder = try JPEGEncoder()
        for i in 0..<3 {
            let image = Image(width: 16 + i, height: 8, layout: .gray, pixels: [UInt8](repeating: UInt8(i * 50), count: (16 + i) * 8))
            try Data(try encoder.encode(image)).write(to: URL(fileURLWithPath: "\(dir)/frame-\(i).jpg"))
        }
        try Data("not a jpeg".utf8).write(to: URL(fileURLWithPath: "\(dir)/frame-1b.jpg"))
        try Data("ignored".utf8).write(to: URL(fileURLWithPath: "\(dir)/notes.txt"))
        let source = try ReplaySource(ReplayConfig(path: dir, fps: 0, loop: true))
        #expect(source.frameCount == 4)
        let frames = try collect(source, count: 6)
        #expect(frames.map(\.width) == [16, 17, 18, 16, 17, 18])
        #expect(frames.allSatisfy { $0.format == .mjpeg && $0.height == 8 })
        #expect(zip(frames, frames.dropFirst()).allSatisfy { $0.sequence < $1.sequence })
        #expect(source.counters.corrupt == 2 && source.counters.frames == 6)
    }

    @Test func replayOfAnMJPEGStreamFileEndsWhenNotLooping() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let a = try sampleJPEG(width: 20, height: 10), b = try sampleJPEG(width: 30, height: 10)
        let path = dir + "/line.mjpeg"
        try Data(a + b + a).write(to: URL(fileURLWithPath: path))
        #expect(splitMJPEG(a + b).count == 2)
        let source = try ReplaySource(ReplayConfig(path: path, fps: 0, loop: false))
        let frames = try collect(source, count: 5, seconds: 2)
        #expect(frames.map(\.width) == [20, 30, 20])
        #expect(frames[1].bytes == b)
        guard case .ended = try source.read(timeout: 0.1) else { Issue.record("a once-through replay ends"); return }
        #expect(source.state == .ended)
    }

    @Test func replayRefusesMissingOrEmptyPaths() throws {
        #expect(throws: CaptureError.self) { try ReplaySource(ReplayConfig(path: "/nonexistent/frames")) }
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(throws: CaptureError.noFrames(dir)) { try ReplaySource(ReplayConfig(path: dir)) }
    }

    @Test func generatorIsDeterministicBySeedAndIndex() throws {
        let g = try SyntheticGenerator(smallConfig { $0.defectRate = 0.5 })
        let again = try SyntheticGenerator(smallConfig { $0.defectRate = 0.5 })
        for i in [0, 7, 123] {
            #expect(g.sample(i).image == again.sample(i).image)
            #expect(g.sample(i).defects == again.sample(i).defects)
        }
        #expect(g.sample(1).image != g.sample(2).image)
        let other = try SyntheticGenerator(smallConfig { $0.defectRate = 0.5; $0.seed = 2 })
        #expect(other.sample(1).image != g.sample(1).image)
    }

    @Test func defectRatesFollowTheConfigAndEveryKindAppears() throws {
        let g = try SyntheticGenerator(smallConfig { $0.width = 32; $0.height = 32; $0.defectRate = 0.3 })
        let samples = (0..<600).map { g.sample($0) }
        let bad = samples.filter { !$0.isGood }.count
        #expect(abs(Double(bad) / 600 - 0.3) < 0.06, "\(bad) of 600 defective")
        #expect(Set(samples.flatMap(\.kinds)) == Set(DefectKind.allCases))
        #expect(Set(samples.map(\.texture)) == Set(SurfaceTexture.allCases))
        #expect(samples.contains { $0.defects.count == 2 })
        #expect(samples.flatMap(\.defects).contains { $0.subtle } && samples.flatMap(\.defects).contains { !$0.subtle })
    }

    @Test func kindWeightsMakeSomeDefectsRare() throws {
        let g = try SyntheticGenerator(smallConfig {
            $0.width = 32; $0.height = 32; $0.defectRate = 1; $0.multiDefectRate = 0
            $0.kinds = [.scratch, .pit, .dent]; $0.kindWeights = [6, 3, 1]
        })
        let kinds = (0..<2000).flatMap { g.sample($0).kinds }
        let share = { (k: DefectKind) in Double(kinds.filter { $0 == k }.count) / Double(kinds.count) }
        #expect(abs(share(.scratch) - 0.6) < 0.04 && abs(share(.pit) - 0.3) < 0.04 && abs(share(.dent) - 0.1) < 0.03,
                "\(share(.scratch)) \(share(.pit)) \(share(.dent))")
        #expect(throws: CaptureError.self) { try SyntheticGenerator(smallConfig { $0.kinds = [.scratch, .pit]; $0.kindWeights = [1] }) }
        #expect(throws: CaptureError.self) { try SyntheticGenerator(smallConfig { $0.kinds = [.scratch]; $0.kindWeights = [0] }) }
    }

    /// The same part with and without a defect differs only inside the truth box.
    @Test(arguments: DefectKind.allCases)
    func groundTruthBoxesCoverWhatWasDrawn(kind: DefectKind) throws {
        let g = try SyntheticGenerator(smallConfig { $0.width = 160; $0.height = 120; $0.layout = .rgb })
        for index in 0..<6 {
            let clean = g.render(index, kinds: [])
            let bad = g.render(index, kinds: [kind])
            let box = try #require(bad.defects.first?.box)
            #expect(box.fits(width: 160, height: 120))
            var inside = 0, outside = 0
            for y in 0..<120 {
                for x in 0..<160 {
                    var d = 0
                    for c in 0..<3 { d += abs(Int(bad.image[x, y, c]) - Int(clean.image[x, y, c])) }
                    let inBox = x >= box.x - 2 && x < box.x + box.width + 2 && y >= box.y - 2 && y < box.y + box.height + 2
                    if inBox { inside += d } else { outside += d }
                }
            }
            #expect(inside > 200, "\(kind) #\(index) changed almost nothing (\(inside))")
            #expect(Double(outside) <= 0.1 * Double(inside), "\(kind) #\(index): \(outside) of the change is outside \(box)")
        }
    }

    /// A subtle defect is faint, never invisible: a stain or scratch whose colour matched the
    /// plate under it (a pale stain on a pale plate, in gray) used to be labeled but not seen.
    @Test(arguments: [DefectKind.stain, .scratch])
    func everyDefectStandsOutFromThePlate(kind: DefectKind) throws {
        for subtle in [0.0, 1.0] {
            let g = try SyntheticGenerator(smallConfig { $0.width = 256; $0.height = 192; $0.subtleRate = subtle })
            for index in 0..<30 {
                let clean = g.render(index, kinds: []), bad = g.render(index, kinds: [kind])
                let box = try #require(bad.defects.first?.box)
                var peak = 0
                for y in box.y..<(box.y + box.height) {
                    for x in box.x..<(box.x + box.width) { peak = max(peak, abs(Int(bad.image[x, y, 0]) - Int(clean.image[x, y, 0]))) }
                }
                #expect(peak >= (subtle == 1 ? 6 : 20), "\(kind) #\(index) (subtle \(subtle == 1)) differs from the plate by \(peak) gray levels at most")
            }
        }
    }

    @Test func syntheticCameraSendsMJPEGOrRawWithTruthAtItsRate() throws {
        let cam = try SyntheticSource(smallConfig { $0.defectRate = 1 }, fps: 0, count: 3)
        let frames = try collect(cam, count: 5, seconds: 2)
        #expect(frames.count == 3 && cam.state == .ended)
        let decoder = try JPEGDecoder()
        for f in frames {
            #expect(f.format == .mjpeg && !(f.truth ?? []).isEmpty)
            #expect(try decoder.decode(f.bytes, layout: .gray).width == 96)
        }
        let raw = try SyntheticSource(smallConfig(), fps: 0, format: .grey, count: 1)
        let r = try collect(raw, count: 1)
        #expect(r.first?.bytes.count == 96 * 72 && r.first?.format == .grey)
        #expect(throws: CaptureError.self) { try SyntheticSource(smallConfig(), format: .yuyv) }
        #expect(throws: CaptureError.self) { try SyntheticGenerator(smallConfig { $0.defectRate = 1.5 }) }

        let paced = try SyntheticSource(smallConfig(), fps: 50)
        let start = monotonicNow()
        _ = try collect(paced, count: 6)
        #expect(monotonicNow() - start >= 80_000_000, "6 frames at 50 fps take at least 100 ms")
    }
}
