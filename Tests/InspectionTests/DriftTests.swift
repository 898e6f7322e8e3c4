import Foundation
import Imaging
import Inspection
import Neural
import Testing

@Suite("Input drift: statistics and the watch")
struct DriftTests {
    @Test func statisticsOfKnownImages() {
        // a 4x4 gray image, left half black, right half white
        let px: [UInt8] = (0..<16).map { $0 % 4 < 2 ? 0 : 255 }
        let s = px.withUnsafeBufferPointer { InputStatistics.measure(bytes: $0, channels: 1, height: 4, width: 4) }
        #expect(abs(s.brightness - 0.5) < 1e-9 && abs(s.contrast - 0.5) < 1e-9)
        // 24 neighbour pairs, 4 of them across the edge (difference 1)
        #expect(abs(s.sharpness - 4.0 / 24) < 1e-9)
        // the normalized model input of the same pixels gives the same statistics
        let mean: [Float] = [0.4], std: [Float] = [0.2]
        let x = px.map { (Float($0) / 255 - mean[0]) / std[0] }
        let n = x.withUnsafeBufferPointer { InputStatistics.measure(normalized: $0, channels: 1, height: 4, width: 4, mean: mean, std: std) }
        #expect(abs(n.brightness - s.brightness) < 1e-6 && abs(n.contrast - s.contrast) < 1e-6 && abs(n.sharpness - s.sharpness) < 1e-6)
        // colour: luminance is the mean over channels
        let rgb: [UInt8] = Array(repeating: 255, count: 16) + Array(repeating: 0, count: 32)
        let c = rgb.withUnsafeBufferPointer { InputStatistics.measure(bytes: $0, channels: 3, height: 4, width: 4) }
        #expect(abs(c.brightness - 1.0 / 3) < 1e-6 && c.contrast < 1e-6 && c.sharpness < 1e-6)
    }

    static let reference = InputReference(statistics: ["brightness": .init(mean: 0.5, std: 0.05), "contrast": .init(mean: 0.2, std: 0.02),
                                                       "sharpness": .init(mean: 0.1, std: 0.01)],
                                          goodScores: [0.5, 0.3, 0.1, 0.05, 0.05, 0, 0, 0, 0, 0], images: 100, goodParts: 200)

