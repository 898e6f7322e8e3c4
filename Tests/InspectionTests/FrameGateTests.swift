import Capture
import Foundation
import Testing
@testable import Inspection

@Suite("Frame gate and focus")
struct FrameGateTests {
    /// A 64x48 gray frame: a checkerboard of `cell`-pixel squares, optionally box-blurred.
    static func board(_ sequence: UInt64, blur: Int = 0, at nanos: UInt64 = 1_000) -> Frame {
        let (w, h) = (64, 48)
        var p = (0..<(w * h)).map { i -> Double in ((i % w) / 4 + (i / w) / 4) % 2 == 0 ? 40 : 210 }
        for _ in 0..<blur {
            var q = p
            for y in 1..<(h - 1) { for x in 1..<(w - 1) {
                let i = y * w + x
                q[i] = (p[i] + p[i - 1] + p[i + 1] + p[i - w] + p[i + w]) / 5
            } }
            p = q
        }
        return Frame(sequence: sequence, monotonicNanos: nanos, format: .grey, width: w, height: h, bytes: p.map { UInt8($0.rounded()) })
    }

    @Test("the focus score falls as a frame blurs")
    func focusOrdersBlur() throws {
        let meter = try FocusMeter(roi: nil)
        let scores = try [0, 1, 3].map { try #require(meter.score(Self.board(1, blur: $0))) }
        #expect(scores[0] > scores[1] && scores[1] > scores[2], "\(scores)")
        #expect(meter.score(Frame(sequence: 9, format: .mjpeg, width: 64, height: 48, bytes: [1, 2, 3])) == nil, "an unreadable frame has no score")
    }

    @Test("a burst judged by its sharpest frame: held until the burst is complete, then that frame alone, with its part")
    func sharpestOfBurst() throws {
        let meter = try FocusMeter(roi: nil)
        let gate = FrameGate(focus: { meter.score($0) })
        gate.request(part: 7, after: 500, count: 3, sharpest: true)
        #expect(gate.admit(Self.board(1, at: 100)) == nil && gate.skippedFrames == 1, "captured before the trigger: skipped")
        #expect(gate.admit(Self.board(2, blur: 2)) == nil)
        #expect(gate.admit(Self.board(3, blur: 0)) == nil)
        let chosen = try #require(gate.admit(Self.board(4, blur: 1)))
        #expect(chosen.sequence == 3 && chosen.part == 7, "the sharpest of 2, 3 and 4")
        #expect(gate.admit(Self.board(5)) == nil && gate.skippedFrames == 2, "the part is served")

        gate.request(part: 8, after: 0, count: 2, sharpest: true)
        #expect(gate.admit(Self.board(6)) == nil)
        gate.cancel(part: 8)  // decided by its deadline
        #expect(gate.admit(Self.board(7)) == nil, "a cancelled burst judges nothing")

        let plain = FrameGate()
        plain.request(part: 9, after: 0, count: 2, sharpest: true)  // no focus meter: every frame
        #expect(plain.admit(Self.board(8))?.part == 9 && plain.admit(Self.board(9))?.part == 9 && plain.admit(Self.board(10)) == nil)
    }
}

@Suite("Presence gating")
struct PresenceTests {
    /// A synthetic conveyor: 4 frames of empty belt, then 5 of a part, over and over.
    static func belt(count: Int) throws -> [Frame] {
        var c = SyntheticConfig()
        (c.width, c.height) = (128, 96)
        c.belt = .init(partFrames: 5, gapFrames: 4)
        let source = try SyntheticSource(c, fps: 0, count: nil)
        var frames: [Frame] = []
        while frames.count < count { if case .frame(let f) = try source.read(timeout: 1) { frames.append(f) } }
        return frames
    }

    @Test("a part arrives once per pass, on its second frame in view; the empty belt never triggers")
    func onePerPart() throws {
        let frames = try Self.belt(count: 9 * 6)
        let detector = try PresenceDetector(roi: nil, settings: .init(threshold: 0.1, release: 0.05, frames: 2))
        var arrivals: [Int] = []
        for (i, f) in frames.enumerated() where detector.observe(f, now: Double(i) / 30) { arrivals.append(i) }
        #expect(arrivals == [5, 14, 23, 32, 41, 50], "the second part frame of each cycle of 9: \(arrivals)")
        #expect((detector.score ?? 0) > 0.1, "a part in view scores high")
    }

    @Test("a part resting in view becomes the background after stuckSeconds; when it leaves, the empty belt is taken back without a ghost part")
    func stuckSceneIsRelearned() throws {
        let frames = try Self.belt(count: 18)
        let part = frames[5], other = frames[14], empty = frames[0]
        let detector = try PresenceDetector(roi: nil, settings: .init(threshold: 0.1, release: 0.05, frames: 1, stuckSeconds: 2))
        _ = detector.observe(empty, now: 0)
        #expect(detector.observe(part, now: 1))
        #expect(!detector.observe(part, now: 2) && !detector.observe(part, now: 3.5) && detector.relearned == 1, "stuck for 2.5 s: relearned")
        #expect(!detector.observe(part, now: 4) && (detector.score ?? 1) < 0.01, "the resting part is the background now")
        #expect(!detector.observe(empty, now: 5) && (detector.score ?? 1) < 0.05, "it left: the empty belt is back, no ghost part")
        #expect(detector.observe(other, now: 6), "and the next part is seen against it")
    }
}