    @Test func theAlarmRisesOnADimmedCameraSamplesOncePerWindowAndClears() {
        var settings = DriftSettings()
        settings.window = 100
        let watch = DriftMonitor(reference: Self.reference, settings: settings)
        func frame(_ b: Double, _ i: Int) -> (reading: DriftReading, sample: Bool) {
            // scores as the good parts': 50 % in the first tenth, 30 % in the second, ...
            let asTrained = Array(repeating: 0.05, count: 10) + Array(repeating: 0.15, count: 6) + [0.25, 0.25, 0.35, 0.45]
            return watch.observe(InputStatistics(brightness: b, contrast: 0.2, sharpness: 0.1), score: asTrained[(i * 7) % 20])
        }
        // as trained: brightness wobbles within a spread
        var samples = 0
        for i in 0..<200 {
            let r = frame(0.5 + (i % 2 == 0 ? 0.03 : -0.03), i)
            #expect(!r.reading.alarm && r.reading.score < 1, "frame \(i): \(r.reading.summary)")
            if r.sample { samples += 1 }
        }
        #expect(samples == 0)
        // the lamp dims to 0.3 (4 spreads): the window's mean crosses 2 spreads when half of it is dim
        var rose: Int?
        for i in 0..<160 {
            let r = frame(0.3, i)
            if r.reading.alarm, rose == nil { rose = i; #expect(r.sample, "the frame the alarm rises at is a sample") }
            if r.sample { samples += 1 }
        }
        #expect((45...55).contains(rose ?? -1), "rises once the window's mean moved two spreads: frame \(String(describing: rose))")
        #expect(samples == 2, "then one sample per window: \(samples)")
        let r = watch.reading!
        #expect(r.worst == "brightness" && r.summary.contains("brightness -4.0 spreads") && r.frames == 100, "\(r.summary)")
        // back to normal: it clears once the window's mean is back under 0.8 of the alarm level
        var cleared: Int?
        for i in 0..<100 where cleared == nil { if !frame(0.5, i).reading.alarm { cleared = i } }
        #expect((55...65).contains(cleared ?? -1), "clears with hysteresis: \(String(describing: cleared))")
    }

    @Test func scoresUnlikeTheGoodPartsRaiseItToo() {
        var settings = DriftSettings()
        settings.window = 100
        let watch = DriftMonitor(reference: Self.reference, settings: settings)
        var last: DriftReading?
        for _ in 0..<100 { last = watch.observe(InputStatistics(brightness: 0.5, contrast: 0.2, sharpness: 0.1), score: 0.75).reading }
        #expect(last!.alarm && last!.worst == "scores" && last!.psi > 0.25, "\(last!.summary)")
        // NaN statistics and scores do not poison the window
        let r = watch.observe(InputStatistics(brightness: .nan, contrast: .infinity, sharpness: 0.1), score: .nan).reading
        #expect(r.score.isFinite && r.frames == 100 && r.shifts.values.allSatisfy(\.isFinite))
    }

    @Test func defectivePartsOverTheFailThresholdAreNotDrift() {
        var settings = DriftSettings()
        settings.window = 200
        let asTrained = Array(repeating: 0.05, count: 10) + Array(repeating: 0.15, count: 6) + [0.25, 0.25, 0.35, 0.45]
        let stats = InputStatistics(brightness: 0.5, contrast: 0.2, sharpness: 0.1)
        // 8 % of the parts defective, scored 0.95: against good parts only, that bin alone is a shift
        let line = (0..<400).map { i in i % 25 < 2 ? 0.95 : asTrained[(i * 7) % 20] }
        let cut = DriftMonitor(reference: Self.reference, settings: settings, failThreshold: 0.7)
        let uncut = DriftMonitor(reference: Self.reference, settings: settings)
        var a: DriftReading?, b: DriftReading?
        for s in line { a = cut.observe(stats, score: s).reading; b = uncut.observe(stats, score: s).reading }
        #expect(!a!.alarm && a!.psi < 0.1, "fails left out: \(a!.summary)")
        #expect(b!.psi > a!.psi * 3, "counted, they would weigh: \(b!.summary)")
        // a reference of too few good parts does not judge scores at all
        var thin = Self.reference
        thin.goodParts = 12
        let few = DriftMonitor(reference: thin, settings: settings)
        var c: DriftReading?
        for _ in 0..<200 { c = few.observe(stats, score: 0.65).reading }
        #expect(c!.psi == 0 && !c!.alarm)
    }

    @Test func aModelFileRefusesABrokenReference() throws {
        var meta = ModelMetadata(spec: Zoo.lightNet(input: Shape(1, 8, 8), classes: 2, width: 2), classes: ["good", "defect"],
                                 normalization: .init(mean: [0.5], std: [0.25]), provenance: .init(created: "t"))
        meta.inputReference = Self.reference
        #expect(throws: Never.self) { try meta.validate() }
        meta.inputReference?.goodScores = [1, 1]
        #expect(throws: NeuralError.self) { try meta.validate() }
        meta.inputReference = InputReference(statistics: ["brightness": .init(mean: .nan, std: 1)], goodScores: Self.reference.goodScores, images: 1, goodParts: 200)
        #expect(throws: NeuralError.self) { try meta.validate() }
    }

    /// Embeddings of good parts: 8 dimensions, each about its own mean with a known spread.
    static func goodEmbedding(_ i: Int, spread: Float = 1, dims: Int = 8) -> [Float] {
        var state = UInt64(i &* 2654435761 &+ 17)
        return (0..<dims).map { k in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let u = Float(state >> 40) / Float(1 << 24)   // 0..<1
            return Float(k) + spread * (u - 0.5) * 3.46   // uniform with a spread of about `spread`
        }
    }

    @Test func embeddingsFartherFromTheGoodPartsRaiseItAndAFewDefectsDoNot() throws {
        let ref = try #require(EmbeddingReference.measure((0..<400).map { Self.goodEmbedding($0) }))
        #expect(ref.mean.count == 8 && ref.parts == 400 && abs(ref.mean[3] - 3) < 0.1 && abs(ref.std[5] - 1) < 0.1, "\(ref)")
        // a good part lies about one spread out
        #expect(abs(ref.distance.mean - 1) < 0.1 && abs(ref.medianDistance - 1) < 0.1 && ref.distance.std > 0.05, "\(ref.distance)")
        #expect(ref.distance([1, 2]) == nil && ref.distance(Array(repeating: .nan, count: 8)) == nil)
        var reference = Self.reference
        reference.embedding = ref
        var settings = DriftSettings()
        settings.window = 100
        let stats = InputStatistics(brightness: 0.5, contrast: 0.2, sharpness: 0.1)
        // scores as the good parts' (the PSI stays calm)
        let asTrained = Array(repeating: 0.05, count: 10) + Array(repeating: 0.15, count: 6) + [0.25, 0.25, 0.35, 0.45]
        func score(_ i: Int) -> Double { asTrained[(i * 7) % 20] }
        // new good parts, with 8 % defective ones far out (failed): no drift
        let calm = DriftMonitor(reference: reference, settings: settings, failThreshold: 0.7)
        var r: DriftReading?
        for i in 0..<200 {
            let defective = i % 25 < 2
            r = calm.observe(stats, score: defective ? 0.95 : score(i), embedding: Self.goodEmbedding(1000 + i, spread: defective ? 5 : 1)).reading
        }
        let calmShift = try #require(r?.shifts["embedding"])
        #expect(!r!.alarm && abs(calmShift) < 1, "\(r!.summary)")
        // parts unlike them (a new surface: three times the spread), with statistics and scores as trained
        let moved = DriftMonitor(reference: reference, settings: settings, failThreshold: 0.7)
        var rose: Int?
        for i in 0..<100 {
            r = moved.observe(stats, score: score(i), embedding: Self.goodEmbedding(2000 + i, spread: 3)).reading
            if r!.alarm, rose == nil { rose = i }
        }
        #expect((24...26).contains(rose ?? -1), "rises once a quarter of the window is seen: \(String(describing: rose))")
        #expect(r!.worst == "embedding" && r!.shifts["embedding"]! > 2 && r!.summary.contains("embedding +"), "\(r!.summary)")
        // the same when stage 1 fails them all (the scores' PSI then sees nothing)
        let failing = DriftMonitor(reference: reference, settings: settings, failThreshold: 0.7)
        for i in 0..<100 { r = failing.observe(stats, score: 0.9, embedding: Self.goodEmbedding(3000 + i, spread: 3)).reading }
        #expect(r!.alarm && r!.worst == "embedding" && r!.psi == 0, "\(r!.summary)")
        // frames without an embedding are not counted
        for i in 0..<100 { r = failing.observe(stats, score: score(i), embedding: nil).reading }
        #expect(r!.shifts["embedding"] == nil && !r!.alarm, "\(r!.summary)")
        // parts all alike (closer than the good parts' median) are not drift either
        let alike = DriftMonitor(reference: reference, settings: settings, failThreshold: 0.7)
        for i in 0..<100 { r = alike.observe(stats, score: score(i), embedding: Self.goodEmbedding(4000 + i, spread: 0.1)).reading }
        #expect(r!.shifts["embedding"]! < -2 && !r!.alarm, "\(r!.summary)")
    }

    @Test func aReferenceOfFewGoodPartsLeavesTheEmbeddingsUnwatchedAndItsOwnPartsCountOutOfSample() throws {
        // fewer than 30 good parts: no reference (new good parts would lie measurably farther out)
        #expect(EmbeddingReference.measure((0..<29).map { Self.goodEmbedding($0) }) == nil)
        // one broken row is left out, not the reference
        var rows = (0..<40).map { Self.goodEmbedding($0, spread: 1, dims: 64) }
        rows[3][5] = .nan
        let ref = try #require(EmbeddingReference.measure(rows))
        #expect(ref.parts == 39)
        // 39 parts of 64 dimensions: measured in sample their distances would sit well under a
        // new part's; out of sample, new good parts from the same line are no drift
        var settings = DriftSettings()
        settings.window = 200
        var reference = Self.reference
        reference.embedding = ref
        let watch = DriftMonitor(reference: reference, settings: settings, failThreshold: 0.7)
        let stats = InputStatistics(brightness: 0.5, contrast: 0.2, sharpness: 0.1)
        let asTrained = Array(repeating: 0.05, count: 10) + Array(repeating: 0.15, count: 6) + [0.25, 0.25, 0.35, 0.45]
        var r: DriftReading?
        for i in 0..<400 { r = watch.observe(stats, score: asTrained[(i * 7) % 20], embedding: Self.goodEmbedding(5000 + i, spread: 1, dims: 64)).reading }
        #expect(!r!.alarm && abs(r!.shifts["embedding"]!) < 1, "\(r!.summary)")
    }

    @Test func aModelFileRefusesABrokenEmbeddingReference() throws {
        var meta = ModelMetadata(spec: Zoo.lightNet(input: Shape(1, 8, 8), classes: 2, width: 2), classes: ["good", "defect"],
                                 normalization: .init(mean: [0.5], std: [0.25]), provenance: .init(created: "t"))
        meta.inputReference = Self.reference
        meta.inputReference?.embedding = EmbeddingReference.measure((0..<40).map { [Float($0), Float($0 % 7)] })
        #expect(meta.inputReference?.embedding != nil)
        #expect(throws: Never.self) { try meta.validate() }
        meta.inputReference?.embedding?.std = [1]
        #expect(throws: NeuralError.self) { try meta.validate() }
        meta.inputReference?.embedding = EmbeddingReference(mean: [0, .infinity], std: [1, 1], distance: .init(mean: 1, std: 1), medianDistance: 1, parts: 2)
        #expect(throws: NeuralError.self) { try meta.validate() }
        meta.inputReference?.embedding = EmbeddingReference(mean: [0, 1], std: [1, -1], distance: .init(mean: 1, std: 1), medianDistance: 1, parts: 2)
        #expect(throws: NeuralError.self) { try meta.validate() }
    }
}
